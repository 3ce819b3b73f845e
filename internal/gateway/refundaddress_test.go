package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestBuyerAddress: a refund made without an address waits for its
// buyer's, given with the link's secret (another secret, the API token or
// none is not found), validated, once, and before the deadline; every
// refused attempt changes nothing.
func TestBuyerAddress(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	clock := kassatest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	svc := gateway.NewRefunds(gateway.RefundsConfig{Store: f.db, Rates: kassatest.Rates(t), Network: "regtest",
		Clock: clock.Now, AddressWait: 48 * time.Hour})
	inv := f.invoice(20_000, 6)
	r, err := svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "2", Email: "jo@buyer.example"})
	if err != nil {
		t.Fatal(err)
	}
	if r.AddressSecret == "" || r.AddressSecret == r.Token || !r.AddressDeadline.Equal(clock.Now().Add(48*time.Hour)) {
		t.Fatalf("a refund waiting for an address: secret %q (token %q), deadline %v", r.AddressSecret, r.Token, r.AddressDeadline)
	}
	given, err := svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "1", Address: kassatest.Address(t, "buyer")})
	if err != nil || !given.AddressDeadline.IsZero() {
		t.Fatalf("a refund made with an address has no deadline: %+v, %v", given, err)
	}
	if got, err := svc.BuyerRefund(ctx, r.ID, r.AddressSecret); err != nil || got.ID != r.ID {
		t.Fatalf("BuyerRefund with the secret: %+v, %v", got, err)
	}
	for _, secret := range []string{"", r.Token, r.AddressSecret[:len(r.AddressSecret)-1], r.AddressSecret + "x", strings.ToUpper(r.AddressSecret)} {
		if _, err := svc.BuyerRefund(ctx, r.ID, secret); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("BuyerRefund with secret %q: %v", secret, err)
		}
	}
	if _, err := svc.BuyerRefund(ctx, "nope", r.AddressSecret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown refund: %v", err)
	}

	before := fmt.Sprint(f.events(r.ID))
	own := inv.Method(invoice.MethodBTC).Destination
	for _, c := range []struct {
		name, secret, address string
		want                  error
	}{
		{"wrong secret", r.Token, kassatest.Address(t, "buyer"), store.ErrNotFound},
		{"garbage", r.AddressSecret, "not an address", gateway.ErrBadAddress},
		{"mainnet", r.AddressSecret, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", gateway.ErrBadAddress},
		{"the store's own", r.AddressSecret, own, gateway.ErrOwnAddress},
		{"empty", r.AddressSecret, "  ", gateway.ErrInvalid},
	} {
		if _, err := svc.SetBuyerAddress(ctx, r.ID, c.secret, c.address); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if got, _ := f.db.GetRefund(ctx, r.ID); got.Address != "" || got.Version != r.Version || fmt.Sprint(f.events(r.ID)) != before {
		t.Fatalf("refused addresses changed the refund: %+v, events %v", got, f.events(r.ID))
	}

	// Given once; the same again is fine, another is refused.
	addr := kassatest.Address(t, "buyer")
	clock.Add(47 * time.Hour)
	got, err := svc.SetBuyerAddress(ctx, r.ID, r.AddressSecret, " "+strings.ToUpper(addr)+" ")
	if err != nil || got.Address != addr {
		t.Fatalf("the buyer's address: %+v, %v", got, err)
	}
	if _, err := svc.SetBuyerAddress(ctx, r.ID, r.AddressSecret, addr); err != nil {
		t.Errorf("the same address again: %v", err)
	}
	if _, err := svc.SetBuyerAddress(ctx, r.ID, r.AddressSecret, kassatest.Address(t, "someone else")); !errors.Is(err, refund.ErrHasAddress) {
		t.Errorf("another address: %v", err)
	}
	// With its address, the refund does not expire.
	clock.Add(2 * time.Hour)
	if n, err := svc.ExpireAddressRequests(ctx); err != nil || n != 0 {
		t.Fatalf("sweep of a refund with an address: %d, %v", n, err)
	}
	if got, _ := f.db.GetRefund(ctx, r.ID); got.Status != refund.StatusCreated {
		t.Fatalf("a refund with an address expired: %s", got.Status)
	}
}

// TestAddressRequestExpires: a refund whose buyer gives no address by the
// deadline fails with refund_failure at the first sweep after it (not
// before); the page then refuses an address, and a preview confirmed later
// counts its wait from the confirmation.
func TestAddressRequestExpires(t *testing.T) {
	f := newRefunds(t)
	ctx := context.Background()
	clock := kassatest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	svc := gateway.NewRefunds(gateway.RefundsConfig{Store: f.db, Rates: kassatest.Rates(t), Network: "regtest", Clock: clock.Now})
	inv := f.invoice(20_000, 6)
	r, err := svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.AddressDeadline.Equal(clock.Now().Add(gateway.DefaultAddressWait)) {
		t.Fatalf("default deadline %v", r.AddressDeadline)
	}
	preview, err := svc.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "1", Preview: true})
	if err != nil || !preview.AddressDeadline.IsZero() {
		t.Fatalf("a preview waits for nothing: %+v, %v", preview, err)
	}
	clock.Add(24 * time.Hour)
	confirmed, err := svc.Confirm(ctx, f.storeID, preview.ID)
	if err != nil || !confirmed.AddressDeadline.Equal(clock.Now().Add(gateway.DefaultAddressWait)) {
		t.Fatalf("a confirmed preview's deadline: %+v, %v", confirmed, err)
	}

	clock.Add(gateway.DefaultAddressWait - 24*time.Hour - time.Millisecond)
	if n, err := svc.ExpireAddressRequests(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d, %v", n, err)
	}
	clock.Add(time.Millisecond)
	if n, err := svc.ExpireAddressRequests(ctx); err != nil || n != 1 {
		t.Fatalf("sweep at the deadline: %d, %v", n, err)
	}
	got, _ := f.db.GetRefund(ctx, r.ID)
	if got.Status != refund.StatusFailure || got.FailReason != refund.ReasonNoAddress {
		t.Fatalf("after the deadline: %s (%q)", got.Status, got.FailReason)
	}
	if codes := fmt.Sprint(f.events(r.ID)); codes != "[5001 5004]" {
		t.Errorf("events %s, want refund_created and refund_failure", codes)
	}
	if _, err := svc.SetBuyerAddress(ctx, r.ID, r.AddressSecret, kassatest.Address(t, "buyer")); !errors.Is(err, refund.ErrIllegalTransition) {
		t.Errorf("an address for the failed refund: %v", err)
	}
	// The confirmed preview's deadline is a day later; before the sweep
	// its buyer is already refused once it has passed.
	clock.Add(24 * time.Hour)
	if _, err := svc.SetBuyerAddress(ctx, confirmed.ID, confirmed.AddressSecret, kassatest.Address(t, "buyer")); !errors.Is(err, refund.ErrAddressExpired) {
		t.Errorf("an address after the deadline, before the sweep: %v", err)
	}
	if n, err := svc.ExpireAddressRequests(ctx); err != nil || n != 1 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	if n, err := svc.ExpireAddressRequests(ctx); err != nil || n != 0 {
		t.Fatalf("a sweep again fails nothing more: %d, %v", n, err)
	}
}
