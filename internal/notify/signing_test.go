package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// TestSigningToken is the rule that picks the token whose value keys a
// signed IPN.
func TestSigningToken(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(f auth.Facade, usable bool) auth.Token {
		tok := auth.Token{Value: auth.NewTokenValue(), Facade: f, Active: true, CreatedAt: at}
		if !usable {
			tok.RevokedAt = at
		}
		return tok
	}
	oldPOS := mk(auth.FacadePOS, true)
	revokedMerchant := mk(auth.FacadeMerchant, false)
	merchant := mk(auth.FacadeMerchant, true)
	newerMerchant := mk(auth.FacadeMerchant, true)
	payout := mk(auth.FacadePayout, true)
	pending := mk(auth.FacadeMerchant, true)
	pending.Active = false
	all := []auth.Token{oldPOS, revokedMerchant, merchant, newerMerchant, payout, pending}
	for _, c := range []struct {
		name      string
		tokens    []auth.Token
		createdBy string
		want      auth.Token
		found     bool
	}{
		{"no tokens", nil, "", auth.Token{}, false},
		{"only revoked", []auth.Token{revokedMerchant}, "", auth.Token{}, false},
		{"pos only", []auth.Token{oldPOS, revokedMerchant}, "", oldPOS, false},
		{"no creator: oldest usable merchant", all, "", merchant, false},
		{"the creator", all, newerMerchant.Ref(), newerMerchant, true},
		{"a pos creator", all, oldPOS.Ref(), oldPOS, true},
		{"a revoked creator falls back", all, revokedMerchant.Ref(), merchant, true},
		{"a payout token never signs", all, payout.Ref(), merchant, true},
		{"an unapproved token never signs", all, pending.Ref(), merchant, true},
		{"an unknown creator falls back", all, auth.TokenRef("gone"), merchant, false},
	} {
		got, found := notify.SigningToken(c.tokens, c.createdBy)
		if got.Value != c.want.Value || found != c.found {
			t.Errorf("%s: SigningToken = %q, found %v; want %q, %v", c.name, got.Value, found, c.want.Value, c.found)
		}
	}
}

// TestUnknownSubjectIsSkipped: an outbox event of a subject notify has no
// rules for is logged and planned with no deliveries; it does not hold up
// the invoices' IPNs.
func TestUnknownSubjectIsSkipped(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	err := f.db.Unit(ctx, func(u *store.Unit) error {
		return u.Emit(store.Event{Subject: "teleport", SubjectID: "T1", StoreID: f.storeID, Code: 9001, Name: "teleported", At: time.Now(),
			Snapshot: map[string]string{"notificationURL": rc.url("/ipn")}})
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := f.create(invoice.Fields{NotificationURL: rc.url("/ipn"), FullNotifications: true, ExtendedNotifications: true})
	f.resend(inv.ID)
	f.start(nil)
	f.waitDeliveries(inv.ID, "the invoice's IPN delivered", allIn(1, store.DeliveryDelivered))
	if ds, err := f.db.Deliveries(ctx, "T1"); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of the unknown subject: %v, %v", ds, err)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `subject=teleport`) || !strings.Contains(logs, "notification not sent") {
		t.Fatalf("the skipped event is not logged:\n%s", logs)
	}
}

// TestRefundWebhooks: a refund's events go to its notificationURL in the
// extended format, in order, with the refund as data and without its
// token or its address secret.
func TestRefundWebhooks(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	inv := f.create(invoice.Fields{})
	at := time.Now().UTC().Truncate(time.Millisecond)
	r := refund.Refund{ID: auth.NewID(), StoreID: f.storeID, InvoiceID: inv.ID, Token: "secret-refund-token",
		AddressSecret: "secret-address-key",
		Status:        refund.StatusCreated, Amount: decimal.RequireFromString("10"), Currency: "USD",
		Rate: decimal.RequireFromString("50000"), Sats: 20_000, Cancellable: true, Address: "bcrt1qbuyer",
		NotificationURL: rc.url("/refunds"), RequestedAt: at, UpdatedAt: at}
	notes := []refund.Notification{{Code: refund.CodeCreated, Status: refund.StatusCreated, At: at}}
	if err := f.db.Unit(ctx, func(u *store.Unit) error { return u.Refund(&r, notes) }); err != nil {
		t.Fatal(err)
	}
	next, notes, err := refund.Apply(r, refund.Broadcast{TxID: "ab", Fee: 500}, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.Unit(ctx, func(u *store.Unit) error { return u.Refund(&next, notes) }); err != nil {
		t.Fatal(err)
	}
	f.start(nil)
	f.waitDeliveries(r.ID, "both webhooks delivered", allIn(2, store.DeliveryDelivered))
	got := rc.received(r.ID)
	if len(got) != 2 || got[0].code != int(refund.CodeCreated) || got[1].code != int(refund.CodePending) ||
		got[0].status != "created" || got[1].status != "pending" {
		t.Fatalf("webhooks: %+v", got)
	}
	var body struct {
		Event struct{ Name string } `json:"event"`
		Data  map[string]any        `json:"data"`
	}
	if err := json.Unmarshal(got[1].body, &body); err != nil || body.Event.Name != "refund_pending" ||
		body.Data["invoice"] != inv.ID || body.Data["txid"] != "ab" || body.Data["amount"] != 10.0 {
		t.Fatalf("refund_pending body: %s (%v)", got[1].body, err)
	}
	if body := string(got[0].body) + string(got[1].body); strings.Contains(body, "secret-refund-token") ||
		strings.Contains(body, "secret-address-key") {
		t.Fatal("a webhook carries the refund's token or address secret")
	}
}
