package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// refundWaiting makes a paid, complete invoice and a 5 USD refund of it
// without an address.
func (e *env) refundWaiting() (*invoice.Invoice, *refund.Refund) {
	e.t.Helper()
	inv := e.create(invoice.Fields{Buyer: invoice.Buyer{Email: "jo@buyer.example"}})
	kassatest.Pay(e.t, e.db, inv.ID, 20_000, 6)
	r, err := e.refunds.Create(context.Background(), e.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "5"})
	if err != nil {
		e.t.Fatal(err)
	}
	return inv, r
}

// post submits the refund form as a browser on the page's origin does.
func (e *env) post(path string, form url.Values, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
}

func refundPath(r *refund.Refund) string {
	return "/refund?" + url.Values{"id": {r.ID}, "t": {r.AddressSecret}}.Encode()
}

// TestRefundPageShowsTheRefund: the link shows the store, the invoice, the
// amount in BTC and in the refund's currency, the deadline and a form
// that works without script; it is never cached nor sent as a referrer,
// and the language is the checkout's, picked the same way.
func TestRefundPageShowsTheRefund(t *testing.T) {
	e := newEnv(t, false)
	inv, r := e.refundWaiting()
	resp, body := e.get(refundPath(r))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"Your refund", "Corner &lt;b&gt;Shop&lt;/b&gt;", inv.ID, "0.0001 BTC", "5.00 USD",
		`<form method="post" action="/refund?lang=en"`, `name="t" value="` + r.AddressSecret + `"`, `name="address"`,
		"You can do this until " + r.AddressDeadline.UTC().Format("2006-01-02 15:04") + " UTC", "Waiting for your bitcoin address.",
		"Test network (regtest)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the refund page needs no script")
	}
	h := resp.Header
	if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("headers: %v", h)
	}
	_, de := e.get(refundPath(r), "Accept-Language", "de-CH, en;q=0.5")
	if !strings.Contains(de, "Ihre Rückerstattung") || !strings.Contains(de, "5,00 USD") || !strings.Contains(de, "0,0001 BTC") ||
		!strings.Contains(de, `action="/refund?lang=de"`) {
		t.Errorf("German page:\n%s", de)
	}
	if _, fr := e.get(refundPath(r) + "&lang=fr"); !strings.Contains(fr, "Votre remboursement") {
		t.Error("?lang=fr is not French")
	}
}

// TestRefundPageBadInputChangesNothing: every refused request — an unknown
// refund, a wrong or missing secret (the API token included), a malformed
// or wrong-network address, the store's own, an empty one, a cross-site
// post — answers with the reason on the page in the buyer's language and
// leaves the refund and its events as they were.
func TestRefundPageBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	inv, r := e.refundWaiting()
	before, _ := e.db.GetRefund(ctx, r.ID)
	events := func() string {
		evs, err := e.db.Outbox(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(len(evs))
	}
	evBefore := events()
	buyer := kassatest.Address(t, "buyer")
	form := func(id, secret, address string) url.Values {
		return url.Values{"id": {id}, "t": {secret}, "address": {address}}
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
		status int
		want   string
	}{
		{"unknown refund", form("nope", r.AddressSecret, buyer), nil, 404, "Refund not found"},
		{"wrong secret", form(r.ID, r.AddressSecret+"x", buyer), nil, 404, "Refund not found"},
		{"the API token", form(r.ID, r.Token, buyer), nil, 404, "Refund not found"},
		{"no secret", form(r.ID, "", buyer), nil, 404, "Refund not found"},
		{"garbage id", form("../../x", r.AddressSecret, buyer), nil, 404, "Refund not found"},
		{"malformed", form(r.ID, r.AddressSecret, "1nope"), nil, 400, "not a valid bitcoin address for this network (regtest)"},
		{"mainnet", form(r.ID, r.AddressSecret, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), nil, 400, "not a valid bitcoin address"},
		{"the store's own", form(r.ID, r.AddressSecret, inv.Method(invoice.MethodBTC).Destination), nil, 400, "belongs to the shop"},
		{"empty", form(r.ID, r.AddressSecret, "  "), nil, 400, "Please enter a bitcoin address."},
		{"in German", form(r.ID, r.AddressSecret, "1nope"), []string{"Accept-Language", "de"}, 400, "keine gültige Bitcoin-Adresse"},
		{"cross-site", form(r.ID, r.AddressSecret, buyer), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, ""},
	} {
		resp, body := e.post("/refund", c.form, c.header...)
		if resp.StatusCode != c.status || !strings.Contains(html.UnescapeString(body), c.want) {
			t.Errorf("%s: %d, want %d with %q\n%s", c.name, resp.StatusCode, c.status, c.want, body)
		}
		if got, _ := e.db.GetRefund(ctx, r.ID); got.Version != before.Version || got.Address != "" || events() != evBefore {
			t.Fatalf("%s changed the refund: %+v", c.name, got)
		}
	}
	// A wrong secret on GET is the same not-found as an unknown refund.
	if resp, _ := e.get("/refund?id=" + r.ID + "&t=" + r.Token); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET with the API token: %d", resp.StatusCode)
	}
	if resp, _ := e.get("/refund?id=" + r.ID); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET without a secret: %d", resp.StatusCode)
	}
	// The refused address is kept in the field to correct.
	if _, body := e.post("/refund", form(r.ID, r.AddressSecret, "1nope")); !strings.Contains(body, `value="1nope"`) {
		t.Error("the refused address is not in the field")
	}
}

