package invoice

import (
	"errors"
	"fmt"
)

// AcceptPartial is the merchant accepting a partial payment as payment in
// full (seed 002's creditPartialPayment): once the payment has the
// confirmations for complete, the amount due becomes what was paid, the
// paidPartial exception clears and the invoice completes.
type AcceptPartial struct{}

// AcceptOverpayment is the merchant accepting an over payment (seed 002's
// creditOverpayment): kassa is non-custodial, so the surplus is already in
// the merchant's wallet; accepting it makes the amount due what was paid
// and clears the paidOver exception.
type AcceptOverpayment struct{}

func (AcceptPartial) event()     {}
func (AcceptOverpayment) event() {}

// ErrNotConfirmed means an action needs the payment to have the
// confirmations for complete first.
var ErrNotConfirmed = errors.New("the payment does not have the confirmations for complete yet")

// acceptPartial applies AcceptPartial.
func (m *machine) acceptPartial() error {
	m.expireIfDue()
	if m.inv.Exception != ExceptionPaidPartial || m.inv.Paid() <= 0 {
		return fmt.Errorf("accept a partial payment with exception %q: %w", m.inv.Exception, ErrIllegalTransition)
	}
	if m.confirmations() < m.env.Policy.completeConfirmations() {
		return fmt.Errorf("accept a partial payment: %w", ErrNotConfirmed)
	}
	m.inv.Bound().Due = m.inv.Paid()
	m.inv.Exception = ExceptionNone
	m.inv.Status = StatusComplete
	m.emit(CodeAdjustmentComplete)
	m.emit(CodeCompleted)
	return nil
}

// acceptOverpayment applies AcceptOverpayment.
func (m *machine) acceptOverpayment() error {
	m.settle(false)
	if m.inv.Exception != ExceptionPaidOver {
		return fmt.Errorf("accept an over payment with exception %q: %w", m.inv.Exception, ErrIllegalTransition)
	}
	if m.inv.Status != StatusComplete {
		return fmt.Errorf("accept an over payment: %w", ErrNotConfirmed)
	}
	m.inv.Bound().Due = m.inv.Paid()
	m.inv.Exception = ExceptionNone
	m.emit(CodeAdjustmentComplete)
	return nil
}
