package invoice

import "time"

// Code is a BitPay IPN event code (spec §4.4). Codes of 3000 and above are
// kassa's own, for what BitPay has no code for.
type Code int

// The event codes kassa emits.
const (
	CodeCreated            Code = 1001
	CodeReceivedPayment    Code = 1002
	CodePaidInFull         Code = 1003
	CodeExpired            Code = 1004
	CodeConfirmed          Code = 1005
	CodeCompleted          Code = 1006
	CodeMarkedInvalid      Code = 1008
	CodePaidAfterExpiry    Code = 1009
	CodeExpiredPartial     Code = 1010
	CodeManuallyNotified   Code = 1012
	CodeAdjustmentComplete Code = 1015 // a partial or over payment accepted
	CodeFailedToConfirm    Code = 1013
	CodeRefundComplete     Code = 1016 // a refund of the invoice was paid
	CodeDeclined           Code = 1017 // BitPay's numeric code is unknown (spec §14); name is invoice_declined
	CodePaymentReversed    Code = 3001 // a counted payment left the chain (reorg, double-spend, RBF)
	CodeConfirmationsLost  Code = 3002 // a reorg un-confirmed a payment; the status went back
)

var codeNames = map[Code]string{
	CodeCreated:            "invoice_created",
	CodeReceivedPayment:    "invoice_receivedPayment",
	CodePaidInFull:         "invoice_paidInFull",
	CodeExpired:            "invoice_expired",
	CodeConfirmed:          "invoice_confirmed",
	CodeCompleted:          "invoice_completed",
	CodeMarkedInvalid:      "invoice_markedInvalid",
	CodePaidAfterExpiry:    "invoice_paidAfterExpiration",
	CodeExpiredPartial:     "invoice_expiredPartial",
	CodeManuallyNotified:   "invoice_manuallyNotified",
	CodeAdjustmentComplete: "invoice_adjustmentComplete",
	CodeFailedToConfirm:    "invoice_failedToConfirm",
	CodeRefundComplete:     "invoice_refundComplete",
	CodeDeclined:           "invoice_declined",
	CodePaymentReversed:    "invoice_paymentReversed",
	CodeConfirmationsLost:  "invoice_confirmationsLost",
}

// Name returns the event's BitPay name ("invoice_confirmed").
func (c Code) Name() string { return codeNames[c] }

// Notification is an outbox event a state change causes: the store commits
// it in the same transaction as the change, and the notifier delivers it.
type Notification struct {
	Code Code
	// Status and Exception are the invoice's at the moment of the event, so
	// a delivery made later still reports what happened then.
	Status    Status
	Exception Exception
	At        time.Time
}
