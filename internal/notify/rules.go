package notify

import "github.com/kassa-pay/kassa/internal/invoice"

// This file decides which outbox events become notifications (spec §4.3).

// statusCodes are the events that report a status change or a merchant's
// request: the ones an invoice with extendedNotifications is sent. Left
// out are invoice_created (nothing happened yet) and
// invoice_receivedPayment (a payment seen, which may be partial: BitPay
// sends no IPN for underpayments, seed 003).
var statusCodes = map[invoice.Code]bool{
	invoice.CodePaidInFull:         true,
	invoice.CodeExpired:            true,
	invoice.CodeConfirmed:          true,
	invoice.CodeCompleted:          true,
	invoice.CodeMarkedInvalid:      true,
	invoice.CodePaidAfterExpiry:    true,
	invoice.CodeExpiredPartial:     true,
	invoice.CodeManuallyNotified:   true,
	invoice.CodeFailedToConfirm:    true,
	invoice.CodeAdjustmentComplete: true,
	invoice.CodeDeclined:           true,
	invoice.CodeRefundComplete:     true,
	invoice.CodePaymentReversed:    true,
	invoice.CodeConfirmationsLost:  true,
}

// WantIPN reports whether an event of an invoice is sent to its
// notificationURL, following spec §4.3:
//
//   - event 1012 (invoice_manuallyNotified, a resend the merchant asked
//     for) is always sent;
//   - extendedNotifications: every status change (statusCodes): paid,
//     confirmed, complete, expired, invalid (failedToConfirm,
//     markedInvalid), declined, late payments, adjustments, reversals,
//     refunds paid (1016, invoice_refundComplete);
//   - fullNotifications: paid, confirmed and complete. At high speed the
//     invoice goes from new straight to confirmed with both
//     invoice_paidInFull and invoice_confirmed; the standard body has no
//     event name, so only the second, a single "confirmed" IPN, is sent;
//   - neither: exactly one IPN, at confirmed, or at complete when the speed
//     is low. An invoice that reaches complete without ever being
//     confirmed (paid, invalid after the confirmation window, then
//     complete; or a partial payment accepted) is sent the complete one
//     instead, so the merchant always hears of a credited invoice.
//
// earlier reports whether the invoice had an earlier event with a code.
func WantIPN(inv *invoice.Invoice, code invoice.Code, status invoice.Status, earlier func(invoice.Code) (bool, error)) (bool, error) {
	f := inv.Fields
	switch {
	case code == invoice.CodeManuallyNotified:
		return true, nil
	case f.ExtendedNotifications:
		return statusCodes[code], nil
	case f.FullNotifications:
		switch code {
		case invoice.CodePaidInFull:
			return status == invoice.StatusPaid, nil
		case invoice.CodeConfirmed, invoice.CodeCompleted:
			return true, nil
		}
		return false, nil
	case inv.Speed == invoice.SpeedLow:
		return code == invoice.CodeCompleted, nil
	case code == invoice.CodeConfirmed:
		return true, nil
	case code == invoice.CodeCompleted:
		confirmed, err := earlier(invoice.CodeConfirmed)
		return !confirmed, err
	}
	return false, nil
}

// WantEmail reports whether an event is mailed to the invoice's
// notificationEmail: the changes a person acts on, whatever the IPN
// settings: paid, confirmed, complete, expired (with or without a partial
// payment), invalid (failed to confirm or marked so) and declined. The
// high-speed invoice_paidInFull that comes with invoice_confirmed is left
// out, as for IPNs, and resends (1012) are for the IPN endpoint only.
func WantEmail(code invoice.Code, status invoice.Status) bool {
	switch code {
	case invoice.CodePaidInFull:
		return status == invoice.StatusPaid
	case invoice.CodeConfirmed, invoice.CodeCompleted, invoice.CodeExpired, invoice.CodeExpiredPartial,
		invoice.CodeFailedToConfirm, invoice.CodeMarkedInvalid, invoice.CodeDeclined:
		return true
	}
	return false
}
