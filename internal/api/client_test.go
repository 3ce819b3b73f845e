package api_test

import (
	"context"
	"slices"
	"testing"
	"time"

	bitpay "github.com/kassa-pay/kassa/client"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestGoClientMerchantFlow drives the API with kassa's own Go client:
// pairing by claim, a signed merchant invoice, list, resend and cancel, and
// checks what each leaves in the outbox.
func TestGoClientMerchantFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key, err := bitpay.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	code := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := e.db.CreateToken(ctx, code); err != nil {
		t.Fatal(err)
	}
	c, err := bitpay.New(e.url, bitpay.WithKey(key))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.ClaimToken(ctx, code.PairingCode)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bitpay.New(e.url, bitpay.WithKey(key), bitpay.WithToken(bitpay.FacadeMerchant, tok.Value))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := m.Tokens(ctx)
	if err != nil || tokens["merchant"] != tok.Value {
		t.Fatalf("tokens: %v %v", tokens, err)
	}
	inv, err := m.CreateInvoice(ctx, bitpay.FacadeMerchant, bitpay.InvoiceRequest{Price: "25", Currency: "USD", OrderID: "go-1"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.Invoices(ctx, bitpay.Filter{DateStart: now.Add(-24 * time.Hour), DateEnd: now, OrderID: "go-1"})
	if err != nil || len(list) != 1 || list[0].ID != inv.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := m.ResendNotification(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	cancelled, err := m.CancelInvoice(ctx, inv.ID)
	if err != nil || cancelled.Status != "expired" {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}
	// Cancelling again is BitPay's "Invalid invoice state for cancel".
	if _, err := m.CancelInvoice(ctx, inv.ID); err == nil {
		t.Fatal("a cancelled invoice cannot be cancelled again")
	}
	events, err := e.db.Outbox(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var codes []invoice.Code
	for _, ev := range events {
		codes = append(codes, invoice.Code(ev.Code))
	}
	want := []invoice.Code{invoice.CodeCreated, invoice.CodeManuallyNotified, invoice.CodeExpired}
	if !slices.Equal(codes, want) {
		t.Fatalf("outbox: want %v, have %v", want, codes)
	}
	// Public read needs no key.
	pub, _ := bitpay.New(e.url)
	got, err := pub.Invoice(ctx, bitpay.FacadePublic, inv.ID)
	if err != nil || got.Status != "expired" {
		t.Fatalf("public read: %+v %v", got, err)
	}
}
