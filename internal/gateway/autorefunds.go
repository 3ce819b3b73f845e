package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/refund"
)

// AutoRefundStore is what the automatic refunds read (*store.DB).
type AutoRefundStore interface {
	InvoicesForAutoRefund(ctx context.Context, limit int) ([]invoice.Invoice, error)
	AutoRefundsWaiting(ctx context.Context) ([]refund.Refund, error)
}

// AutoRefunds does one round of the automatic exception refunds
// (refund.Automatic): every invoice of a store that has them on whose
// exception calls for one gets it — a refund in BTC, the buyer bearing the
// network fee, waiting for the buyer's address like any refund without
// one — and an automatic refund whose invoice was credited since
// (creditPartialPayment, creditOverpayment) is cancelled while it has not
// been paid. Each refund's guid is its invoice's (refund.AutoPrefix), so a
// round that runs twice, or on two nodes, makes it once. It returns how
// many refunds it made and cancelled.
func (s *Refunds) AutoRefunds(ctx context.Context, db AutoRefundStore) (made, cancelled int, err error) {
	invs, err := db.InvoicesForAutoRefund(ctx, 500)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for i := range invs {
		inv := &invs[i]
		sats, guid, ok := refund.Automatic(inv)
		if !ok {
			continue
		}
		_, err := s.Create(ctx, inv.StoreID, NewRefund{InvoiceID: inv.ID, Amount: sats.BTC(), Currency: "BTC",
			BuyerPaysFee: true, GUID: guid})
		if err != nil {
			errs = append(errs, fmt.Errorf("automatic refund of invoice %s: %w", inv.ID, err))
			continue
		}
		made++
	}
	waiting, err := db.AutoRefundsWaiting(ctx)
	if err != nil {
		return made, 0, errors.Join(append(errs, err)...)
	}
	for _, r := range waiting {
		inv, err := s.cfg.Store.GetInvoice(ctx, r.InvoiceID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !refund.AutomaticStale(&inv) {
			continue
		}
		if _, err := s.act(ctx, r.StoreID, r.ID, refund.Cancel{}); err != nil {
			errs = append(errs, fmt.Errorf("cancel the automatic refund %s of credited invoice %s: %w", r.ID, inv.ID, err))
			continue
		}
		cancelled++
	}
	return made, cancelled, errors.Join(errs...)
}
