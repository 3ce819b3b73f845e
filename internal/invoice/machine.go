package invoice

import (
	"fmt"
	"slices"
	"time"
)

// Env is what the state machine knows of the world when it applies an
// event: the time, the chain tip, and the rules in force.
type Env struct {
	Now time.Time
	// Tip is the height of the best block the watcher has processed.
	Tip    int32
	Policy Policy
}

// Policy holds the confirmation rules; the zero value is BitPay's.
type Policy struct {
	// CompleteConfirmations is the confirmations for complete (default 6).
	CompleteConfirmations int32
	// InvalidAfter is how long a paid invoice may stay unconfirmed before
	// it becomes invalid (default 1 hour).
	InvalidAfter time.Duration
}

// The BitPay defaults a zero Policy stands for.
const (
	DefaultCompleteConfirmations int32         = 6
	DefaultInvalidAfter          time.Duration = time.Hour
)

// completeConfirmations returns the confirmations for complete, defaulted.
func (p Policy) completeConfirmations() int32 {
	if p.CompleteConfirmations <= 0 {
		return DefaultCompleteConfirmations
	}
	return p.CompleteConfirmations
}

// invalidAfter returns the invalid window, defaulted.
func (p Policy) invalidAfter() time.Duration {
	if p.InvalidAfter <= 0 {
		return DefaultInvalidAfter
	}
	return p.InvalidAfter
}

// Event is an input to the state machine.
type Event interface{ event() }

// PaymentSeen reports an output paying the invoice's script, in the mempool
// (Height 0) or in a block. Seeing the same txid:vout again updates its
// height (a confirmation, or a reorg moving it back to the mempool); it is
// never counted twice.
type PaymentSeen struct{ Payment Payment }

// PaymentRemoved reports that a payment left both the chain and the
// mempool: double-spent, replaced (RBF) or dropped by a reorg.
type PaymentRemoved struct {
	TxID string
	Vout uint32
}

// Tick re-evaluates the invoice at Env.Now and Env.Tip: expiry, the invalid
// window, and confirmations from new blocks.
type Tick struct{}

// Cancel is the merchant cancelling an unpaid invoice (DELETE /invoices/:id).
type Cancel struct{}

// MarkInvalid is the merchant marking an invoice invalid by hand.
type MarkInvalid struct{}

// Resend asks for the last notification again (event 1012).
type Resend struct{}

// RefundComplete reports that a refund of the invoice was paid (its
// transaction confirmed): event 1016, the invoice's status unchanged.
type RefundComplete struct{}

// Decline is a refund declining the invoice: a refund in full of a
// confirmed invoice (BitPay's rule), or of an invalid one.
type Decline struct{}

func (PaymentSeen) event()    {}
func (PaymentRemoved) event() {}
func (Tick) event()           {}
func (Cancel) event()         {}
func (MarkInvalid) event()    {}
func (Resend) event()         {}
func (RefundComplete) event() {}
func (Decline) event()        {}

// Apply moves an invoice through one event and returns the invoice after it
// and the notifications the change causes, in the order they happened. It
// is pure: it reads no clock and does no I/O, and it never modifies inv or
// the slices inv shares with the caller. On error the invoice is returned
// unchanged with no notifications.
//
// Apply first updates the facts (payments, the cancelled flag), then derives
// the status and exception those facts call for, and emits a notification
// for each difference. Applying an event that changes nothing therefore
// emits nothing, which makes reprocessing a block or a tick harmless.
// UpdatedAt is set to env.Now when anything changed; Version is left to the
// store.
//
// The statuses move as BitPay's do (spec §3.5). Only a new invoice counts
// payments; full payment takes it along its speed's path (high: confirmed
// at 0 confirmations; medium: paid, confirmed at 1; low: paid; all
// complete at Policy.CompleteConfirmations). New expires when its window
// closes; paid becomes invalid when still unconfirmed after
// Policy.InvalidAfter, and invalid leaves only for complete. Rollbacks are
// never silent: a removed payment emits invoice_paymentReversed (and an
// invoice no longer fully paid becomes invalid), a reorg that takes
// confirmations away moves the status back with invoice_confirmationsLost.
// Nothing else leaves complete.
func Apply(inv Invoice, ev Event, env Env) (Invoice, []Notification, error) {
	m := &machine{inv: inv, env: env}
	m.inv.Payments = slices.Clone(inv.Payments)
	m.inv.Methods = slices.Clone(inv.Methods)

	err := inv.checkMethods()
	if err == nil {
		err = m.apply(ev)
	}
	if err != nil {
		return inv, nil, fmt.Errorf("apply %T to invoice %s: %w", ev, inv.ID, err)
	}
	if m.changed(&inv) {
		m.inv.UpdatedAt = env.Now
	}
	return m.inv, m.out, nil
}

// apply updates the facts an event brings, then the status they call for.
func (m *machine) apply(ev Event) error {
	var err error
	switch e := ev.(type) {
	case PaymentSeen:
		err = m.paymentSeen(e.Payment)
	case PaymentRemoved:
		m.paymentRemoved(e.TxID, e.Vout)
	case Tick:
		m.settle(false)
	case Cancel:
		err = m.cancel()
	case MarkInvalid:
		err = m.markInvalid()
	case Resend:
		m.emit(CodeManuallyNotified)
	case RefundComplete:
		err = m.refundComplete()
	case Decline:
		err = m.decline()
	case AcceptPartial:
		err = m.acceptPartial()
	case AcceptOverpayment:
		err = m.acceptOverpayment()
	default:
		err = ErrUnknownEvent
	}
	return err
}

// machine is one application of an event: the invoice being changed, the
// world it is judged in, and the notifications emitted so far.
type machine struct {
	inv Invoice
	env Env
	out []Notification
}

// changed reports whether the invoice differs from before in anything the
// machine owns.
func (m *machine) changed(before *Invoice) bool {
	after := &m.inv
	return after.Status != before.Status ||
		after.Exception != before.Exception ||
		!slices.EqualFunc(after.Methods, before.Methods, func(a, b Method) bool { return a.Due == b.Due }) ||
		!after.PaidAt.Equal(before.PaidAt) ||
		after.Cancelled != before.Cancelled ||
		!slices.Equal(after.Payments, before.Payments)
}
