package ledger

import (
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/shopspring/decimal"
)

// Code is a posting's ledger entry code, BitPay's numbering (spec §7.1).
type Code int

// The codes kassa posts.
const (
	CodeSale          Code = 1000 // an invoice complete: the sale
	CodeBuyerCredit   Code = 1003 // money owed to a buyer (over-payment, a failed invoice's payments)
	CodeInvoiceRefund Code = 1020 // a refund paid, with its network fee
)

// Subject says what a posting books.
type Subject string

// The subjects.
const (
	SubjectInvoice Subject = "invoice"
	SubjectRefund  Subject = "refund"
)

// Posting is one balanced, immutable entry of a store's books.
type Posting struct {
	ID        string
	StoreID   string
	Subject   Subject
	SubjectID string
	Code      Code
	// Currency is the fiat currency the lines' Fiat is in (the invoice's).
	Currency string
	At       time.Time
	Lines    []Line
}

// rated values satoshis in a currency at a rate, to its precision.
type rated struct {
	rate decimal.Decimal
	cur  money.Currency
}

func (r rated) line(a Account, sats money.Sats) Line {
	return Line{Account: a, Sats: sats, Fiat: money.Fiat(sats, r.rate, r.cur)}
}

// balance closes lines with a last one on account a taking whatever
// remains, so that rounding each line to the currency's precision never
// unbalances them.
func balance(lines []Line, a Account) []Line {
	var sats money.Sats
	fiat := decimal.Zero
	for _, l := range lines {
		sats += l.Sats
		fiat = fiat.Add(l.Fiat)
	}
	if sats == 0 && fiat.IsZero() {
		return lines
	}
	return append(lines, Line{Account: a, Sats: -sats, Fiat: fiat.Neg()})
}

// invoiceRate is an invoice's bound method's locked rate in its currency
// (the first method's while none is bound).
func invoiceRate(inv *invoice.Invoice) (rated, bool) {
	cur, ok := money.LookupCurrency(inv.Currency)
	if !ok {
		return rated{}, false
	}
	m := inv.Bound()
	if m == nil && len(inv.Methods) > 0 {
		m = &inv.Methods[0]
	}
	if m == nil {
		return rated{}, false
	}
	return rated{rate: m.Rate, cur: cur}, true
}

// Invoice returns what an invoice in its state has booked in total:
//   - complete: the sale (wallet, sales at what was due) and, beyond it,
//     what the buyer paid over it or late, owed back (buyer credit);
//   - expired, invalid or declined with money received: all of it owed
//     back to the buyer (buyer credit) until a refund pays it;
//   - anything else (new, paid, confirmed: not yet final): nothing.
//
// A complete invoice that a reorg sends back, or whose payment is removed,
// calls for less: the difference is a reversing posting.
func Invoice(inv *invoice.Invoice) []Line {
	r, ok := invoiceRate(inv)
	received := inv.Received()
	if !ok || received <= 0 {
		return nil
	}
	switch inv.Status {
	case invoice.StatusComplete:
		sale := min(inv.Due(), received)
		lines := []Line{r.line(Wallet, received), r.line(Sales, -sale)}
		return balance(lines, BuyerCredit)
	case invoice.StatusExpired, invoice.StatusInvalid, invoice.StatusDeclined:
		return balance([]Line{r.line(Wallet, received)}, BuyerCredit)
	}
	return nil
}

// Refund returns what a refund in its state has booked in total: once it
// succeeds, what it paid out of the wallet, charged to against (Refunds
// for a sale given back, BuyerCredit for money the store owed the buyer),
// and its network fee to NetworkFees unless the buyer bore it. inv gives
// the rate of its fiat side.
func Refund(r *refund.Refund, inv *invoice.Invoice, against Account) []Line {
	if r.Status != refund.StatusSuccess {
		return nil
	}
	rt, ok := invoiceRate(inv)
	if !ok {
		return nil
	}
	lines := []Line{rt.line(against, r.Sats)}
	if !r.BuyerPaysFee && r.Fee > 0 {
		lines = append(lines, rt.line(NetworkFees, r.Fee))
	}
	return balance(lines, Wallet)
}

// CodeOf names a posting of lines on subject: the sale's code when it
// moves sales, the refund's for a refund, else the buyer credit's.
func CodeOf(subject Subject, lines []Line) Code {
	if subject == SubjectRefund {
		return CodeInvoiceRefund
	}
	for _, l := range lines {
		if l.Account == Sales {
			return CodeSale
		}
	}
	return CodeBuyerCredit
}
