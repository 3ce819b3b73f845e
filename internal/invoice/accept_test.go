package invoice

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// run applies steps in order and fails on the first mismatch.
func runSteps(t *testing.T, inv Invoice, steps []step) Invoice {
	t.Helper()
	for i, s := range steps {
		next, notes, err := Apply(inv, s.ev, Env{Now: t0.Add(s.at), Tip: s.tip})
		if !errors.Is(err, s.err) {
			t.Fatalf("step %d (%T): want error %v, have %v", i, s.ev, s.err, err)
		}
		if err != nil {
			if !equalInvoices(next, inv) {
				t.Fatalf("step %d: a refused action changed the invoice", i)
			}
			continue
		}
		if got := codes(notes); !slices.Equal(got, s.want) {
			t.Fatalf("step %d (%T): want %v, have %v", i, s.ev, s.want, got)
		}
		inv = next
	}
	return inv
}

func TestAcceptPartial(t *testing.T) {
	inv := runSteps(t, newTestInvoice(SpeedMedium), []step{
		{at: minute, tip: baseTip, ev: seen("a", 60_000, 0), want: []Code{CodeReceivedPayment}},
		{at: 2 * minute, tip: baseTip + 1, ev: seen("a", 60_000, baseTip+1), want: none},
		// Too early: one confirmation.
		{at: 3 * minute, tip: baseTip + 1, ev: AcceptPartial{}, err: ErrNotConfirmed},
		{at: 20 * minute, tip: baseTip + 6, ev: Tick{}, want: []Code{CodeExpiredPartial}},
		{at: 21 * minute, tip: baseTip + 6, ev: AcceptPartial{}, want: []Code{CodeAdjustmentComplete, CodeCompleted}},
		// Once accepted there is nothing left to accept.
		{at: 22 * minute, tip: baseTip + 7, ev: AcceptPartial{}, err: ErrIllegalTransition},
		{at: 23 * minute, tip: baseTip + 8, ev: Tick{}, want: none},
	})
	if inv.Status != StatusComplete || inv.Exception != ExceptionNone || inv.Due() != 60_000 || inv.Paid() != 60_000 {
		t.Fatalf("after accepting: %s/%q due %d paid %d", inv.Status, inv.Exception, inv.Due(), inv.Paid())
	}
}

func TestAcceptOverpayment(t *testing.T) {
	inv := runSteps(t, newTestInvoice(SpeedMedium), []step{
		{at: minute, tip: baseTip, ev: seen("a", 130_000, 0), want: []Code{CodeReceivedPayment, CodePaidInFull}},
		{at: 2 * minute, tip: baseTip, ev: AcceptOverpayment{}, err: ErrNotConfirmed},
		{at: time.Hour / 2, tip: baseTip + 5, ev: seen("a", 130_000, baseTip), want: []Code{CodeConfirmed, CodeCompleted}},
		{at: time.Hour, tip: baseTip + 5, ev: AcceptOverpayment{}, want: []Code{CodeAdjustmentComplete}},
	})
	if inv.Status != StatusComplete || inv.Exception != ExceptionNone || inv.Due() != 130_000 {
		t.Fatalf("after accepting: %s/%q due %d", inv.Status, inv.Exception, inv.Due())
	}
	// Accepting an over payment on an invoice without one is refused.
	_, _, err := Apply(newTestInvoice(SpeedMedium), AcceptOverpayment{}, Env{Now: t0, Tip: baseTip})
	if !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("want ErrIllegalTransition, have %v", err)
	}
}
