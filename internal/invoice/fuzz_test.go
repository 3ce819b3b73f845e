package invoice

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
)

// FuzzApply drives an invoice through random event sequences, with time
// moving forwards and the tip moving both ways (reorgs), and checks the
// machine's invariants after every event: amounts never negative and
// never re-valued, paid totals equal to the sum of live on-time payments,
// no way out of a final status but the documented ones (checkStatus), and
// every change notified. The seed corpus is in
// testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	f.Add([]byte{1, 0, 0, 10, 1, 2, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{data: data}
		inv := newTestInvoice([]Speed{SpeedHigh, SpeedMedium, SpeedLow, ""}[r.next()%4])
		var policy Policy
		if b := r.next(); b%2 == 1 {
			policy = Policy{CompleteConfirmations: int32(b%7) + 1, InvalidAfter: time.Duration(b%5+1) * 10 * time.Minute}
		}
		now, tip := t0, int32(baseTip)
		for step := 0; r.more() && step < 100; step++ {
			op := r.next()
			now = now.Add(time.Duration(r.next()) * 15 * time.Second)
			tip = max(1, tip+int32(r.next()%4)-1)
			ev := fuzzEvent(op, r, tip)
			env := Env{Now: now, Tip: tip, Policy: policy}
			checkHostile(t, step, inv, ev, env)
			next := checkApply(t, step, inv, ev, env)
			inv = next
		}
	})
}

// fuzzAmounts are the fixed amounts of the six outputs a fuzz run can
// see: a txid:vout always has the same amount.
var fuzzAmounts = [6]money.Sats{30_000, 50_000, due, 20_000, 150_000, 1}

func fuzzEvent(op byte, r *byteReader, tip int32) Event {
	k := r.next() % 6
	txid, vout := fmt.Sprintf("tx%d", k/2), uint32(k%2)
	switch op % 12 {
	case 0, 1, 2, 3, 4:
		height := int32(0)
		if b := r.next(); b%4 != 0 {
			height = max(1, tip-int32(b%8))
		}
		return PaymentSeen{Payment: Payment{Method: MethodBTC, TxID: txid, Vout: vout, Amount: fuzzAmounts[k], Height: height}}
	case 5, 6:
		return PaymentRemoved{TxID: txid, Vout: vout}
	case 7, 8:
		return Tick{}
	case 9:
		return Cancel{}
	case 10:
		return MarkInvalid{}
	}
	return Resend{}
}

// checkApply applies ev and checks every invariant of one step; it returns
// the invoice after the step.
func checkApply(t *testing.T, step int, inv Invoice, ev Event, env Env) Invoice {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d, %T at %s tip %d, %s/%q → "+format,
			append([]any{step, ev, env.Now.Sub(t0), env.Tip, inv.Status, inv.Exception}, args...)...)
	}
	snapshot := inv
	snapshot.Payments = slices.Clone(inv.Payments)
	snapshot.Methods = slices.Clone(inv.Methods)

	next, out, err := Apply(inv, ev, env)
	if !equalInvoices(inv, snapshot) {
		fail("the caller's invoice was modified")
	}
	if err != nil {
		_, isCancel := ev.(Cancel)
		_, isMark := ev.(MarkInvalid)
		switch {
		case isCancel && errors.Is(err, ErrNotCancellable), isMark && errors.Is(err, ErrIllegalTransition):
		default:
			fail("unexpected error %v", err)
		}
		if out != nil || !equalInvoices(next, inv) {
			fail("a failed event changed the invoice")
		}
		return inv
	}

	checkFacts(t, fail, inv, next, env)
	checkStatus(fail, inv, next, ev, out, env)

	changed := !sameState(next, inv)
	_, resend := ev.(Resend)
	switch {
	case resend && (changed || len(out) != 1 || out[0].Code != CodeManuallyNotified):
		fail("resend changed the invoice or sent %v", codes(out))
	case !resend && notable(inv, next) != (len(out) > 0):
		fail("changed %v but notified %v", changed, codes(out))
	case len(out) > 0 && !resend && !changed:
		fail("notified %v without a change", codes(out))
	case changed && !next.UpdatedAt.Equal(env.Now), !changed && !next.UpdatedAt.Equal(inv.UpdatedAt):
		fail("UpdatedAt %v after changed=%v", next.UpdatedAt, changed)
	}
	for _, n := range out {
		if !n.At.Equal(env.Now) || !n.Status.Valid() || n.Code.Name() == "" {
			fail("bad notification %+v", n)
		}
	}

	if _, ok := ev.(Cancel); !ok && !resend {
		again, out2, err := Apply(next, ev, env)
		if err != nil || len(out2) > 0 || !equalInvoices(again, next) {
			fail("applying the event twice: %v, notified %v", err, codes(out2))
		}
	}
	return next
}

// checkHostile applies what a broken or hostile chain backend could send
// instead of a PaymentSeen: the same output with no, a negative or (for an
// output already recorded) a different amount. Each must be refused with
// ErrInvalidPayment and change nothing, so amounts never go negative and a
// payment is never re-valued.
func checkHostile(t *testing.T, step int, inv Invoice, ev Event, env Env) {
	t.Helper()
	seen, ok := ev.(PaymentSeen)
	if !ok {
		return
	}
	bad := []money.Sats{0, -seen.Payment.Amount, -1}
	if i := inv.Payment(seen.Payment.TxID, seen.Payment.Vout); i >= 0 {
		bad = append(bad, inv.Payments[i].Amount+1)
	}
	for _, amount := range bad {
		h := seen
		h.Payment.Amount = amount
		next, out, err := Apply(inv, h, env)
		if !errors.Is(err, ErrInvalidPayment) || out != nil || !equalInvoices(next, inv) {
			t.Fatalf("step %d: payment %s:%d of %d sats: err %v, notified %v, changed %v",
				step, h.Payment.TxID, h.Payment.Vout, amount, err, codes(out), !equalInvoices(next, inv))
		}
	}
}

