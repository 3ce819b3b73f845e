package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// refunds is a refund service over a store with one merchant, at the
// fixed rates (50,000 USD a bitcoin).
type refunds struct {
	t       *testing.T
	db      *store.DB
	g       *gateway.Gateway
	svc     *gateway.Refunds
	storeID string
	payable []refund.Refund
}

func newRefunds(t *testing.T) *refunds {
	t.Helper()
	db := kassatest.DB(t)
	f := &refunds{t: t, db: db, g: kassatest.Gateway(t, db, nil), storeID: kassatest.Store(t, db).ID}
	var mu sync.Mutex
	f.svc = gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: kassatest.Rates(t), Network: "regtest",
		Payable: func(r refund.Refund) { mu.Lock(); f.payable = append(f.payable, r); mu.Unlock() }})
	return f
}

// invoice creates a 10 USD invoice (20,000 sats) paid with sats,
// confirmed confs times.
func (f *refunds) invoice(sats money.Sats, confs int32) invoice.Invoice {
	f.t.Helper()
	inv, err := f.g.CreateInvoice(context.Background(), f.storeID, gateway.NewInvoice{Price: "10", Currency: "USD",
		Fields: invoice.Fields{NotificationURL: "https://shop.example/ipn"}})
	if err != nil {
		f.t.Fatal(err)
	}
	if sats == 0 {
		return *inv
	}
	return kassatest.Pay(f.t, f.db, inv.ID, sats, confs)
}

