package invoice

import "fmt"

// This file applies the merchant's actions on an invoice.

// cancel expires a new, unpaid invoice at the merchant's request.
func (m *machine) cancel() error {
	m.expireIfDue()
	if m.inv.Status != StatusNew || m.inv.Paid() != 0 {
		return fmt.Errorf("status %s, %d sats paid: %w", m.inv.Status, m.inv.Paid(), ErrNotCancellable)
	}
	m.inv.Cancelled = true
	m.inv.Status = StatusExpired
	m.inv.Exception = m.exception(StatusExpired)
	m.emit(CodeExpired)
	return nil
}

// markInvalid makes the invoice invalid at the merchant's request. Marking
// an invalid invoice again changes nothing.
func (m *machine) markInvalid() error {
	m.expireIfDue()
	switch m.inv.Status {
	case StatusInvalid:
		return nil
	case StatusNew, StatusPaid, StatusConfirmed:
	default:
		return fmt.Errorf("mark invalid from %s: %w", m.inv.Status, ErrIllegalTransition)
	}
	m.inv.Status = StatusInvalid
	m.inv.Exception = m.exception(StatusInvalid)
	m.emit(CodeMarkedInvalid)
	return nil
}

// refundComplete announces a paid refund (1016); only an invoice that
// received money can have one.
func (m *machine) refundComplete() error {
	if m.inv.Received() <= 0 {
		return fmt.Errorf("refund complete on an invoice that received nothing: %w", ErrIllegalTransition)
	}
	m.emit(CodeRefundComplete)
	return nil
}

// decline moves a confirmed or invalid invoice to declined when a refund
// gives the buyer their money back in full. Declining again changes
// nothing.
func (m *machine) decline() error {
	switch m.inv.Status {
	case StatusDeclined:
		return nil
	case StatusConfirmed, StatusInvalid:
	default:
		return fmt.Errorf("decline from %s: %w", m.inv.Status, ErrIllegalTransition)
	}
	m.inv.Status = StatusDeclined
	m.inv.Exception = m.exception(StatusDeclined)
	m.emit(CodeDeclined)
	return nil
}
