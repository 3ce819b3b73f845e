package invoice

import (
	"fmt"
	"strconv"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// MethodID names a way to pay an invoice, as BitPay names the currency a
// buyer pays with (paymentCodes, paymentSubtotals, transactionCurrency).
type MethodID string

// The payment methods kassa offers.
const (
	// MethodBTC is bitcoin on-chain: an address derived for the invoice
	// from the store's key; a payment is an output paying it, final after
	// confirmations.
	MethodBTC MethodID = "BTC"
)

// Method is one way an invoice can be paid: what it costs in the method's
// currency at a rate locked when the invoice was made, and where to pay.
// An invoice offers one or more; the first payment binds it to one.
type Method struct {
	ID MethodID
	// Currency is the currency the buyer pays in ("BTC").
	Currency string
	// Rate is the invoice's Currency per unit of this Currency, locked at
	// creation (1 when they are the same).
	Rate decimal.Decimal
	// Due is the amount due in total, in satoshis, rounded up.
	Due money.Sats
	// Destination is where the buyer pays: the address, on-chain.
	Destination string

	// On-chain: the output script watched for payments, the address's
	// derivation index on the store key's receive branch, and whether the
	// gap-limit governor reused it from an invoice that expired unpaid.
	Script   []byte
	KeyIndex uint32
	Reused   bool
}

// Method returns the invoice's method id, or nil when it does not offer it.
func (inv *Invoice) Method(id MethodID) *Method {
	for i := range inv.Methods {
		if inv.Methods[i].ID == id {
			return &inv.Methods[i]
		}
	}
	return nil
}

// Bound returns the method the invoice is paid by: the method of its first
// live payment, else the first method it offers; nil for an invoice that
// offers none (never a stored one).
func (inv *Invoice) Bound() *Method {
	for _, p := range inv.Payments {
		if !p.Removed {
			if m := inv.Method(p.Method); m != nil {
				return m
			}
		}
	}
	if len(inv.Methods) == 0 {
		return nil
	}
	return &inv.Methods[0]
}

// Due returns the satoshis due by the method the invoice is bound to.
func (inv *Invoice) Due() money.Sats {
	if m := inv.Bound(); m != nil {
		return m.Due
	}
	return 0
}

// Confirmations returns the payment's confirmations at a chain tip, by its
// method's finality rule: on-chain, the blocks from the one that confirms
// it to the tip, none while it is in the mempool or removed.
func (p Payment) Confirmations(tip int32) int32 {
	if p.Removed || p.Height <= 0 || tip < p.Height {
		return 0
	}
	return tip - p.Height + 1
}

// Ref is the payment's reference in its method: the outpoint txid:vout
// on-chain.
func (p Payment) Ref() string {
	return p.TxID + ":" + strconv.FormatUint(uint64(p.Vout), 10)
}

// checkMethods rejects an invoice whose methods could not be paid: none, a
// method twice, an unknown one, or one without an amount.
func (inv *Invoice) checkMethods() error {
	if len(inv.Methods) == 0 {
		return fmt.Errorf("invoice %s offers no payment method: %w", inv.ID, ErrInvalidInvoice)
	}
	for i, m := range inv.Methods {
		switch {
		case m.ID != MethodBTC:
			return fmt.Errorf("invoice %s: unknown payment method %q: %w", inv.ID, m.ID, ErrInvalidInvoice)
		case m.Due <= 0:
			return fmt.Errorf("invoice %s: method %s has no amount due: %w", inv.ID, m.ID, ErrInvalidInvoice)
		case inv.Method(m.ID) != &inv.Methods[i]:
			return fmt.Errorf("invoice %s: method %s offered twice: %w", inv.ID, m.ID, ErrInvalidInvoice)
		}
	}
	return nil
}
