package spender

import (
	"context"
	"fmt"

	"github.com/kassa-pay/kassa/internal/spend"
)

// SignHot signs an unsigned spend with its store's hot key at the
// merchant's request (the dashboard's button, behind the owner's second
// factor) and sends it, as PrepareRefund does for an immediate refund:
// the PSBT is made fresh first, CheckSigned checks the signed
// transaction, and the store's daily limit is checked and the signature
// counted in the unit that records it. A spend it does not sign is left
// as it was, and the error says why: ErrNotSignable, ErrNoHotSigner,
// ErrNoHotKey, ErrHotLimit, ErrHotKey, or Submit's errors.
func (e *Engine) SignHot(ctx context.Context, spendID string) (spend.Spend, error) {
	s, err := e.cfg.Store.GetSpend(ctx, spendID)
	if err != nil {
		return s, err
	}
	if s.Status != spend.StatusUnsigned {
		return s, fmt.Errorf("spend %s (%s): %w", s.ID, s.Status, ErrNotSignable)
	}
	if s, _, err = e.freshen(ctx, s); err != nil {
		return s, err
	}
	next, err := e.hotSign(ctx, s)
	if err != nil {
		return next, fmt.Errorf("spend %s: %w", s.ID, err)
	}
	e.log.Info("spend signed by the hot signer at the merchant's request", "spend", s.ID, "store", s.StoreID,
		"txid", next.TxID, "status", string(next.Status))
	return next, nil
}
