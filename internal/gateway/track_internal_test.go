package gateway

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestStaleReadKeepsNewerState: a poll that read an invoice before a chain
// batch changed it does not put the older state back over the newer one
// the batch recorded (it would stop the invoice being re-evaluated as
// blocks come, until its next deadline: seen as an over-paid invoice
// stuck at confirmed after six blocks).
func TestStaleReadKeepsNewerState(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := NewProcessor(New(Config{Store: db, Network: "regtest"}), ProcessorConfig{Store: db})
	now := time.Now()
	newer := invoice.Invoice{ID: "i", Status: invoice.StatusConfirmed, Version: 3, UpdatedAt: now,
		ExpiresAt: now.Add(time.Minute), Payments: []invoice.Payment{{Method: invoice.MethodBTC, TxID: "a", Amount: 1, Height: 5}}}
	p.committed([]store.Change{{Invoice: &newer}})
	stale := invoice.Invoice{ID: "i", Status: invoice.StatusNew, Version: 1, UpdatedAt: now, ExpiresAt: now.Add(time.Minute)}
	p.watch(&stale, false)
	if got := p.tracked["i"]; got.version != 3 || !got.confirming || got.status != invoice.StatusConfirmed {
		t.Fatalf("a stale read replaced the newer state: %+v", got)
	}
	// A newer read replaces it.
	done := newer
	done.Status, done.Version = invoice.StatusComplete, 4
	p.watch(&done, false)
	if got := p.tracked["i"]; got.version != 4 || got.status != invoice.StatusComplete {
		t.Fatalf("a newer read did not replace it: %+v", got)
	}
}
