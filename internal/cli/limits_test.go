package cli

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
)

// A node applies a store's own limits, else the server's default, and
// sees a change made elsewhere (the CLI, another node) within the settings
// cache's time to live.
func TestStoreLimitsFollowTheStore(t *testing.T) {
	vars := newVars(t, "")
	id := createStore(t, vars, "medium")
	db := openTestDB(t, vars)
	st, err := db.GetStore(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	def := merchant.Limits{PerHour: 7}
	const ttl = time.Hour // no wall clock reaches it during the test
	settings := merchant.NewSettings(db.GetStore, ttl)
	l := newStoreLimits(settings, def, slog.Default())
	if got := l.For(id); got != def {
		t.Fatalf("no limits of its own: %+v", got)
	}
	own := merchant.Limits{PerSecond: 3}
	st.InvoiceLimits = &own
	if err := db.UpdateStoreSettings(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if got := l.For(id); got != def {
		t.Fatalf("re-read before the settings' time to live: %+v", got)
	}
	settings.Forget(id) // as the time to live running out does
	if got := l.For(id); got != own {
		t.Fatalf("after the settings were read again: %+v, want %+v", got, own)
	}
	// An unknown store gets the default.
	if got := l.For("nope"); got != def {
		t.Fatalf("unknown store: %+v", got)
	}
}