// events returns the codes of a subject's outbox events.
func (f *refunds) events(id string) []int {
	f.t.Helper()
	evs, err := f.db.Outbox(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	var codes []int
	for _, e := range evs {
		codes = append(codes, e.Code)
	}
	return codes
}

// TestRefundLifecycle walks a complete invoice through previews, refunds,
// cancellations, guids and resends, checking what it can still refund.
func TestRefundLifecycle(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	inv := f.invoice(20_000, 6)
	if inv.Status != invoice.StatusComplete {
		t.Fatalf("fixture: invoice %s", inv.Status)
	}
	create := func(req gateway.NewRefund) (*refund.Refund, error) {
		req.InvoiceID = inv.ID
		return f.svc.Create(ctx, f.storeID, req)
	}

	preview, err := create(gateway.NewRefund{Amount: "4", Preview: true})
	if err != nil || preview.Status != refund.StatusPreview || preview.Sats != 8_000 || preview.Currency != "USD" ||
		!preview.Cancellable || preview.NotificationURL != "https://shop.example/ipn" || preview.Token == "" {
		t.Fatalf("preview: %+v, %v", preview, err)
	}
	if ev := f.events(preview.ID); len(ev) != 0 {
		t.Fatalf("a preview is never announced: %v", ev)
	}
	confirmed, err := f.svc.Confirm(ctx, f.storeID, preview.ID)
	if err != nil || confirmed.Status != refund.StatusCreated || fmt.Sprint(f.events(preview.ID)) != "[5001]" {
		t.Fatalf("confirm: %+v, %v, events %v", confirmed, err, f.events(preview.ID))
	}
	if again, err := f.svc.Confirm(ctx, f.storeID, preview.ID); err != nil || again.Version != confirmed.Version {
		t.Fatalf("confirming twice changes nothing: %+v, %v", again, err)
	}

	// 12,000 sats are left: 10 USD (20,000 sats) is too much.
	var in *gateway.InputError
	if _, err := create(gateway.NewRefund{Amount: "10"}); !errors.As(err, &in) || in.Field != "amount" {
		t.Fatalf("a refund above what is left: %v", err)
	}
	addr := kassatest.Address(t, "refund buyer")
	btc, err := create(gateway.NewRefund{Amount: "0.00012", Currency: "btc", Address: addr, BuyerPaysFee: true, Immediate: true})
	if err != nil || btc.Sats != 12_000 || btc.Currency != "BTC" || btc.Address != addr || !btc.BuyerPaysFee || !btc.Immediate ||
		btc.Status != refund.StatusCreated {
		t.Fatalf("refund in BTC: %+v, %v", btc, err)
	}
	if len(f.payable) != 1 || f.payable[0].ID != btc.ID {
		t.Fatalf("the spend engine learns of the refund with an address only: %+v", f.payable)
	}
	if _, err := create(gateway.NewRefund{Amount: "0.01"}); !errors.As(err, &in) {
		t.Fatalf("nothing is left: %v", err)
	}

	// Cancelling gives back what the refund took.
	cancelled, err := f.svc.Cancel(ctx, f.storeID, confirmed.ID)
	if err != nil || cancelled.Status != refund.StatusCancelled || fmt.Sprint(f.events(confirmed.ID)) != "[5001 5005]" {
		t.Fatalf("cancel: %+v, %v", cancelled, err)
	}
	// The same guid and request are the same refund; another request
	// with it is refused.
	g1, err := create(gateway.NewRefund{Amount: "4.00", GUID: "g-1", Reference: "order 7"})
	if err != nil || g1.GUID != "g-1" || g1.Reference != "order 7" {
		t.Fatalf("refund with a guid: %+v, %v", g1, err)
	}
	if again, err := create(gateway.NewRefund{Amount: "4", Currency: "USD", GUID: "g-1"}); err != nil || again.ID != g1.ID {
		t.Fatalf("the same guid again: %+v, %v", again, err)
	}
	if _, err := create(gateway.NewRefund{Amount: "3", GUID: "g-1"}); !errors.Is(err, gateway.ErrGUIDReused) {
		t.Fatalf("the guid for another amount: %v", err)
	}
	if byGUID, err := f.svc.GetByGUID(ctx, f.storeID, "g-1"); err != nil || byGUID.ID != g1.ID {
		t.Fatalf("GetByGUID: %+v, %v", byGUID, err)
	}

	// Resend: the latest event again; a preview has none.
	if _, err := f.svc.Resend(ctx, g1.ID); err != nil || fmt.Sprint(f.events(g1.ID)) != "[5001 5001]" {
		t.Fatalf("resend: %v, events %v", err, f.events(g1.ID))
	}
	p2, err := f.svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: f.invoice(20_000, 6).ID, Amount: "0.01", Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Resend(ctx, p2.ID); !errors.Is(err, refund.ErrIllegalTransition) {
		t.Fatalf("resend of a preview: %v", err)
	}

	list, err := f.svc.List(ctx, f.storeID, inv.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	if got, _ := f.db.GetInvoice(ctx, inv.ID); got.Status != invoice.StatusComplete {
		t.Fatalf("a refund of a complete invoice leaves it complete: %s", got.Status)
	}

	// The buyer's address, later: validated, never the store's own.
	if _, err := f.svc.SetAddress(ctx, g1.ID, inv.Method(invoice.MethodBTC).Destination); !errors.As(err, &in) {
		t.Fatalf("the store's own address: %v", err)
	}
	withAddr, err := f.svc.SetAddress(ctx, g1.ID, addr)
	if err != nil || withAddr.Address != addr || len(f.payable) != 2 {
		t.Fatalf("set address: %+v, %v, payable %d", withAddr, err, len(f.payable))
	}
}

// TestRefundOfConfirmedInvoice: BitPay refunds a confirmed invoice in full
// and declines it; that refund cannot be cancelled.
func TestRefundOfConfirmedInvoice(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	inv := f.invoice(20_000, 1)
	if inv.Status != invoice.StatusConfirmed {
		t.Fatalf("fixture: invoice %s", inv.Status)
	}
	r, err := f.svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "1"})
	if err != nil || r.Sats != 20_000 || r.Cancellable || !r.Amount.Equal(decimal.NewFromInt(10)) {
		t.Fatalf("refund of a confirmed invoice: %+v, %v", r, err)
	}
	got, _ := f.db.GetInvoice(ctx, inv.ID)
	if got.Status != invoice.StatusDeclined || fmt.Sprint(f.events(inv.ID)) != "[1001 1002 1003 1005 1017]" {
		t.Fatalf("invoice after the refund: %s, events %v", got.Status, f.events(inv.ID))
	}
	if _, err := f.svc.Cancel(ctx, f.storeID, r.ID); !errors.Is(err, refund.ErrNotCancellable) {
		t.Fatalf("cancel a refund that declined its invoice: %v", err)
	}
}

// noRates knows no rate.
type noRates struct{}

func (noRates) Rate(string) (decimal.Decimal, error) {
	return decimal.Zero, errors.New("provider down")
}

