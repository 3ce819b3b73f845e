package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// refundPageRE reads the refund id from the create form's redirect.
var refundPageRE = regexp.MustCompile(`^/dashboard/stores/[^/]+/refunds/([^/?]+)\?done=(\w+)$`)

// refundsOf returns the invoice's refunds as stored.
func (h *harness) refundsOf(invoiceID string) []refund.Refund {
	h.t.Helper()
	rs, err := h.db.InvoiceRefunds(context.Background(), invoiceID)
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// TestRefundCreate: the invoice page's "Create refund" button and form,
// for owners and managers only; every refused request (no CSRF token, no
// amount, too much, another currency, a bad address, the store's own
// address, no address and no email, a bad email, an invoice still open)
// says why in plain words and records nothing; a preview is confirmed on
// its page, which then links the spend that pays it; the same form sent
// twice makes one refund; a refund waiting for the buyer's address is
// cancelled; the list filters by status.
func TestRefundCreate(t *testing.T) {
	h := newHarness(t, options{invoicePages: true})
	ctx := context.Background()
	m := h.moneyStore()
	h.chainSaw(110, []store.Coin{m.coin(t, 0xf1, 0, 5, 80_000, 100)})
	inv := kassatest.Pay(t, h.db, m.inv.ID, 20_000, 6)
	if inv.Status != invoice.StatusComplete {
		t.Fatalf("paid invoice: %s", inv.Status)
	}
	root := "/dashboard/stores/" + m.storeID
	invPage := root + "/invoices/" + inv.ID
	form := invPage + "/refund"
	buyer := kassatest.Address(t, "dashboard buyer")

	// Employees see the invoice but neither the button nor the form.
	emp := h.addMember("employee@example.com", m.storeID, account.RoleEmployee)
	r := emp.get(invPage)
	if r.status != http.StatusOK {
		t.Fatalf("invoice page as employee: %d", r.status)
	}
	mustNotContain(t, "invoice page as employee", r.body, `id="create-refund"`)
	if r := emp.get(form); r.status != http.StatusForbidden {
		t.Fatalf("refund form as employee: %d", r.status)
	}
	if r := emp.post(form, url.Values{"csrf": {emp.csrf(invPage)}, "amount": {"0.0001"}, "currency": {"BTC"},
		"address": {buyer}}); r.status != http.StatusForbidden {
		t.Fatalf("refund by an employee: %d", r.status)
	}
	mgr := h.addMember("manager@example.com", m.storeID, account.RoleManager)
	r = mgr.get(invPage)
	mustContain(t, "invoice page as manager", r.body, `id="create-refund"`, `href="`+form+`"`)
	r = mgr.get(form)
	mustContain(t, "refund form", r.body, `id="refund-form"`, `id="refund-left">0.0002 BTC<`, `<option value="USD" selected>`,
		`<option value="BTC"`, `name="guid"`, `id="preview" name="preview" value="on" checked`)

	if r := mgr.post(form, url.Values{"amount": {"0.0001"}, "currency": {"BTC"}, "address": {buyer}}); r.status != http.StatusForbidden {
		t.Fatalf("refund without the CSRF token: %d", r.status)
	}
	own := inv.Method(invoice.MethodBTC).Destination
	csrf := mgr.csrf(form)
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no amount", url.Values{"currency": {"BTC"}, "address": {buyer}}, "Enter the amount"},
		{"too much", url.Values{"amount": {"0.0003"}, "currency": {"BTC"}, "address": {buyer}}, "can refund at most 0.0002 BTC"},
		{"another currency", url.Values{"amount": {"1"}, "currency": {"EUR"}, "address": {buyer}}, "in the invoice&#39;s currency (USD) or in BTC"},
		{"a bad address", url.Values{"amount": {"0.0001"}, "currency": {"BTC"}, "address": {"<b>not-an-address</b>"}},
			"Refund address: not a bitcoin address for regtest"},
		{"a mainnet address", url.Values{"amount": {"0.0001"}, "currency": {"BTC"}, "address": {"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}},
			"not a bitcoin address for regtest"},
		{"the store's own address", url.Values{"amount": {"0.0001"}, "currency": {"BTC"}, "address": {own}},
			"one of the store&#39;s own addresses"},
		{"no address and no email", url.Values{"amount": {"0.0001"}, "currency": {"BTC"}}, "or an email address"},
		{"a bad email", url.Values{"amount": {"0.0001"}, "currency": {"BTC"}, "email": {"not an email"}}, "is not an email address"},
		{"a negative amount", url.Values{"amount": {"-1"}, "currency": {"BTC"}, "address": {buyer}}, "Amount:"},
	} {
		c.form.Set("csrf", csrf)
		r := mgr.post(form, c.form)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, c.want) {
			t.Fatalf("%s: %d, want 422 with %q\n%s", c.name, r.status, c.want, r.body)
		}
		mustNotContain(t, c.name, r.body, "<b>not-an-address</b>")
		if rs := h.refundsOf(inv.ID); len(rs) != 0 {
			t.Fatalf("%s recorded a refund: %+v", c.name, rs)
		}
	}

	// An invoice still open cannot be refunded: the form says so, and a
	// request made anyway records nothing.
	open := h.moneyStoreInvoice(m)
	r = mgr.get(root + "/invoices/" + open.ID)
	mustNotContain(t, "open invoice page", r.body, `id="create-refund"`)
	r = mgr.get(root + "/invoices/" + open.ID + "/refund")
	mustContain(t, "open invoice's form", r.body, `id="refund-closed"`, "cannot be refunded now")
	mustNotContain(t, "open invoice's form", r.body, `id="refund-form"`)
	r = mgr.post(root+"/invoices/"+open.ID+"/refund", url.Values{"csrf": {csrf}, "amount": {"0.0001"}, "currency": {"BTC"},
		"address": {buyer}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "cannot be refunded now") || len(h.refundsOf(open.ID)) != 0 {
		t.Fatalf("refund of an open invoice: %d\n%s", r.status, r.body)
	}
	// Another store's invoice is not found.
	other := m.owner.createStore("Other", regtestKey(t, "other"))
	if r := m.owner.get("/dashboard/stores/" + other + "/invoices/" + inv.ID + "/refund"); r.status != http.StatusNotFound {
		t.Fatalf("refund form through another store: %d", r.status)
	}

	// A preview, sent twice with the same form: one refund, nothing paid.
	page := mgr.get(form)
	guid := regexp.MustCompile(`name="guid" value="([^"]+)"`).FindStringSubmatch(page.body)[1]
	preview := url.Values{"csrf": {csrf}, "guid": {guid}, "amount": {"0.0001"}, "currency": {"BTC"}, "address": {buyer},
		"preview": {"on"}}
	r = mgr.post(form, preview)
	match := refundPageRE.FindStringSubmatch(r.loc)
	if r.status != http.StatusSeeOther || match == nil || match[2] != "preview" {
		t.Fatalf("preview: %d %s\n%s", r.status, r.loc, r.body)
	}
	id := match[1]
	if again := mgr.post(form, preview); again.loc != r.loc {
		t.Fatalf("the same form again: %d %s", again.status, again.loc)
	}
	if rs := h.refundsOf(inv.ID); len(rs) != 1 || rs[0].Status != refund.StatusPreview || rs[0].Sats != 10_000 || rs[0].Address != buyer {
		t.Fatalf("after the preview: %+v", rs)
	}
	refundURL := root + "/refunds/" + id
	r = emp.get(refundURL + "?done=preview")
	mustContain(t, "preview as employee", r.body, `id="refund-status">preview<`, `id="preview-note"`, buyer, "0.0001 BTC")
	mustNotContain(t, "preview as employee", r.body, `id="confirm-refund"`, `id="cancel-refund"`)
	if r := emp.post(refundURL+"/confirm", url.Values{"csrf": {emp.csrf(refundURL)}}); r.status != http.StatusForbidden {
		t.Fatalf("confirm by an employee: %d", r.status)
	}
	r = mgr.get(refundURL)
	mustContain(t, "preview as manager", r.body, `id="confirm-refund"`, "Discard preview")
	if r := mgr.post(refundURL+"/confirm", nil); r.status != http.StatusForbidden {
		t.Fatalf("confirm without the CSRF token: %d", r.status)
	}
	if got, _ := h.db.GetRefund(ctx, id); got.Status != refund.StatusPreview {
		t.Fatalf("a refused confirmation changed the refund: %s", got.Status)
	}
	r = mgr.post(refundURL+"/confirm", url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther || r.loc != refundURL+"?done=confirmed" {
		t.Fatalf("confirm: %d %s\n%s", r.status, r.loc, r.body)
	}
	// Confirmed, its spend is made at once and linked.
	spends, err := h.db.SpendsOf(ctx, m.storeID, "refund", id)
	if err != nil || len(spends) != 1 {
		t.Fatalf("the confirmed refund's spend: %+v, %v", spends, err)
	}
	r = mgr.get(r.loc)
	mustContain(t, "confirmed refund", r.body, `id="refund-status">created<`, "Refund confirmed.",
		`href="`+root+`/spends/`+spends[0].ID+`"`, "refund_created", `id="cancel-refund"`)

	// Without an address, with an email: created, waiting for the
	// buyer's address; then cancelled.
	r = mgr.post(form, url.Values{"csrf": {csrf}, "amount": {"2.50"}, "currency": {"USD"}, "email": {"Buyer@Example.com"},
		"buyer_fee": {"on"}})
	match = refundPageRE.FindStringSubmatch(r.loc)
	if r.status != http.StatusSeeOther || match == nil || match[2] != "created" {
		t.Fatalf("refund without an address: %d %s\n%s", r.status, r.loc, r.body)
	}
	waiting, _ := h.db.GetRefund(ctx, match[1])
	if waiting.Status != refund.StatusCreated || waiting.Address != "" || !waiting.BuyerPaysFee || waiting.Currency != "USD" ||
		waiting.Email != "Buyer@Example.com" {
		t.Fatalf("refund without an address: %+v", waiting)
	}
	r = emp.get(root + "/refunds")
	mustContain(t, "refund list", r.body, `id="refund-`+id+`"`, `id="refund-`+waiting.ID+`"`, "waiting for the buyer's address",
		"2.50 USD", `href="`+invPage+`"`, `href="`+root+`/spends/`+spends[0].ID+`"`, "(buyer pays the fee)")
	waitingURL := root + "/refunds/" + waiting.ID
	r = mgr.post(waitingURL+"/cancel", url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther || r.loc != waitingURL+"?done=cancelled" {
		t.Fatalf("cancel: %d %s\n%s", r.status, r.loc, r.body)
	}
	if got, _ := h.db.GetRefund(ctx, waiting.ID); got.Status != refund.StatusCancelled {
		t.Fatalf("after cancel: %s", got.Status)
	}
	// Cancelled again: it is not in a status that allows it.
	r = mgr.post(waitingURL+"/cancel", url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("a second cancel (nothing to do): %d\n%s", r.status, r.body)
	}
	r = mgr.get(root + "/refunds?status=cancelled")
	mustContain(t, "cancelled refunds", r.body, `id="refund-`+waiting.ID+`"`, `<option value="cancelled" selected>`)
	mustNotContain(t, "cancelled refunds", r.body, `id="refund-`+id+`"`)
	if r := mgr.get(root + "/refunds?status=nonsense"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "Unknown status") {
		t.Fatalf("unknown status filter: %d", r.status)
	}
	// A refund of another store is not found.
	if r := m.owner.get("/dashboard/stores/" + other + "/refunds/" + id); r.status != http.StatusNotFound {
		t.Fatalf("a refund through another store: %d", r.status)
	}
}

// moneyStoreInvoice stores another new invoice of the money store.
func (h *harness) moneyStoreInvoice(m *moneyStore) invoice.Invoice {
	h.t.Helper()
	inv := *m.inv
	inv.ID, inv.Token, inv.Payments = "second-"+m.inv.ID, "t2-"+m.inv.Token, nil
	inv.Methods = []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: m.inv.Methods[0].Rate, Due: 20_000}}
	addr := func(_ string, i uint32) (string, []byte, error) {
		a, err := m.key.Derive(i)
		return a.Address, a.Script, err
	}
	if err := h.db.CreateInvoice(context.Background(), &inv, []invoice.Notification{{Code: invoice.CodeCreated,
		Status: invoice.StatusNew, At: inv.CreatedAt}}, addr); err != nil {
		h.t.Fatal(err)
	}
	return inv
}
