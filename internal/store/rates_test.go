package store

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
)

func TestRateQuotes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := context.Background()
		if m, at, err := db.RateQuotes(ctx, "kraken"); err != nil || len(m) != 0 || !at.IsZero() {
			t.Fatalf("nothing stored: %v %v %v", m, at, err)
		}
		first := map[string]decimal.Decimal{"USD": decimal.RequireFromString("65432.1"), "EUR": decimal.RequireFromString("60000.123456789")}
		if err := db.SaveRateQuotes(ctx, "kraken", first, testEpoch); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveRateQuotes(ctx, "coinbase", map[string]decimal.Decimal{"USD": decimal.RequireFromString("1")}, testEpoch); err != nil {
			t.Fatal(err)
		}
		// A new answer replaces the old one whole: EUR is gone.
		later := testEpoch.Add(60e9)
		if err := db.SaveRateQuotes(ctx, "kraken", map[string]decimal.Decimal{"USD": decimal.RequireFromString("70000")}, later); err != nil {
			t.Fatal(err)
		}
		m, at, err := db.RateQuotes(ctx, "kraken")
		if err != nil || len(m) != 1 || !m["USD"].Equal(decimal.RequireFromString("70000")) || !at.Equal(later) {
			t.Fatalf("kraken after the second answer: %v %v %v", m, at, err)
		}
		if m, _, _ := db.RateQuotes(ctx, "coinbase"); len(m) != 1 || !m["USD"].Equal(decimal.NewFromInt(1)) {
			t.Fatalf("another source is untouched: %v", m)
		}
	})
}