// TestRefundBadInput: every refused request is a typed error and changes
// nothing: no refund, no event, the invoice as it was.
func TestRefundBadInput(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	paid := f.invoice(20_000, 6)
	unpaid := f.invoice(0, 0)
	expired, err := f.g.CreateInvoice(ctx, f.storeID, gateway.NewInvoice{Price: "10", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Act(ctx, expired.ID, invoice.Cancel{}); err != nil {
		t.Fatal(err)
	}
	otherStore := kassatest.Store(t, f.db).ID
	foreign, err := f.g.CreateInvoice(ctx, otherStore, gateway.NewInvoice{Price: "10", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	kassatest.Pay(t, f.db, foreign.ID, 20_000, 6)
	broken := gateway.NewRefunds(gateway.RefundsConfig{Store: f.db, Rates: noRates{}, Network: "regtest"})
	field := func(name string) func(error) bool {
		return func(err error) bool {
			var in *gateway.InputError
			return errors.As(err, &in) && in.Field == name
		}
	}
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	for _, c := range []struct {
		name string
		svc  *gateway.Refunds
		req  gateway.NewRefund
		want func(error) bool
	}{
		{"above what was paid", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "10.01"}, field("amount")},
		{"above what was paid, in BTC", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "0.00020001", Currency: "BTC"}, field("amount")},
		{"an unpaid invoice", f.svc, gateway.NewRefund{InvoiceID: unpaid.ID, Amount: "1"}, is(refund.ErrInvoiceState)},
		{"an expired unpaid invoice", f.svc, gateway.NewRefund{InvoiceID: expired.ID, Amount: "1"}, is(refund.ErrInvoiceState)},
		{"an unknown invoice", f.svc, gateway.NewRefund{InvoiceID: "nope", Amount: "1"}, is(store.ErrNotFound)},
		{"another store's invoice", f.svc, gateway.NewRefund{InvoiceID: foreign.ID, Amount: "1"}, is(store.ErrNotFound)},
		{"no invoice", f.svc, gateway.NewRefund{Amount: "1"}, field("invoiceId")},
		{"an unknown currency", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Currency: "XYZ"}, field("currency")},
		{"another fiat currency", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Currency: "EUR"}, field("currency")},
		{"no amount", f.svc, gateway.NewRefund{InvoiceID: paid.ID}, field("amount")},
		{"a zero amount", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "0"}, field("amount")},
		{"a negative amount", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "-1"}, field("amount")},
		{"cents below a cent", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1.001"}, field("amount")},
		{"garbage amount", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "ten"}, field("amount")},
		{"a mainnet address", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}, field("bitcoinAddress")},
		{"a testnet address", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Address: "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}, field("bitcoinAddress")},
		{"garbage address", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Address: "not an address"}, field("bitcoinAddress")},
		{"the store's own address", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1", Address: paid.Method(invoice.MethodBTC).Destination}, field("bitcoinAddress")},
		{"the store's own address, upper case", f.svc, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1",
			Address: upper(paid.Method(invoice.MethodBTC).Destination)}, field("bitcoinAddress")},
		{"no current rate", broken, gateway.NewRefund{InvoiceID: paid.ID, Amount: "1"}, is(gateway.ErrNoRate)},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := f.db.GetInvoice(ctx, paid.ID)
			r, err := c.svc.Create(ctx, f.storeID, c.req)
			if err == nil || !c.want(err) {
				t.Fatalf("Create = %+v, %v", r, err)
			}
			after, _ := f.db.GetInvoice(ctx, paid.ID)
			if after.Version != before.Version || after.Status != before.Status {
				t.Fatalf("the invoice changed: v%d %s → v%d %s", before.Version, before.Status, after.Version, after.Status)
			}
			for _, id := range []string{paid.ID, unpaid.ID, expired.ID} {
				if rs, err := f.db.InvoiceRefunds(ctx, id); err != nil || len(rs) != 0 {
					t.Fatalf("refunds of %s: %d, %v", id, len(rs), err)
				}
			}
		})
	}
}

func upper(s string) string { return strings.ToUpper(s) }

// TestConcurrentRefunds: refunds made at once never take more than the
// buyer paid.
func TestConcurrentRefunds(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	inv := f.invoice(20_000, 6)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "0.00003", Currency: "BTC"})
		})
	}
	wg.Wait()
	made := 0
	for _, err := range errs {
		var in *gateway.InputError
		switch {
		case err == nil:
			made++
		case errors.As(err, &in) && in.Field == "amount", errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	rs, err := f.db.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sum money.Sats
	for _, r := range rs {
		sum += r.Sats
	}
	if len(rs) != made || made == 0 || sum > 20_000 {
		t.Fatalf("%d refunds made (%d stored) for %d sats of 20,000", made, len(rs), sum)
	}
}
