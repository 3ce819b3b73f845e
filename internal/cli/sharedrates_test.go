package cli

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/rates"
)

// countingProvider is a rate source that counts its calls.
type countingProvider struct {
	calls atomic.Int32
	rate  decimal.Decimal
}

func (c *countingProvider) Name() string { return "counting" }
func (c *countingProvider) Fetch(context.Context) (map[string]decimal.Decimal, error) {
	c.calls.Add(1)
	return map[string]decimal.Decimal{"USD": c.rate}, nil
}

// TestSharedRates: the leader calls the source and stores its answer;
// a follower prices from the stored answer without calling the source, and
// calls it itself only when the stored answer is missing or too old.
func TestSharedRates(t *testing.T) {
	ctx := context.Background()
	db := kassatest.DBOn(t, kassatest.SQLite)
	src := &countingProvider{rate: decimal.RequireFromString("65000.5")}
	now := time.Now()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var leaderUp atomic.Bool
	shared := func(leading func() bool) rates.Provider {
		p := shareProviders([]rates.Provider{src}, db, leading, log)[0]
		p.(*sharedProvider).now = func() time.Time { return now }
		return p
	}
	leaderP := shared(func() bool { return true })
	followerP := shared(leaderUp.Load)

	// Cold start: nothing stored, the follower asks the source itself.
	if m, err := followerP.Fetch(ctx); err != nil || !m["USD"].Equal(src.rate) || src.calls.Load() != 1 {
		t.Fatalf("cold follower: %v %v, %d calls", m, err, src.calls.Load())
	}
	if m, _, _ := db.RateQuotes(ctx, "counting"); len(m) != 0 {
		t.Fatal("a follower must not store rates")
	}
	// The leader fetches and stores; the follower then reads the store.
	if _, err := leaderP.Fetch(ctx); err != nil || src.calls.Load() != 2 {
		t.Fatalf("leader: %v, %d calls", err, src.calls.Load())
	}
	src.rate = decimal.RequireFromString("1")
	for range 3 {
		if m, err := followerP.Fetch(ctx); err != nil || !m["USD"].Equal(decimal.RequireFromString("65000.5")) {
			t.Fatalf("follower: %v %v", m, err)
		}
	}
	if src.calls.Load() != 2 {
		t.Fatalf("the follower called the source: %d calls", src.calls.Load())
	}
	// Too old: the follower asks the source again.
	now = now.Add(3 * rates.DefaultRefreshInterval)
	if m, err := followerP.Fetch(ctx); err != nil || !m["USD"].Equal(decimal.NewFromInt(1)) || src.calls.Load() != 3 {
		t.Fatalf("stale store: %v %v, %d calls", m, err, src.calls.Load())
	}
	// Fixed rates are local: never wrapped.
	fixed, err := rates.ParseFixed("BTC_USD=50000")
	if err != nil {
		t.Fatal(err)
	}
	if p := shareProviders([]rates.Provider{fixed}, db, leaderUp.Load, log)[0]; p != rates.Provider(fixed) {
		t.Fatal("fixed rates must not be shared")
	}
}
