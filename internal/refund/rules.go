package refund

import (
	"errors"
	"strings"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
)

// ErrInvoiceState: the invoice cannot be refunded in its status (BitPay's
// 010207): it is still open (new, or paid and unconfirmed — its payment
// could yet be double-spent) or nothing ever reached it.
var ErrInvoiceState = errors.New("invalid invoice state for refund")

// ErrTooMuch: the refund asks for more than the invoice can still refund.
var ErrTooMuch = errors.New("refund amount exceeds what the buyer paid and was not refunded")

// Refundable returns the satoshis an invoice can still refund: every live
// satoshi it received (late payments included: they are the buyer's too)
// less what its active refunds (created, pending, succeeded) already
// take. It fails with ErrInvoiceState for an invoice that is open or was
// never paid.
func Refundable(inv *invoice.Invoice, refunds []Refund) (money.Sats, error) {
	switch inv.Status {
	case invoice.StatusNew, invoice.StatusPaid:
		return 0, ErrInvoiceState
	}
	received := inv.Received()
	if received <= 0 {
		return 0, ErrInvoiceState
	}
	left := received
	for _, r := range refunds {
		if r.InvoiceID == inv.ID && r.Status.Active() {
			left -= r.Sats
		}
	}
	return max(left, 0), nil
}

// Check says whether a new refund of sats can be made for an invoice with
// these refunds.
func Check(inv *invoice.Invoice, refunds []Refund, sats money.Sats) error {
	left, err := Refundable(inv, refunds)
	switch {
	case err != nil:
		return err
	case sats <= 0 || sats > left:
		return ErrTooMuch
	}
	return nil
}

// InFull reports whether a refund of inv refunds everything it can still
// refund and declines it: BitPay's rule for a confirmed invoice (spec
// §5.1), whose refund cannot be cancelled either. A complete invoice stays
// complete; its refunds may be partial and are cancellable.
func InFull(inv *invoice.Invoice) bool { return inv.Status == invoice.StatusConfirmed }

// AutoPrefix starts the guid of the refund kassa makes by itself for an
// invoice's exception: one per invoice, so making it again is the same
// refund (guids are unique per store).
const AutoPrefix = "auto:"

// Automatic returns the refund an invoice's exception calls for when the
// store refunds exceptions automatically: everything the buyer sent to an
// invoice that expired part-paid, and the excess of an over-paid invoice
// once it is complete (six confirmations). ok is false when the invoice
// calls for none. The buyer bears the network fee of an automatic refund:
// the merchant did not ask for it.
func Automatic(inv *invoice.Invoice) (sats money.Sats, guid string, ok bool) {
	switch {
	case inv.Status == invoice.StatusExpired && inv.Exception == invoice.ExceptionPaidPartial:
		sats = inv.Received()
	case inv.Status == invoice.StatusComplete && inv.Exception == invoice.ExceptionPaidOver:
		sats = inv.Received() - inv.Due()
	}
	if sats <= 0 {
		return 0, "", false
	}
	return sats, AutoPrefix + inv.ID, true
}

// Automatic reports whether kassa made the refund by itself for its
// invoice's exception (its guid starts with AutoPrefix).
func (r *Refund) Automatic() bool { return strings.HasPrefix(r.GUID, AutoPrefix) }

// AutomaticStale reports whether an automatic refund of inv no longer has
// its reason: the merchant credited the partial or over payment
// (creditPartialPayment, creditOverpayment), which clears the exception.
func AutomaticStale(inv *invoice.Invoice) bool {
	_, _, ok := Automatic(inv)
	return !ok
}
