// Package money holds kassa's amounts: satoshis as int64, fiat amounts and
// exchange rates as decimals with ISO 4217 precision. No float64 ever appears
// on a money path; money_test.go proves it for this package and its callers.
package money

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Sats is an amount of bitcoin in satoshis.
type Sats int64

// SatsPerBTC is the number of satoshis in one bitcoin.
const SatsPerBTC Sats = 100_000_000

var satsPerBTC = decimal.NewFromInt(int64(SatsPerBTC))

// BTC renders s as a decimal bitcoin string without trailing zeros
// ("0.000298"), the form BitPay uses for display amounts and btcDue.
func (s Sats) BTC() string {
	return decimal.New(int64(s), -8).String()
}

// Decimal returns s in bitcoin as a decimal.
func (s Sats) Decimal() decimal.Decimal { return decimal.New(int64(s), -8) }

// ParseBTC parses a decimal bitcoin amount ("0.0001") into satoshis. It
// rejects negative amounts and amounts finer than one satoshi.
func ParseBTC(s string) (Sats, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("parse bitcoin amount %q: %w", s, err)
	}
	if d.IsNegative() {
		return 0, fmt.Errorf("parse bitcoin amount %q: negative", s)
	}
	sat := d.Mul(satsPerBTC)
	if !sat.Equal(sat.Truncate(0)) {
		return 0, fmt.Errorf("parse bitcoin amount %q: finer than one satoshi", s)
	}
	if sat.GreaterThan(decimal.NewFromInt(int64(MaxSats))) {
		return 0, fmt.Errorf("parse bitcoin amount %q: more than 21 million BTC", s)
	}
	return Sats(sat.IntPart()), nil
}

// MaxSats is the most satoshis there will ever be.
const MaxSats Sats = 21_000_000 * SatsPerBTC

// Errors returned when pricing an invoice.
var (
	ErrNonPositivePrice = errors.New("price must be greater than zero")
	ErrPriceTooLarge    = errors.New("price is too large")
	ErrBadRate          = errors.New("exchange rate must be greater than zero")
	ErrTooPrecise       = errors.New("price has more decimals than the currency allows")
)

// MaxPrice bounds any fiat price: large enough for any real order, small
// enough that price/rate arithmetic never approaches int64 limits.
var MaxPrice = decimal.New(1, 12)

// BTCDue converts a fiat price at a rate (fiat per BTC) into satoshis,
// rounded up to the satoshi so the merchant is never paid short.
func BTCDue(price, rate decimal.Decimal) (Sats, error) {
	if !price.IsPositive() {
		return 0, ErrNonPositivePrice
	}
	if price.GreaterThan(MaxPrice) {
		return 0, ErrPriceTooLarge
	}
	if !rate.IsPositive() {
		return 0, ErrBadRate
	}
	// price*1e8/rate, exact division then ceiling: DivRound would round half
	// away, so divide with ample precision and take the ceiling.
	sat := price.Mul(satsPerBTC).DivRound(rate, 16).Ceil()
	if sat.GreaterThan(decimal.NewFromInt(int64(MaxSats))) {
		return 0, ErrPriceTooLarge
	}
	if sat.IsZero() {
		sat = decimal.NewFromInt(1)
	}
	return Sats(sat.IntPart()), nil
}

// Fiat converts satoshis to a fiat amount at rate, rounded half-up to the
// currency's precision.
func Fiat(s Sats, rate decimal.Decimal, c Currency) decimal.Decimal {
	return s.Decimal().Mul(rate).Round(c.Precision)
}

// Currency is an ISO 4217 currency (or BTC) with its minor-unit precision.
type Currency struct {
	Code      string
	Name      string
	Symbol    string
	Precision int32
}

// ParsePrice validates a fiat price for a currency: positive, not absurd,
// and with no more decimals than the currency has.
func ParsePrice(s string, c Currency) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return decimal.Zero, fmt.Errorf("price %q is not a number", s)
	}
	return CheckPrice(d, c)
}

// CheckPrice validates an already parsed price for a currency.
func CheckPrice(d decimal.Decimal, c Currency) (decimal.Decimal, error) {
	if !d.IsPositive() {
		return decimal.Zero, ErrNonPositivePrice
	}
	if d.GreaterThan(MaxPrice) {
		return decimal.Zero, ErrPriceTooLarge
	}
	if !d.Equal(d.Truncate(c.Precision)) {
		return decimal.Zero, fmt.Errorf("%w: %s has %d", ErrTooPrecise, c.Code, c.Precision)
	}
	return d, nil
}

// LookupCurrency finds a currency by code, case-insensitively.
func LookupCurrency(code string) (Currency, bool) {
	c, ok := currencies[strings.ToUpper(strings.TrimSpace(code))]
	return c, ok
}

// Currencies lists every currency kassa can price in, ordered by code.
func Currencies() []Currency {
	out := make([]Currency, 0, len(currencies))
	for _, code := range currencyOrder {
		out = append(out, currencies[code])
	}
	return out
}