// TestRefundPageTakesTheAddress: the address given, the page says where the
// refund goes and shows no form; a second address is refused; once paid
// the page shows the transaction; an expired request says so.
func TestRefundPageTakesTheAddress(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	_, r := e.refundWaiting()
	buyer := kassatest.Address(t, "buyer")
	resp, _ := e.post("/refund?lang=es", url.Values{"id": {r.ID}, "t": {r.AddressSecret}, "address": {buyer}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || loc.Path != "/refund" || loc.Query().Get("id") != r.ID ||
		loc.Query().Get("t") != r.AddressSecret || loc.Query().Get("lang") != "es" {
		t.Fatalf("POST: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, _ := e.db.GetRefund(ctx, r.ID); got.Address != buyer {
		t.Fatalf("address %q", got.Address)
	}
	_, body := e.get(loc.String())
	if !strings.Contains(body, "El reembolso se enviará a "+buyer) || strings.Contains(body, "<form") {
		t.Fatalf("after the address:\n%s", body)
	}
	other := kassatest.Address(t, "someone else")
	resp, body = e.post("/refund", url.Values{"id": {r.ID}, "t": {r.AddressSecret}, "address": {other}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already has an address") {
		t.Fatalf("a second address: %d\n%s", resp.StatusCode, body)
	}
	if got, _ := e.db.GetRefund(ctx, r.ID); got.Address != buyer {
		t.Fatalf("the second address replaced the first: %q", got.Address)
	}
	// Paid: pending, then success, with the transaction.
	cur, _ := e.db.GetRefund(ctx, r.ID)
	for _, c := range []struct {
		ev   refund.Event
		want string
	}{{refund.Broadcast{TxID: "ab12cd", Fee: 200}, "waiting for the network to confirm it"}, {refund.Confirmed{}, "has confirmed"}} {
		next, notes, err := refund.Apply(cur, c.ev, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.Unit(ctx, func(u *store.Unit) error { return u.Refund(&next, notes) }); err != nil {
			t.Fatal(err)
		}
		cur = next
		_, body := e.get(refundPath(r))
		if !strings.Contains(body, c.want) || !strings.Contains(body, "ab12cd") {
			t.Errorf("%T: page\n%s", c.ev, body)
		}
	}

	// An expired request: the page says so and takes nothing.
	clock := kassatest.NewClock(time.Now().Add(31 * 24 * time.Hour))
	late := gateway.NewRefunds(gateway.RefundsConfig{Store: e.db, Rates: kassatest.Rates(t), Network: "regtest", Clock: clock.Now})
	_, r2 := e.refundWaiting()
	if _, err := late.ExpireAddressRequests(ctx); err != nil {
		t.Fatal(err)
	}
	_, body = e.get(refundPath(r2))
	if !strings.Contains(body, "The time to give an address has passed") || strings.Contains(body, "<form") {
		t.Fatalf("expired:\n%s", body)
	}
	resp, body = e.post("/refund", url.Values{"id": {r2.ID}, "t": {r2.AddressSecret}, "address": {buyer}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "no longer takes an address") {
		t.Fatalf("an address for the expired refund: %d\n%s", resp.StatusCode, body)
	}
	if got, _ := e.db.GetRefund(ctx, r2.ID); got.Address != "" || got.Status != refund.StatusFailure {
		t.Fatalf("expired refund: %+v", got)
	}
}
