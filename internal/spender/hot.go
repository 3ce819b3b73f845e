package spender

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
)

// overLimitError is the hot signer's daily limit refusing a spend.
type overLimitError struct {
	limit, signed, amount money.Sats
}

func (e *overLimitError) Error() string {
	return fmt.Sprintf("the spend (%d sats) would take the hot signer past its limit of %d sats per %s (%d signed)",
		e.amount, e.limit, HotWindow, e.signed)
}

// errHotKeyRemoved: the store's hot key went between opening and recording.
var errHotKeyRemoved = errors.New("the store's hot key was removed")

// withinLimit is the hot signer's rule: what it signed in the window plus
// amount must not exceed the limit.
func withinLimit(limit, signed, amount money.Sats) error {
	if signed+amount > limit {
		return &overLimitError{limit: limit, signed: signed, amount: amount}
	}
	return nil
}

// signHot signs an unsigned spend with the store's hot key and submits it
// like any upload (checked, recorded with its subject, sent), with the
// daily limit checked and the signature counted in the unit that records
// it. Without a hot key, over the limit, or when the key cannot be used,
// the spend stays unsigned for the merchant's wallet and the reason is
// logged: it returns the spend as it is now, never an error.
func (e *Engine) signHot(ctx context.Context, s spend.Spend) spend.Spend {
	log := e.log.With("spend", s.ID, "store", s.StoreID)
	if e.cfg.Hot == nil {
		log.Info("no hot signer configured: the spend waits for the merchant's signature")
		return s
	}
	st, err := e.cfg.Store.GetStore(ctx, s.StoreID)
	if err != nil {
		log.Warn("hot signer: the spend waits for the merchant's signature", "err", err)
		return s
	}
	k, err := key(st)
	if err != nil {
		log.Warn("hot signer: the spend waits for the merchant's signature", "err", err)
		return s
	}
	hot, err := e.cfg.Hot.Key(ctx, st, k)
	switch {
	case err != nil:
		log.Warn("the hot signer cannot open the store's key: the spend waits for the merchant's signature", "err", err)
		return s
	case hot == nil:
		log.Info("the store has no hot key: the spend waits for the merchant's signature")
		return s
	}
	signed, err := hot.Sign(approved(s.Plan))
	if err != nil {
		log.Warn("the hot signer could not sign: the spend waits for the merchant's signature", "err", err)
		return s
	}
	amount := s.Total() + s.Fee
	next, err := e.submit(ctx, s.ID, signed, func(u *store.Unit) error {
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
	var over *overLimitError
	switch {
	case errors.As(err, &over):
		log.Info("over the hot signer's daily limit: the spend waits for the merchant's signature",
			"amount", int64(over.amount), "limit", int64(over.limit), "signedInWindow", int64(over.signed))
		return next
	case err != nil:
		log.Warn("hot signer: the spend waits for the merchant's signature", "err", err)
		return next
	}
	log.Info("spend signed by the hot signer", "txid", next.TxID, "amount", int64(amount), "status", string(next.Status))
	return next
}
