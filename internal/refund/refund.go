// Package refund holds kassa's refunds: the record of money owed back to
// a buyer for an invoice, and the pure state machine that moves it through
// BitPay's statuses (spec §5.1): preview → created → pending → success |
// failure, or cancelled. Nothing here does I/O or reads the clock; the
// spend engine (building, signing and broadcasting the transaction) and
// the API act on a refund through Apply.
package refund

import (
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// Status is a refund's BitPay status.
type Status string

// The refund statuses (spec §5.1; the SDK's RefundStatus).
const (
	StatusPreview   Status = "preview"
	StatusCreated   Status = "created"
	StatusPending   Status = "pending"
	StatusSuccess   Status = "success"
	StatusFailure   Status = "failure"
	StatusCancelled Status = "cancelled"
)

// ParseStatus reads a status a client sends; BitPay's fixtures spell
// cancelled both ways, so "canceled" is accepted (and answered as
// "cancelled").
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusPreview, StatusCreated, StatusPending, StatusSuccess, StatusFailure, StatusCancelled:
		return st, true
	case "canceled":
		return StatusCancelled, true
	}
	return "", false
}

// Final reports whether nothing moves a refund out of s again except a
// reorg undoing its transaction (success back to pending).
func (s Status) Final() bool {
	return s == StatusSuccess || s == StatusFailure || s == StatusCancelled
}

// Active reports whether a refund in s counts against what an invoice
// can still refund: everything but failed and cancelled ones (a preview
// does not: it is a question, not a promise).
func (s Status) Active() bool {
	return s == StatusCreated || s == StatusPending || s == StatusSuccess
}

// Code is a refund event's code in the outbox and its webhooks. BitPay
// names its refund webhooks (refund_created …) without numbers; kassa
// numbers them from 5001, a range no other event a receiver may get uses
// (BitPay's invoices 1001-1017, payout requests 2001-2003, recipients
// 4001-4006; kassa's own invoice events 3001-3002), so a receiver that
// reads the code alone cannot take a refund event for another.
type Code int

// The refund events.
const (
	CodeCreated   Code = 5001 // refund_created: a refund exists (confirmed, not a preview)
	CodePending   Code = 5002 // refund_pending: its transaction was broadcast
	CodeSuccess   Code = 5003 // refund_success: its transaction confirmed
	CodeFailure   Code = 5004 // refund_failure: it cannot be paid (its coins spent elsewhere…)
	CodeCancelled Code = 5005 // refund_cancelled: the merchant cancelled it
)

// Code returns the event that announces a refund in s: refund_created for
// created and so on; 0 for a preview, which is never announced.
func (s Status) Code() Code {
	switch s {
	case StatusCreated:
		return CodeCreated
	case StatusPending:
		return CodePending
	case StatusSuccess:
		return CodeSuccess
	case StatusFailure:
		return CodeFailure
	case StatusCancelled:
		return CodeCancelled
	}
	return 0
}

// Name returns the event's name as extended webhooks carry it.
func (c Code) Name() string {
	switch c {
	case CodeCreated:
		return "refund_created"
	case CodePending:
		return "refund_pending"
	case CodeSuccess:
		return "refund_success"
	case CodeFailure:
		return "refund_failure"
	case CodeCancelled:
		return "refund_cancelled"
	}
	return ""
}

