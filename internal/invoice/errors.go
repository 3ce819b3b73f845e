package invoice

import "errors"

// The state machine's sentinel errors. Apply wraps them with the invoice and
// the event; callers match them with errors.Is.
var (
	// ErrNotCancellable is returned when the merchant cancels an invoice
	// that is no longer new or has already received a counted payment.
	ErrNotCancellable = errors.New("invoice is not cancellable")
	// ErrIllegalTransition is returned when an event asks for a status
	// change the invoice's current status does not allow.
	ErrIllegalTransition = errors.New("illegal invoice transition")
	// ErrUnknownEvent is returned for an event type Apply does not know.
	ErrUnknownEvent = errors.New("unknown invoice event")
	// ErrInvalidPayment is returned for a PaymentSeen that cannot be a real
	// output: a method the invoice does not offer, a non-positive amount, no
	// txid, or an amount that differs from the one already recorded for the
	// same txid:vout.
	ErrInvalidPayment = errors.New("invalid payment")
	// ErrInvalidInvoice is returned for an invoice that cannot be paid: no
	// payment method, an unknown or repeated one, or one with nothing due.
	ErrInvalidInvoice = errors.New("invalid invoice")
)
