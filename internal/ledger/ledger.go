// Package ledger keeps a store's books: double-entry postings that
// explain every satoshi that reached the merchant's wallet or left it,
// with its value in the invoice's currency at the invoice's locked rate.
//
// The rules are pure and stated as what a resource should have booked in
// total for its state (Invoice, Refund: a set of balanced lines). A
// change of state is posted as the difference between what the new state
// calls for and what the resource has booked so far (Diff), so a
// correction, or a reorg undoing a sale, is always a new posting that
// reverses what no longer holds: nothing is ever edited or deleted, and
// the books of a resource always add up to what its current state calls
// for. Nothing here does I/O or reads the clock.
package ledger

import (
	"cmp"
	"slices"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// Account is one of a store's ledger accounts.
type Account string

// The accounts. Debits are positive, credits negative.
const (
	// Wallet is the merchant's coins: what buyers paid in, less what
	// refunds and their fees paid out (an asset).
	Wallet Account = "wallet"
	// Sales is what invoices sold, recognised when an invoice is complete
	// (BitPay's 1000; revenue).
	Sales Account = "sales"
	// BuyerCredit is what the store owes buyers: the excess of an
	// over-payment, everything paid to an invoice that failed, late
	// payments (BitPay's 1003; a liability).
	BuyerCredit Account = "buyer_credit"
	// Refunds is what the merchant gave back of sales (BitPay's 1020;
	// contra-revenue).
	Refunds Account = "refunds"
	// NetworkFees is what the merchant's spends paid miners (an expense).
	NetworkFees Account = "network_fees"
)

// Line is one account's share of a posting: satoshis and their value in
// the fiat currency of the resource (both signed: debit positive).
type Line struct {
	Account Account
	Sats    money.Sats
	Fiat    decimal.Decimal
}

// Balanced reports whether lines sum to zero in satoshis and in fiat.
func Balanced(lines []Line) bool {
	var sats money.Sats
	fiat := decimal.Zero
	for _, l := range lines {
		sats += l.Sats
		fiat = fiat.Add(l.Fiat)
	}
	return sats == 0 && fiat.IsZero()
}

// Sum adds lines up per account, in the order of the accounts' names,
// dropping accounts that come to zero.
func Sum(lines ...[]Line) []Line {
	by := map[Account]*Line{}
	for _, ls := range lines {
		for _, l := range ls {
			t, ok := by[l.Account]
			if !ok {
				t = &Line{Account: l.Account, Fiat: decimal.Zero}
				by[l.Account] = t
			}
			t.Sats += l.Sats
			t.Fiat = t.Fiat.Add(l.Fiat)
		}
	}
	out := make([]Line, 0, len(by))
	for _, t := range by {
		if t.Sats != 0 || !t.Fiat.IsZero() {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.Account, b.Account) })
	return out
}

// Diff returns the lines that take booked to target: empty when they
// agree. Both balanced, the difference is balanced.
func Diff(booked, target []Line) []Line {
	neg := make([]Line, len(booked))
	for i, l := range booked {
		neg[i] = Line{Account: l.Account, Sats: -l.Sats, Fiat: l.Fiat.Neg()}
	}
	return Sum(target, neg)
}

// Balances returns each account's balance over postings' lines.
func Balances(postings []Posting) []Line {
	all := make([][]Line, len(postings))
	for i, p := range postings {
		all[i] = p.Lines
	}
	return Sum(all...)
}