// Refund is money owed back to a buyer for one invoice.
type Refund struct {
	ID        string
	StoreID   string
	InvoiceID string
	Token     string // the refund's resource token (its notifications call)
	GUID      string // the client's idempotency key, "" for none
	Reference string
	// Email is where the buyer is asked for an address (refundEmail),
	// "" to use the invoice's buyer email.
	Email string

	Status Status

	// Amount and Currency are what was asked for: in the invoice's
	// currency (converted at the rate of the day it is paid, BitPay's
	// rule) or in BTC.
	Amount   decimal.Decimal
	Currency string
	// Rate is Currency per BTC when the refund was priced (1 for BTC).
	Rate decimal.Decimal
	// NotificationURL is where the refund's webhooks go: the invoice's
	// notificationURL when the refund was made.
	NotificationURL string
	// Sats is what the refund pays out in satoshis before any fee the
	// buyer bears, fixed when the refund is created.
	Sats money.Sats
	// BuyerPaysFee takes the network fee from Sats (buyerPaysRefundFee);
	// otherwise the merchant pays it on top.
	BuyerPaysFee bool
	// Immediate asks for the refund to be paid at once (by the hot
	// signer) instead of waiting for the merchant's signature.
	Immediate bool
	// Cancellable is false for a refund that declined its invoice (a
	// refund of a confirmed invoice, in full): BitPay does not let those
	// be cancelled.
	Cancellable bool

	// Address is where the refund is paid; "" until the buyer gives one.
	Address string
	// AddressSecret is the proof the buyer's refund page asks for: a
	// random value only the link in the buyer's mail carries (not the
	// Token, which is an API credential the merchant's integration holds).
	AddressSecret string
	// AddressDeadline is when a refund still without an address fails
	// (AddressTimeout); zero for a refund made with an address, or a
	// preview.
	AddressDeadline time.Time
	// TxID and Fee are the paying transaction's, once broadcast.
	TxID string
	Fee  money.Sats

	RequestedAt time.Time
	UpdatedAt   time.Time
	// FailReason says why a failed refund failed.
	FailReason string

	// Version increases by one with every stored change.
	Version int64
}

// Paid returns the satoshis the buyer receives: Sats, less the network
// fee when the buyer pays it.
func (r *Refund) Paid() money.Sats {
	if r.BuyerPaysFee {
		return r.Sats - r.Fee
	}
	return r.Sats
}

// Notification is an event a change emits.
type Notification struct {
	Code   Code
	Status Status
	At     time.Time
}

// The state machine's errors; Apply wraps them.
var (
	// ErrIllegalTransition: the refund's status does not allow the event.
	ErrIllegalTransition = errors.New("illegal refund transition")
	// ErrNotCancellable: a refund that declined its invoice, or one whose
	// transaction is out, cannot be cancelled.
	ErrNotCancellable = errors.New("refund is not cancellable")
	// ErrNoAddress: a refund cannot be paid before it has an address.
	ErrNoAddress = errors.New("refund has no address yet")
	// ErrBadEvent: an event without what it must carry (a txid, a fee
	// above the amount the buyer pays…).
	ErrBadEvent = errors.New("invalid refund event")
	// ErrUnknownEvent is returned for an event type Apply does not know.
	ErrUnknownEvent = errors.New("unknown refund event")
	// ErrHasAddress: a refund's address, once given, is not replaced.
	ErrHasAddress = errors.New("refund has an address already")
	// ErrAddressExpired: the time to give the refund's address passed.
	ErrAddressExpired = errors.New("the time to give a refund address has passed")
)

// Event is an input to the state machine.
type Event interface{ event() }

// Confirm turns a preview into a refund (PUT status "created").
type Confirm struct{}

// Cancel is the merchant cancelling a refund not paid yet.
type Cancel struct{}

// SetAddress records where the buyer wants the refund paid: once, and
// before the refund's AddressDeadline. Giving the same address again
// changes nothing.
type SetAddress struct{ Address string }

// AddressTimeout fails a refund whose buyer gave no address by its
// AddressDeadline (the sweeper sends it at or after the deadline).
type AddressTimeout struct{}

// ReasonNoAddress is the FailReason of a refund failed by AddressTimeout.
const ReasonNoAddress = "no refund address was given in time"

// Broadcast reports the refund's transaction sent: its id and the
// network fee it pays.
type Broadcast struct {
	TxID string
	Fee  money.Sats
}

// Confirmed reports the refund's transaction in a block.
type Confirmed struct{}

// Dropped reports the refund's transaction gone from the chain and the
// mempool by a reorg, its inputs unspent: it goes out again.
type Dropped struct{}

// Fail reports that the refund cannot be paid: its coins were spent by
// another transaction, or the merchant gave up.
type Fail struct{ Reason string }

// Resend asks for the refund's latest event again (POST
// /refunds/:id/notifications): the event of its status, nothing changed.
// A preview was never announced and has none.
type Resend struct{}

func (Confirm) event()        {}
func (Cancel) event()         {}
func (SetAddress) event()     {}
func (Broadcast) event()      {}
func (Confirmed) event()      {}
func (Dropped) event()        {}
func (Fail) event()           {}
func (Resend) event()         {}
func (AddressTimeout) event() {}

