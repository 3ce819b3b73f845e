package kassatest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
)

func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }

// TestFixture: the fixture's world works end to end on this run's
// database: a store, a token, an invoice priced at the fixed rate with an
// address of the store's key, and a clock that moves only when told.
func TestFixture(t *testing.T) {
	db := kassatest.DB(t)
	if db.Dialect() != kassatest.Current().Name {
		t.Fatalf("dialect %s, want %s", db.Dialect(), kassatest.Current().Name)
	}
	st := kassatest.Store(t, db, func(s *merchant.Store) { s.DefaultCurrency = "EUR" })
	if a1, a2 := kassatest.Key(t, "a"), kassatest.Key(t, "a"); a1 != a2 || a1 == kassatest.Key(t, "b") {
		t.Fatal("keys are not a function of their names")
	}
	tok := kassatest.Token(t, db, st.ID, auth.FacadePOS)
	if got, err := db.GetToken(context.Background(), tok.Value); err != nil || !got.Usable() {
		t.Fatalf("token: %+v, %v", got, err)
	}
	clock := kassatest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	g := kassatest.Gateway(t, db, clock)
	inv, err := g.CreateInvoice(context.Background(), st.ID, gateway.NewInvoice{Price: "45"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Currency != "EUR" || inv.Due() != 100_000 || inv.Bound().Destination == "" || !inv.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("invoice: %s due %d at %q created %v", inv.Currency, inv.Due(), inv.Bound().Destination, inv.CreatedAt)
	}
	clock.Add(time.Minute)
	if !clock.Now().Equal(inv.CreatedAt.Add(time.Minute)) {
		t.Fatal("the clock did not move")
	}
}
