package spender

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
)

// The hot signer's refusals, for the dashboard to speak of (SignHot);
// PrepareRefund only logs them and leaves the spend for the merchant.
var (
	// ErrNoHotSigner: this kassa has no hot signer (no passphrase is
	// configured, so no hot key can be opened).
	ErrNoHotSigner = errors.New("this kassa has no hot signer: its passphrase is not configured")
	// ErrNoHotKey: the store has no hot key.
	ErrNoHotKey = errors.New("the store has no hot signer key")
	// ErrHotLimit: the spend would take the hot signer past the store's
	// daily limit; it wraps the amounts.
	ErrHotLimit = errors.New("over the hot signer's daily limit")
	// ErrHotKey: the store's hot key cannot be opened or cannot sign
	// this spend.
	ErrHotKey = errors.New("the hot signer cannot use the store's key")
)

// overLimitError is the hot signer's daily limit refusing a spend.
type overLimitError struct {
	limit, signed, amount money.Sats
}

func (e *overLimitError) Error() string {
	return fmt.Sprintf("the spend (%d sats) would take the hot signer past its limit of %d sats per %s (%d signed)",
		e.amount, e.limit, HotWindow, e.signed)
}

func (e *overLimitError) Unwrap() error { return ErrHotLimit }

// errHotKeyRemoved: the store's hot key went between opening and recording.
var errHotKeyRemoved = fmt.Errorf("%w: the store's hot key was removed", ErrNoHotKey)

// withinLimit is the hot signer's rule: what it signed in the window plus
// amount must not exceed the limit.
func withinLimit(limit, signed, amount money.Sats) error {
	if signed+amount > limit {
		return &overLimitError{limit: limit, signed: signed, amount: amount}
	}
	return nil
}

// signHot signs an unsigned spend with the store's hot key and submits it
// like any upload (hotSign). Without a hot key, over the limit, or when
// the key cannot be used, the spend stays unsigned for the merchant's
// wallet and the reason is logged: it returns the spend as it is now,
// never an error.
func (e *Engine) signHot(ctx context.Context, s spend.Spend) spend.Spend {
	log := e.log.With("spend", s.ID, "store", s.StoreID)
	next, err := e.hotSign(ctx, s)
	var over *overLimitError
	switch {
	case err == nil:
		log.Info("spend signed by the hot signer", "txid", next.TxID, "amount", int64(next.Total()+next.Fee),
			"status", string(next.Status))
	case errors.Is(err, ErrNoHotSigner):
		log.Info("no hot signer configured: the spend waits for the merchant's signature")
	case errors.Is(err, ErrNoHotKey):
		log.Info("the store has no hot key: the spend waits for the merchant's signature", "err", err)
	case errors.As(err, &over):
		log.Info("over the hot signer's daily limit: the spend waits for the merchant's signature",
			"amount", int64(over.amount), "limit", int64(over.limit), "signedInWindow", int64(over.signed))
	case errors.Is(err, ErrHotKey):
		log.Warn("the hot signer cannot open the store's key: the spend waits for the merchant's signature", "err", err)
	default:
		log.Warn("hot signer: the spend waits for the merchant's signature", "err", err)
	}
	return next
}

// hotSign signs an unsigned spend with the store's hot key and submits it
// like any upload (checked by CheckSigned, recorded with its subject,
// sent), with the daily limit checked and the signature counted in the
// unit that records it. It returns the spend as it is now and, when the
// spend was not signed, why: ErrNoHotSigner, ErrNoHotKey, ErrHotLimit,
// ErrHotKey or Submit's errors.
func (e *Engine) hotSign(ctx context.Context, s spend.Spend) (spend.Spend, error) {
	if e.cfg.Hot == nil {
		return s, ErrNoHotSigner
	}
	st, k, err := e.storeKey(ctx, s.StoreID)
	if err != nil {
		return s, err
	}
	hot, err := e.cfg.Hot.Key(ctx, st, k)
	switch {
	case err != nil:
		return s, fmt.Errorf("%w: %w", ErrHotKey, err)
	case hot == nil:
		return s, ErrNoHotKey
	}
	signed, err := hot.Sign(approved(s.Plan))
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrHotKey, err)
	}
	amount := s.Total() + s.Fee
	return e.submit(ctx, s.ID, signed, func(u *store.Unit) error {
		limit, done, err := u.HotBudget(s.StoreID, e.now().Add(-HotWindow))
		if errors.Is(err, store.ErrNotFound) {
			return errHotKeyRemoved
		}
		if err != nil {
			return err
		}
		if err := withinLimit(limit, done, amount); err != nil {
			return err
		}
		return u.HotSigned(s.StoreID, s.ID, amount, e.now())
	})
}
