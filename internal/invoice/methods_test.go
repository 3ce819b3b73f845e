package invoice

import (
	"errors"
	"testing"
)

// TestMethodsRefuseWhatCannotBePaid: an invoice without a usable method,
// and a payment by a method the invoice does not offer, are refused and
// change nothing.
func TestMethodsRefuseWhatCannotBePaid(t *testing.T) {
	env := Env{Now: t0.Add(minute), Tip: baseTip}
	for _, c := range []struct {
		name    string
		methods []Method
	}{
		{"no method", nil},
		{"unknown method", []Method{{ID: "DOGE", Currency: "DOGE", Due: due}}},
		{"nothing due", []Method{{ID: MethodBTC, Currency: "BTC"}}},
		{"a method twice", []Method{{ID: MethodBTC, Currency: "BTC", Due: due}, {ID: MethodBTC, Currency: "BTC", Due: due}}},
	} {
		inv := newTestInvoice(SpeedMedium)
		inv.Methods = c.methods
		for _, ev := range []Event{Tick{}, seen("a", due, 0), Resend{}} {
			next, out, err := Apply(inv, ev, env)
			if !errors.Is(err, ErrInvalidInvoice) || out != nil || !equalInvoices(next, inv) {
				t.Errorf("%s, %T: %v, %v", c.name, ev, err, out)
			}
		}
	}
	inv := newTestInvoice(SpeedMedium)
	ev := seen("a", due, 0)
	ev.Payment.Method = "BTC-LN"
	next, out, err := Apply(inv, ev, env)
	if !errors.Is(err, ErrInvalidPayment) || out != nil || !equalInvoices(next, inv) {
		t.Errorf("a payment by a method the invoice does not offer: %v, %v", err, out)
	}
}

// TestBound: an invoice is bound to the method of its first live payment,
// and its Due is that method's.
func TestBound(t *testing.T) {
	inv := newTestInvoice(SpeedMedium)
	if m := inv.Bound(); m == nil || m.ID != MethodBTC || inv.Due() != due {
		t.Fatalf("unpaid: bound to %+v, due %d", m, inv.Due())
	}
	if inv.Method("BTC-LN") != nil {
		t.Fatal("Method of a method not offered is not nil")
	}
	next, _, err := Apply(inv, seen("a", due, 0), Env{Now: t0.Add(minute), Tip: baseTip})
	if err != nil {
		t.Fatal(err)
	}
	if m := next.Bound(); m == nil || m.ID != MethodBTC || next.Payments[0].Ref() != "a:0" {
		t.Fatalf("paid: bound to %+v, ref %q", m, next.Payments[0].Ref())
	}
}
