package invoice

import (
	"errors"
	"testing"
)

// TestRefundEvents: a paid refund is announced (1016) without moving the
// invoice; a refund in full declines a confirmed or invalid invoice once.
func TestRefundEvents(t *testing.T) {
	env := Env{Now: t0.Add(2 * minute), Tip: baseTip + 1}
	paidAt := func(s Status) Invoice {
		inv := newTestInvoice(SpeedMedium)
		inv.Payments = []Payment{{Method: MethodBTC, TxID: "a", Amount: due, Height: baseTip, SeenAt: t0}}
		inv.Status, inv.PaidAt = s, t0
		return inv
	}
	for _, c := range []struct {
		name string
		inv  Invoice
		ev   Event
		to   Status
		code Code
		err  error
	}{
		{"refund complete on a complete invoice", paidAt(StatusComplete), RefundComplete{}, StatusComplete, CodeRefundComplete, nil},
		{"refund complete on a declined invoice", paidAt(StatusDeclined), RefundComplete{}, StatusDeclined, CodeRefundComplete, nil},
		{"refund complete on an unpaid invoice", newTestInvoice(SpeedMedium), RefundComplete{}, StatusNew, 0, ErrIllegalTransition},
		{"decline a confirmed invoice", paidAt(StatusConfirmed), Decline{}, StatusDeclined, CodeDeclined, nil},
		{"decline an invalid invoice", paidAt(StatusInvalid), Decline{}, StatusDeclined, CodeDeclined, nil},
		{"decline twice", paidAt(StatusDeclined), Decline{}, StatusDeclined, 0, nil},
		{"decline a complete invoice", paidAt(StatusComplete), Decline{}, StatusComplete, 0, ErrIllegalTransition},
		{"decline a new invoice", newTestInvoice(SpeedMedium), Decline{}, StatusNew, 0, ErrIllegalTransition},
	} {
		next, out, err := Apply(c.inv, c.ev, env)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			continue
		}
		if next.Status != c.to {
			t.Errorf("%s: status %s, want %s", c.name, next.Status, c.to)
		}
		switch {
		case c.code == 0 && len(out) != 0:
			t.Errorf("%s: emitted %v", c.name, codes(out))
		case c.code != 0 && (len(out) != 1 || out[0].Code != c.code || out[0].Status != c.to):
			t.Errorf("%s: emitted %+v, want %d", c.name, out, c.code)
		}
	}
	if CodeRefundComplete.Name() != "invoice_refundComplete" || CodeRefundComplete != 1016 {
		t.Error("1016 is invoice_refundComplete")
	}
}
