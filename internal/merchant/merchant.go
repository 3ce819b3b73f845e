// Package merchant holds a merchant's store: the settings an invoice is
// created under (receiving key, speed, expiry, gap limit, invoice limits).
package merchant

import (
	"github.com/kassa-pay/kassa/internal/money"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// Store is one merchant store. A server may hold several.
type Store struct {
	ID      string
	Name    string
	Network string // mainnet, testnet, signet, regtest
	// Key is the receiving key as the merchant gave it: an extended public
	// key (xpub/ypub/zpub/tpub/upub/vpub) or an output descriptor.
	Key             string
	Speed           invoice.Speed
	Expiry          time.Duration // invoice payment window, default 15 minutes
	GapLimit        int           // most unpaid addresses in a row, default 20
	DefaultCurrency string
	CreatedAt       time.Time
	// SignIPN adds an x-signature header to the store's IPNs: base64 of
	// HMAC-SHA256 of the body keyed with one of the store's API tokens
	// (see package notify). BitPay's IPNs are unsigned; off by default.
	SignIPN bool
	// InvoiceLimits caps how fast the store creates invoices; nil means
	// the server's default (KASSA_INVOICE_LIMITS, else DefaultLimits).
	InvoiceLimits *Limits
	// FeeFloor and FeeCeiling bound the network fee rate of the store's
	// spends (refunds, payouts), in satoshis per vbyte: the chain
	// backend's estimate is raised to the floor and capped at the
	// ceiling, and a signed transaction paying more is refused. Zero is
	// the default.
	FeeFloor   money.Sats
	FeeCeiling money.Sats
	// NoAutoRefunds turns off the automatic refunds of exceptions (an
	// invoice that expires part-paid, the excess of an over-paid one),
	// which are on by default: each waits for the buyer's address and the
	// merchant's signature like any refund.
	NoAutoRefunds bool
}

// FeeRates returns the store's fee floor and ceiling, defaults filled in.
func (s Store) FeeRates() (floor, ceiling money.Sats) {
	floor, ceiling = s.FeeFloor, s.FeeCeiling
	if floor <= 0 {
		floor = DefaultFeeFloor
	}
	if ceiling <= 0 {
		ceiling = DefaultFeeCeiling
	}
	return floor, max(floor, ceiling)
}

// Methods returns the payment methods the store's invoices offer, in the
// order the checkout shows them: today bitcoin on-chain, to the addresses
// of its Key (with GapLimit), which every store has. The Lightning issue
// adds a method a store configures beside it.
func (s Store) Methods() []invoice.MethodID {
	return []invoice.MethodID{invoice.MethodBTC}
}

// Defaults for a new store.
const (
	DefaultExpiry   = 15 * time.Minute
	DefaultGapLimit = 20
	// DefaultFeeFloor and DefaultFeeCeiling bound a spend's fee rate in
	// satoshis per vbyte: 1 is the network's relay minimum; 200 is far
	// above what a spend needs on an ordinary day and well below a fee
	// that would eat a small refund.
	DefaultFeeFloor   money.Sats = 1
	DefaultFeeCeiling money.Sats = 200
)
