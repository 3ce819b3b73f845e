package merchant

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Bounds of a store's settings.
const (
	MaxNameLen  = 100
	MinExpiry   = time.Minute
	MaxExpiry   = 24 * time.Hour
	MaxGapLimit = 10000
)

// SettingError is a store setting that cannot be used: Field names it as
// the CLI's flags and the dashboard's form do (name, xpub, currency,
// speed, expiry, gap-limit, invoice-limits) and Msg says what to fix. Err
// is the cause, when another package found it (a key's parse error).
type SettingError struct {
	Field string
	Msg   string
	Err   error
}

func (e *SettingError) Error() string { return e.Field + ": " + e.Msg }
func (e *SettingError) Unwrap() error { return e.Err }

// MaxFeeRate bounds the fee floor and ceiling a store may set, in sat/vB:
// far above any fee the network has asked for, low enough that a typo
// cannot spend a refund on fees.
const MaxFeeRate = 10_000

// Validate checks every setting of s, as the CLI and the dashboard
// accept them, and writes the key and currency in their canonical forms
// (the key as a descriptor for s.Network, the currency's code upper
// case). The first setting at fault is returned as a *SettingError.

func (s *Store) Validate() error {
	name := strings.TrimSpace(s.Name)
	if name == "" || len(name) > MaxNameLen {
		return &SettingError{Field: "name", Msg: fmt.Sprintf("give the store a name of 1 to %d characters", MaxNameLen)}
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return &SettingError{Field: "name", Msg: "the name cannot hold control characters"}
	}
	if strings.TrimSpace(s.Key) == "" {
		return &SettingError{Field: "xpub", Msg: "give the receiving key: an extended public key (xpub, ypub, zpub, tpub, upub, vpub) or an output descriptor"}
	}
	k, err := wallet.ParseKey(strings.TrimSpace(s.Key), s.Network)
	if err != nil {
		return &SettingError{Field: "xpub", Msg: err.Error(), Err: err}
	}
	cur, ok := money.LookupCurrency(strings.TrimSpace(s.DefaultCurrency))
	if !ok {
		return &SettingError{Field: "currency", Msg: fmt.Sprintf("%q is not a supported currency (such as USD or EUR)", s.DefaultCurrency)}
	}
	if !s.Speed.Valid() {
		return &SettingError{Field: "speed", Msg: fmt.Sprintf("%q is not high, medium or low", s.Speed)}
	}
	if s.Expiry < MinExpiry || s.Expiry > MaxExpiry {
		return &SettingError{Field: "expiry", Msg: fmt.Sprintf("the invoice expiry must be between %d and %d minutes", MinExpiry/time.Minute, MaxExpiry/time.Minute)}
	}
	if s.GapLimit < 1 || s.GapLimit > MaxGapLimit {
		return &SettingError{Field: "gap-limit", Msg: fmt.Sprintf("the gap limit must be between 1 and %d", MaxGapLimit)}
	}
	if s.FeeFloor < 0 || s.FeeCeiling < 0 || s.FeeFloor > MaxFeeRate || s.FeeCeiling > MaxFeeRate {
		return &SettingError{Field: "fee-ceiling", Msg: fmt.Sprintf("fee rates are between 1 and %d sat/vB (0 for the default)", MaxFeeRate)}
	}
	if s.FeeCeiling > 0 && s.FeeFloor > s.FeeCeiling {
		return &SettingError{Field: "fee-floor", Msg: "the fee floor is above the ceiling"}
	}
	if l := s.InvoiceLimits; l != nil && !l.Off {
		for _, n := range []int{l.PerHour, l.PerMinute, l.PerSecond} {
			if n < 0 || n > MaxLimit {
				return &SettingError{Field: "invoice-limits", Msg: fmt.Sprintf("each limit must be between 1 and %d", MaxLimit)}
			}
		}
	}
	s.Name, s.Key, s.DefaultCurrency = name, k.String(), cur.Code
	return nil
}

// ErrKeyLocked refuses a change of a store's receiving key (or network)
// once it has invoices: their addresses, and the payments the watcher
// looks for, come from the key they were created under.
var ErrKeyLocked = errors.New("the receiving key cannot change once the store has invoices")

// CheckKeyChange applies the key-lock rule to a change from s to next,
// given whether the store has invoices.
func (s Store) CheckKeyChange(next Store, hasInvoices bool) error {
	if !hasInvoices || (next.Key == s.Key && next.Network == s.Network) {
		return nil
	}
	// The same key with its origin added (or corrected): not one address
	// changes.
	a, aerr := wallet.ParseKey(s.Key, s.Network)
	b, berr := wallet.ParseKey(next.Key, next.Network)
	if aerr == nil && berr == nil && a.SameAddresses(b) {
		return nil
	}
	return ErrKeyLocked
}