// Apply moves a refund through one event at now and returns it with the
// notifications the change causes. It is pure; on error the refund is
// returned unchanged with no notifications. Applying an event that changes
// nothing (a second Confirmed, say) emits nothing.
func Apply(r Refund, ev Event, now time.Time) (Refund, []Notification, error) {
	if _, ok := ev.(Resend); ok {
		code := r.Status.Code()
		if code == 0 {
			return r, nil, fmt.Errorf("resend refund %s: %w: a %s refund has no event", r.ID, ErrIllegalTransition, r.Status)
		}
		return r, []Notification{{Code: code, Status: r.Status, At: now}}, nil
	}
	next, code, err := apply(r, ev, now)
	if err != nil {
		return r, nil, fmt.Errorf("apply %T to refund %s: %w", ev, r.ID, err)
	}
	if next == r {
		return r, nil, nil
	}
	next.UpdatedAt = now
	if code == 0 {
		return next, nil, nil
	}
	return next, []Notification{{Code: code, Status: next.Status, At: now}}, nil
}

func apply(r Refund, ev Event, now time.Time) (Refund, Code, error) {
	switch e := ev.(type) {
	case Confirm:
		switch r.Status {
		case StatusPreview:
			r.Status = StatusCreated
			return r, CodeCreated, nil
		case StatusCreated:
			return r, 0, nil
		}
	case Cancel:
		switch {
		case r.Status == StatusCancelled:
			return r, 0, nil
		case !r.Cancellable, r.Status != StatusPreview && r.Status != StatusCreated:
			return r, 0, ErrNotCancellable
		}
		preview := r.Status == StatusPreview
		r.Status = StatusCancelled
		if preview {
			return r, 0, nil // a preview was never announced
		}
		return r, CodeCancelled, nil
	case SetAddress:
		if e.Address == "" {
			return r, 0, ErrBadEvent
		}
		if r.Status != StatusPreview && r.Status != StatusCreated {
			break
		}
		switch {
		case r.Address == e.Address:
			return r, 0, nil
		case r.Address != "":
			return r, 0, ErrHasAddress
		case !r.AddressDeadline.IsZero() && !now.Before(r.AddressDeadline):
			return r, 0, ErrAddressExpired
		}
		r.Address = e.Address
		return r, 0, nil
	case AddressTimeout:
		switch {
		case r.Status != StatusCreated, r.Address != "":
		case r.AddressDeadline.IsZero() || now.Before(r.AddressDeadline):
			return r, 0, fmt.Errorf("%w: the deadline %s has not passed", ErrBadEvent, r.AddressDeadline.UTC().Format(time.RFC3339))
		default:
			r.Status, r.FailReason = StatusFailure, ReasonNoAddress
			return r, CodeFailure, nil
		}
	case Broadcast:
		switch {
		case e.TxID == "" || e.Fee < 0 || (r.BuyerPaysFee && e.Fee >= r.Sats):
			return r, 0, ErrBadEvent
		case r.Address == "":
			return r, 0, ErrNoAddress
		case r.Status == StatusPending && r.TxID == e.TxID:
			return r, 0, nil
		case r.Status == StatusCreated, r.Status == StatusPending:
			// Pending again with another txid is a fee bump (RBF).
			r.Status, r.TxID, r.Fee = StatusPending, e.TxID, e.Fee
			return r, CodePending, nil
		}
	case Confirmed:
		switch r.Status {
		case StatusPending:
			r.Status = StatusSuccess
			return r, CodeSuccess, nil
		case StatusSuccess:
			return r, 0, nil
		}
	case Dropped:
		switch r.Status {
		case StatusSuccess, StatusPending:
			r.Status = StatusPending
			return r, CodePending, nil
		}
	case Fail:
		switch r.Status {
		case StatusCreated, StatusPending:
			r.Status, r.FailReason = StatusFailure, e.Reason
			return r, CodeFailure, nil
		case StatusFailure:
			return r, 0, nil
		}
	default:
		return r, 0, ErrUnknownEvent
	}
	return r, 0, fmt.Errorf("%w: %T in status %s", ErrIllegalTransition, ev, r.Status)
}
