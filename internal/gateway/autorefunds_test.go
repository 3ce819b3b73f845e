package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/refund"
)

// act applies an invoice event as the processor or the API would, at
// the invoice's tip plus confirmations.
func (f *refunds) act(inv invoice.Invoice, ev invoice.Event, at time.Time) invoice.Invoice {
	f.t.Helper()
	next, notes, err := invoice.Apply(inv, ev, invoice.Env{Now: at, Tip: kassatest.PayHeight + 5})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.UpdateInvoice(context.Background(), &next, notes); err != nil {
		f.t.Fatal(err)
	}
	return next
}

// TestAutoRefunds: an invoice that expires part-paid is refunded all it
// received, an over-paid complete one its excess, each once however often
// the round runs, in BTC with the buyer bearing the fee and no address
// yet; crediting the over payment cancels its refund; a store that turned
// them off gets none.
func TestAutoRefunds(t *testing.T) {
	ctx := context.Background()
	f := newRefunds(t)
	partial := f.invoice(7_000, 6) // of 20,000 due
	partial = f.act(partial, invoice.Tick{}, partial.ExpiresAt.Add(time.Minute))
	if partial.Status != invoice.StatusExpired || partial.Exception != invoice.ExceptionPaidPartial {
		t.Fatalf("setup: %s/%s", partial.Status, partial.Exception)
	}
	over := f.invoice(25_000, 6)
	if over.Status != invoice.StatusComplete || over.Exception != invoice.ExceptionPaidOver {
		t.Fatalf("setup: %s/%s", over.Status, over.Exception)
	}
	paidOK := f.invoice(20_000, 6) // no exception: no refund

	for round := range 2 {
		made, cancelled, err := f.svc.AutoRefunds(ctx, f.db)
		if err != nil {
			t.Fatal(err)
		}
		if want := 2 * (1 - round); made != want || cancelled != 0 {
			t.Fatalf("round %d: made %d, cancelled %d, want %d made", round, made, cancelled, want)
		}
	}
	for id, sats := range map[string]int64{partial.ID: 7_000, over.ID: 5_000, paidOK.ID: 0} {
		rs, err := f.db.InvoiceRefunds(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if sats == 0 {
			if len(rs) != 0 {
				t.Fatalf("invoice %s without exception refunded: %+v", id, rs)
			}
			continue
		}
		if len(rs) != 1 {
			t.Fatalf("invoice %s: %d refunds", id, len(rs))
		}
		r := rs[0]
		if int64(r.Sats) != sats || r.Currency != "BTC" || !r.BuyerPaysFee || r.Address != "" ||
			r.Status != refund.StatusCreated || r.GUID != refund.AutoPrefix+id {
			t.Fatalf("automatic refund of %s: %+v", id, r)
		}
	}

	// The merchant credits the over payment: its refund is cancelled.
	over, err := f.db.GetInvoice(ctx, over.ID) // a refund moves its invoice's version
	if err != nil {
		t.Fatal(err)
	}
	f.act(over, invoice.AcceptOverpayment{}, over.UpdatedAt.Add(time.Minute))
	made, cancelled, err := f.svc.AutoRefunds(ctx, f.db)
	if err != nil || made != 0 || cancelled != 1 {
		t.Fatalf("after the credit: made %d, cancelled %d, %v", made, cancelled, err)
	}
	if rs, _ := f.db.InvoiceRefunds(ctx, over.ID); rs[0].Status != refund.StatusCancelled {
		t.Fatalf("the credited invoice's refund: %s", rs[0].Status)
	}
	if rs, _ := f.db.InvoiceRefunds(ctx, partial.ID); rs[0].Status != refund.StatusCreated {
		t.Fatalf("the partial invoice's refund: %s", rs[0].Status)
	}

	// A store that turned them off.
	st, err := f.db.GetStore(ctx, f.storeID)
	if err != nil {
		t.Fatal(err)
	}
	st.NoAutoRefunds = true
	if err := f.db.UpdateStoreSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.db.GetStore(ctx, f.storeID); !got.NoAutoRefunds {
		t.Fatal("the setting was not stored")
	}
	late := f.invoice(3_000, 6)
	f.act(late, invoice.Tick{}, late.ExpiresAt.Add(time.Minute))
	if made, _, err := f.svc.AutoRefunds(ctx, f.db); err != nil || made != 0 {
		t.Fatalf("a store without automatic refunds: made %d, %v", made, err)
	}
}