// checkFacts checks the payments: never counted twice, only ever added,
// the sums consistent.
func checkFacts(t *testing.T, fail func(string, ...any), inv, next Invoice, env Env) {
	t.Helper()
	var paid money.Sats
	seenOut := map[string]bool{}
	for _, p := range next.Payments {
		key := fmt.Sprintf("%s:%d", p.TxID, p.Vout)
		if seenOut[key] {
			fail("payment %s recorded twice", key)
		}
		seenOut[key] = true
		if !p.Removed && !p.Late {
			paid += p.Amount
		}
	}
	if next.Paid() < 0 || next.Paid() != paid {
		fail("Paid() = %d, live on-time payments sum to %d", next.Paid(), paid)
	}
	for _, p := range next.Payments {
		if p.Amount <= 0 {
			fail("payment %s:%d of %d sats recorded", p.TxID, p.Vout, p.Amount)
		}
	}
	if next.Received() < next.Paid() {
		fail("Received() = %d below Paid() = %d", next.Received(), next.Paid())
	}
	if want := max(next.Due()-next.Paid(), 0); next.Remaining() != want || next.Remaining() > next.Due() {
		fail("Remaining() = %d, want %d of %d due", next.Remaining(), want, next.Due())
	}
	if next.Due() != inv.Due() || next.Due() <= 0 || !next.Price.Equal(inv.Price) || next.Currency != inv.Currency ||
		!slices.EqualFunc(next.Methods, inv.Methods, sameMethod) {
		fail("the invoice was re-priced: %d %s %s, methods %+v", next.Due(), next.Price, next.Currency, next.Methods)
	}
	if len(next.Payments) < len(inv.Payments) {
		fail("payments were dropped")
	}
	for i, p := range inv.Payments {
		q := next.Payments[i]
		if q.TxID != p.TxID || q.Vout != p.Vout || q.Amount != p.Amount || q.Late != p.Late {
			fail("payment %d rewritten: %+v → %+v", i, p, q)
		}
	}
	if len(next.Payments) > len(inv.Payments) {
		added := next.Payments[len(next.Payments)-1]
		onTime := inv.Status == StatusNew && env.Now.Before(inv.ExpiresAt)
		if added.Late == onTime {
			fail("payment added with Late=%v to a %s invoice", added.Late, inv.Status)
		}
	}
	if next.Version != inv.Version {
		fail("Version changed")
	}
}

// checkStatus checks the status and exception against the facts and the
// documented ways out of each status.
func checkStatus(fail func(string, ...any), inv, next Invoice, ev Event, out []Notification, env Env) {
	if !next.Status.Valid() {
		fail("invalid status %q", next.Status)
	}
	full := next.Paid() > 0 && next.Paid() >= next.Due()
	switch next.Status {
	case StatusPaid, StatusConfirmed, StatusComplete:
		if !full || next.PaidAt.IsZero() {
			fail("%s without full payment (%d of %d) or PaidAt", next.Status, next.Paid(), next.Due())
		}
		if next.Exception != ExceptionNone && next.Exception != ExceptionPaidOver {
			fail("%s with exception %q", next.Status, next.Exception)
		}
	case StatusNew:
		if _, resend := ev.(Resend); !resend && !env.Now.Before(next.ExpiresAt) {
			fail("still new after the window closed")
		}
		if full {
			fail("new although fully paid")
		}
	}
	if next.Status == inv.Status {
		return
	}
	if out[len(out)-1].Status != next.Status {
		fail("last notification %+v does not report the new status", out[len(out)-1])
	}
	_, seenEv := ev.(PaymentSeen)
	_, removedEv := ev.(PaymentRemoved)
	_, markEv := ev.(MarkInvalid)
	switch inv.Status {
	case StatusComplete:
		reorg := seenEv && next.Status != StatusExpired && next.Status != StatusDeclined &&
			slices.ContainsFunc(out, func(n Notification) bool { return n.Code == CodeConfirmationsLost })
		reversal := removedEv && next.Status == StatusInvalid &&
			slices.ContainsFunc(out, func(n Notification) bool { return n.Code == CodePaymentReversed })
		if !reorg && !reversal {
			fail("left complete for %s with %v", next.Status, codes(out))
		}
	case StatusExpired, StatusDeclined:
		fail("left final status for %s", next.Status)
	case StatusInvalid:
		if next.Status != StatusComplete {
			fail("left invalid for %s", next.Status)
		}
	}
	if next.Status == StatusInvalid && !markEv &&
		!slices.ContainsFunc(out, func(n Notification) bool { return n.Code == CodeFailedToConfirm }) {
		fail("became invalid without invoice_failedToConfirm: %v", codes(out))
	}
}

// notable reports whether the invoice changed in a way that must be
// notified: anything but a payment's place in the chain.
func notable(a, b Invoice) bool {
	if len(a.Payments) != len(b.Payments) {
		return true
	}
	for i := range a.Payments {
		if a.Payments[i].Removed != b.Payments[i].Removed {
			return true
		}
	}
	return a.Status != b.Status || a.Exception != b.Exception || !a.PaidAt.Equal(b.PaidAt) || a.Cancelled != b.Cancelled
}

// byteReader hands out the fuzzer's bytes, then zeros.
type byteReader struct {
	data []byte
	pos  int
}

func (r *byteReader) more() bool { return r.pos < len(r.data) }

func (r *byteReader) next() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	r.pos++
	return r.data[r.pos-1]
}
