package cli

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// A node applies a store's own limits, else the server's default, and
// sees a change made elsewhere (the CLI, another node) within limitsTTL.
func TestStoreLimitsFollowTheStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := demoMerchantKey()
	st := merchant.Store{ID: "s1", Name: "Shop", Network: "regtest", Key: key, Speed: "medium", Expiry: merchant.DefaultExpiry,
		GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now()}
	if err := checkStore(&st); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	def := merchant.Limits{PerHour: 7}
	l := newStoreLimits(db, def, slog.Default())
	now := time.Now()
	l.now = func() time.Time { return now }
	if got := l.For("s1"); got != def {
		t.Fatalf("no limits of its own: %+v", got)
	}
	own := merchant.Limits{PerSecond: 3}
	st.InvoiceLimits = &own
	if err := db.UpdateStoreSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got := l.For("s1"); got != def {
		t.Fatalf("re-read before limitsTTL: %+v", got)
	}
	now = now.Add(limitsTTL)
	if got := l.For("s1"); got != own {
		t.Fatalf("after limitsTTL: %+v, want %+v", got, own)
	}
	// An unknown store gets the default.
	if got := l.For("nope"); got != def {
		t.Fatalf("unknown store: %+v", got)
	}
}
