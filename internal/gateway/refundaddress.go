package gateway

// This file is the buyer's side of a refund without an address: the
// refund page (package web) reads the refund and records the address the
// buyer gives, both only with the secret of the link mailed to the buyer;
// and the leader's sweep fails the refunds whose buyer gave none in time.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// BuyerRefund returns a refund for its buyer's page: secret must be the
// refund's AddressSecret (compared in constant time). An unknown refund
// and a wrong secret are the same store.ErrNotFound, so the page tells
// nobody which refund ids exist.
func (s *Refunds) BuyerRefund(ctx context.Context, id, secret string) (*refund.Refund, error) {
	r, err := s.cfg.Store.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.AddressSecret == "" || subtle.ConstantTimeCompare([]byte(r.AddressSecret), []byte(secret)) != 1 {
		return nil, fmt.Errorf("refund %s: wrong secret: %w", id, store.ErrNotFound)
	}
	return &r, nil
}

// SetBuyerAddress records the address a buyer gives on the refund page,
// with the link's secret: validated for the network and never the
// store's own (an *InputError of Kind ErrBadAddress or ErrOwnAddress), once
// (refund.ErrHasAddress for another address) and before the refund's
// deadline (refund.ErrAddressExpired); a refund no longer waiting (paid,
// cancelled, failed) is refund.ErrIllegalTransition. On any error nothing
// changed.
func (s *Refunds) SetBuyerAddress(ctx context.Context, id, secret, address string) (*refund.Refund, error) {
	if _, err := s.BuyerRefund(ctx, id, secret); err != nil {
		return nil, err
	}
	return s.SetAddress(ctx, id, address)
}

// sweepBatch is how many refunds one ExpireAddressRequests query takes.
const sweepBatch = 100

// ExpireAddressRequests fails every refund whose buyer gave no address by
// its deadline (refund.AddressTimeout: refund_failure with
// refund.ReasonNoAddress) and returns how many it failed. One whose buyer
// gives the address at the same moment keeps it: the timeout is judged
// again on the refund as it is, and the one that commits first wins. The
// leader runs it periodically.
func (s *Refunds) ExpireAddressRequests(ctx context.Context) (int, error) {
	failed := 0
	for {
		now := s.now()
		rs, err := s.cfg.Store.RefundsPastAddressDeadline(ctx, now, sweepBatch)
		if err != nil {
			return failed, err
		}
		done := 0
		for _, r := range rs {
			_, err := s.act(ctx, r.StoreID, r.ID, refund.AddressTimeout{})
			switch {
			case errors.Is(err, refund.ErrIllegalTransition):
				// It got its address, or was cancelled, meanwhile.
			case err != nil:
				return failed, fmt.Errorf("expire address request of refund %s: %w", r.ID, err)
			default:
				failed++
			}
			done++
		}
		if len(rs) < sweepBatch || done == 0 {
			return failed, nil
		}
	}
}
