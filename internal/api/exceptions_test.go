package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
)

// TestAcceptPartialPayment pays part of an invoice, confirms it six deep,
// previews and then commits seed 002's creditPartialPayment.
func TestAcceptPartialPayment(t *testing.T) {
	e := newEnv(t)
	_, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": 10, "currency": "USD"})
	created := data(t, m)
	id, tok := created["id"].(string), created["token"].(string)
	// A partial payment, confirmed by block 100 with the tip at 105 (six deep).
	inv, err := e.db.GetInvoice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	next, notes, err := invoice.Apply(inv, invoice.PaymentSeen{Payment: invoice.Payment{Method: invoice.MethodBTC, TxID: "aa", Amount: money.Sats(5000), Height: 100, SeenAt: time.Now()}},
		invoice.Env{Now: time.Now(), Tip: 105})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.UpdateInvoice(context.Background(), &next, notes); err != nil {
		t.Fatal(err)
	}
	e.tip = 105
	e.gw.ObserveTip(105)
	status, m := e.do(nil, "POST", "/invoices/"+id+"/creditPartialPayment", map[string]any{"token": tok, "commit": false})
	if status != 200 || data(t, m)["status"] != "complete" || data(t, m)["btcPrice"] != "0.00005" {
		t.Fatalf("preview: %d %v", status, m)
	}
	if got, _ := e.db.GetInvoice(context.Background(), id); got.Due() != inv.Due() {
		t.Fatal("a preview must change nothing")
	}
	status, m = e.do(nil, "POST", "/invoices/"+id+"/creditPartialPayment", map[string]any{"token": tok, "commit": true})
	if status != 200 || data(t, m)["exceptionStatus"] != false {
		t.Fatalf("commit: %d %v", status, m)
	}
	got, _ := e.db.GetInvoice(context.Background(), id)
	if got.Status != invoice.StatusComplete || got.Due() != 5000 {
		t.Fatalf("stored: %s due %d", got.Status, got.Due())
	}
	// Nothing left to accept; a refund to something that is no address is
	// refused, and none is listed.
	if status, _ := e.do(nil, "POST", "/invoices/"+id+"/creditPartialPayment", map[string]any{"token": tok, "commit": true}); status != 409 {
		t.Fatalf("second accept: %d", status)
	}
	if status, m := e.do(nil, "POST", "/invoices/"+id+"/refunds", map[string]any{"token": tok, "bitcoinAddress": "x", "amount": 1}); status != 400 || m["status"] != "error" {
		t.Fatalf("a refund to no address must be a clear error: %d %v", status, m)
	}
	if status, m := e.do(nil, "GET", "/invoices/"+id+"/refunds?token="+tok, nil); status != 200 || len(m["data"].([]any)) != 0 {
		t.Fatalf("refund list: %d %v", status, m)
	}
}

func TestUpdateBuyerContact(t *testing.T) {
	e := newEnv(t)
	_, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": 10, "currency": "USD"})
	id := data(t, m)["id"].(string)
	if status, m := e.do(nil, "PUT", "/invoices/"+id, map[string]any{"token": e.pos, "buyerEmail": "not an email"}); status != 400 {
		t.Fatalf("bad email: %d %v", status, m)
	}
	if status, m := e.do(nil, "PUT", "/invoices/"+id, map[string]any{"token": e.pos, "buyerEmail": "jo@example.com"}); status != 200 {
		t.Fatalf("update: %d %v", status, m)
	}
	got, _ := e.db.GetInvoice(context.Background(), id)
	if got.Fields.Buyer.Email != "jo@example.com" || got.Version != 2 {
		t.Fatalf("stored buyer: %+v v%d", got.Fields.Buyer, got.Version)
	}
}
