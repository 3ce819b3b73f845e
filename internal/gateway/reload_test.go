//go:build node

package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestReloadStore: settings changed in the dashboard reach the next
// invoice without a restart.
func TestReloadStore(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	ctx := context.Background()
	first := h.create("10")
	st, err := h.db.GetStore(ctx, h.storeID)
	if err != nil {
		t.Fatal(err)
	}
	st.Expiry = 42 * time.Minute
	st.Speed = invoice.SpeedHigh
	if err := h.db.UpdateStoreSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got := h.create("10"); got.ExpiresAt.Sub(got.CreatedAt) != first.ExpiresAt.Sub(first.CreatedAt) {
		t.Fatalf("before ReloadStore the cached settings still apply: window %v", got.ExpiresAt.Sub(got.CreatedAt))
	}
	if err := h.g.ReloadStore(ctx, h.storeID); err != nil {
		t.Fatal(err)
	}
	got := h.create("10")
	if w := got.ExpiresAt.Sub(got.CreatedAt); w != 42*time.Minute || got.Speed != invoice.SpeedHigh {
		t.Fatalf("after ReloadStore: window %v speed %s, want 42m0s high", w, got.Speed)
	}
	if got.Method(invoice.MethodBTC).Destination == first.Method(invoice.MethodBTC).Destination {
		t.Fatal("a reload must not hand out a used address again")
	}
}
