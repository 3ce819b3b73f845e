package sample

import (
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

var epoch = time.UnixMilli(1_790_000_000_000).UTC()

// TestInvoice checks the generator's mix: every status, and a consistent
// invoice for each.
func TestInvoice(t *testing.T) {
	seen := map[invoice.Status]int{}
	for i := range 10_000 {
		var inv invoice.Invoice
		Invoice("store", epoch, time.Second, i, &inv)
		seen[inv.Status]++
		paid := inv.Status == invoice.StatusPaid || inv.Status == invoice.StatusConfirmed || inv.Status == invoice.StatusComplete
		if paid && inv.Paid() != inv.Due() || inv.Due() <= 0 || inv.Price.Sign() <= 0 ||
			!inv.CreatedAt.Equal(epoch.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("invoice %d inconsistent: %+v", i, inv)
		}
	}
	for _, st := range []invoice.Status{invoice.StatusNew, invoice.StatusPaid, invoice.StatusConfirmed,
		invoice.StatusComplete, invoice.StatusExpired, invoice.StatusInvalid, invoice.StatusDeclined} {
		if seen[st] == 0 {
			t.Errorf("no %s invoice in the mix %v", st, seen)
		}
	}
	if seen[invoice.StatusExpired] < 5000 {
		t.Errorf("status mix %v: want most expired", seen)
	}
}
