package dashboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/bitauth"
)

// signer is an API client's key: its SIN and request signatures (spec
// §1.2), as the official SDKs make them.
type signer struct {
	key *btcec.PrivateKey
	sin string
}

func newSigner(t *testing.T) signer {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	sin, err := bitauth.SIN(k.PubKey().SerializeCompressed())
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, sin: sin}
}

func newSIN(t *testing.T) string { return newSigner(t).sin }

// post sends a signed JSON POST.
func (s signer) post(t *testing.T, fullURL string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	sum := sha256.Sum256(append([]byte(fullURL), b...))
	req, _ := http.NewRequest(http.MethodPost, fullURL, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Identity", hex.EncodeToString(s.key.PubKey().SerializeCompressed()))
	req.Header.Set("X-Signature", hex.EncodeToString(ecdsa.Sign(s.key, sum[:]).Serialize()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %d %s", fullURL, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

func firstData(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	switch d := body["data"].(type) {
	case []any:
		return d[0].(map[string]any)
	case map[string]any:
		return d
	}
	t.Fatalf("no data in %v", body)
	return nil
}

func TestBearerTokenShownOnceAndWorks(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	// Seed 000: "Add New Token", a label, "Require Authentication" not
	// checked.
	r := owner.submit(root+"/tokens", root+"/tokens", url.Values{"label": {"Konnektive CRM"}, "facade": {"pos"}})
	m := regexp.MustCompile(`id="new-token">([1-9A-HJ-NP-Za-km-z]{44})<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("bearer token: %d\n%s", r.status, r.body)
	}
	token := m[1]
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatal("the page showing a secret may be cached")
	}
	// Shown once: the list has the label, never the value.
	list := owner.get(root + "/tokens")
	mustContain(t, "token list", list.body, "Konnektive CRM", "bearer", "active")
	mustNotContain(t, "token list", list.body, token)
	// The CRM creates an invoice with it, unsigned.
	status, body := h.apiPost("/invoices", map[string]any{"token": token, "price": 10, "currency": "USD"})
	if status != http.StatusOK || firstData(t, body)["status"] != "new" {
		t.Fatalf("invoice with the bearer token: %d %v", status, body)
	}
	// A merchant token without authentication is refused.
	if r := owner.submit(root+"/tokens", root+"/tokens", url.Values{"facade": {"merchant"}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("merchant bearer token: %d", r.status)
	}
	if r := owner.submit(root+"/tokens", root+"/tokens", url.Values{"facade": {"pos"}, "label": {"<bad>"}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("label with markup: %d", r.status)
	}
	// Revoked, it stops working at once.
	ref := regexp.MustCompile(`name="ref" value="([0-9a-f]+)"`).FindStringSubmatch(list.body)[1]
	if r := owner.submit(root+"/tokens", root+"/tokens/revoke", url.Values{"ref": {ref}}); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	if status, _ := h.apiPost("/invoices", map[string]any{"token": token, "price": 10, "currency": "USD"}); status == http.StatusOK {
		t.Fatal("a revoked token still creates invoices")
	}
	mustContain(t, "after revoke", owner.get(root+"/tokens").body, "revoked")
	// Another store's manager cannot revoke by ref.
	other := owner.createStore("Other", regtestKey(t, "other"))
	if r := owner.submit("/dashboard/stores/"+other+"/tokens", "/dashboard/stores/"+other+"/tokens/revoke", url.Values{"ref": {ref}}); r.status != http.StatusNotFound {
		t.Fatalf("revoke another store's token: %d", r.status)
	}
}

func TestPairingCodeFromDashboard(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	// Seed 001: create a pairing code; the client (Splynx) enters it.
	r := owner.submit(root+"/tokens", root+"/tokens", url.Values{"label": {"splynx"}, "facade": {"merchant"}, "require_auth": {"1"}})
	m := regexp.MustCompile(`id="new-pairing-code">([A-Za-z0-9]{7})<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("pairing code: %d\n%s", r.status, r.body)
	}
	mustContain(t, "pending code listed", owner.get(root+"/tokens").body, "waiting for the client", m[1])
	client := newSigner(t)
	status, body := h.apiPost("/tokens", map[string]any{"id": client.sin, "pairingCode": m[1]})
	d := firstData(t, body)
	if status != http.StatusOK || d["facade"] != "merchant" {
		t.Fatalf("claim: %d %v", status, body)
	}
	// The claimed token signs merchant calls.
	status, body = client.post(t, h.url+"/invoices", map[string]any{"token": d["token"], "price": 3, "currency": "EUR"})
	if status != http.StatusOK {
		t.Fatalf("signed invoice: %d %v", status, body)
	}
	list := owner.get(root + "/tokens").body
	mustContain(t, "claimed token", list, client.sin, "splynx", "active")
	// A code made in the dashboard has nothing to approve.
	r = owner.submit(root+"/tokens", root+"/tokens", url.Values{"facade": {"pos"}, "require_auth": {"1"}})
	code := regexp.MustCompile(`id="new-pairing-code">([A-Za-z0-9]{7})<`).FindStringSubmatch(r.body)[1]
	if r := owner.get("/dashboard/pairing?pairingCode=" + code); r.status != http.StatusConflict || !strings.Contains(r.body, "the client claims it itself") {
		t.Fatalf("approving a dashboard-made code: %d", r.status)
	}
}

func TestClientRequestedPairingApproval(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	client := newSigner(t)
	// The client asks (POST /tokens {id, facade}) and shows the merchant
	// a link to /api-access-request?pairingCode=.
	status, body := h.apiPost("/tokens", map[string]any{"id": client.sin, "facade": "merchant", "label": "woo shop"})
	d := firstData(t, body)
	code, token := d["pairingCode"].(string), d["token"].(string)
	if status != http.StatusOK || len(code) != 7 {
		t.Fatalf("request: %d %v", status, body)
	}
	// Not approved yet: the token does not work.
	if status, _ := client.post(t, h.url+"/invoices", map[string]any{"token": token, "price": 1, "currency": "USD"}); status == http.StatusOK {
		t.Fatal("an unapproved token worked")
	}
	r := h.client().get("/api-access-request?pairingCode=" + code)
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/pairing?pairingCode="+code {
		t.Fatalf("/api-access-request: %d %q", r.status, r.loc)
	}
	// Signed out, the approval page leads through sign-in and back.
	anon := h.client()
	r = anon.get(r.loc)
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/login?next="+url.QueryEscape("/dashboard/pairing?pairingCode="+code) {
		t.Fatalf("approval page signed out: %d %s", r.status, r.loc)
	}
	// An employee may not approve.
	emp := h.addMember("emp@example.com", storeID, account.RoleEmployee)
	if r := emp.get("/dashboard/pairing?pairingCode=" + code); r.status != http.StatusForbidden {
		t.Fatalf("employee approval page: %d", r.status)
	}
	if r := emp.post("/dashboard/pairing", url.Values{"pairingCode": {code}, "action": {"approve"}, "csrf": {emp.csrf(root + "/pos")}}); r.status != http.StatusForbidden {
		t.Fatalf("employee approval: %d", r.status)
	}
	page := owner.get("/dashboard/pairing?pairingCode=" + code)
	if page.status != http.StatusOK {
		t.Fatalf("approval page: %d\n%s", page.status, page.body)
	}
	mustContain(t, "approval page", page.body, client.sin, "woo shop", "merchant", "Main Shop")
	mustContain(t, "token list", owner.get(root+"/tokens").body, "awaiting your approval")
	r = owner.submit("/dashboard/pairing?pairingCode="+code, "/dashboard/pairing", url.Values{"pairingCode": {code}, "action": {"approve"}})
	if r.status != http.StatusSeeOther || r.loc != root+"/tokens?done=approved" {
		t.Fatalf("approve: %d %s\n%s", r.status, r.loc, r.body)
	}
	status, body = client.post(t, h.url+"/invoices", map[string]any{"token": token, "price": 1, "currency": "USD"})
	if status != http.StatusOK {
		t.Fatalf("approved token: %d %v", status, body)
	}
	// Approving twice is refused.
	if r := owner.get("/dashboard/pairing?pairingCode=" + code); r.status != http.StatusConflict {
		t.Fatalf("second approval page: %d", r.status)
	}

	// Denying revokes; an expired request cannot be approved.
	c2, c3 := newSigner(t), newSigner(t)
	_, b2 := h.apiPost("/tokens", map[string]any{"id": c2.sin, "facade": "pos"})
	_, b3 := h.apiPost("/tokens", map[string]any{"id": c3.sin, "facade": "pos"})
	code2, code3 := firstData(t, b2)["pairingCode"].(string), firstData(t, b3)["pairingCode"].(string)
	r = owner.submit("/dashboard/pairing?pairingCode="+code2, "/dashboard/pairing", url.Values{"pairingCode": {code2}, "action": {"deny"}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.loc, "done=denied") {
		t.Fatalf("deny: %d %s", r.status, r.loc)
	}
	if status, _ := c2.post(t, h.url+"/invoices", map[string]any{"token": firstData(t, b2)["token"], "price": 1, "currency": "USD"}); status == http.StatusOK {
		t.Fatal("a denied token worked")
	}
	h.clock.Add(25 * time.Hour)
	owner = h.login(ownerEmail, ownerPassword)
	if r := owner.get("/dashboard/pairing?pairingCode=" + code3); r.status != http.StatusConflict || !strings.Contains(r.body, "expired") {
		t.Fatalf("expired request: %d", r.status)
	}
	for _, bad := range []string{"nope", "ABCDEFG", "<script"} {
		if r := owner.get("/dashboard/pairing?pairingCode=" + url.QueryEscape(bad)); r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Fatalf("pairing code %q: %d", bad, r.status)
		}
	}
}

// TestParkedPairingChoosesStore: on a server with several stores a client
// asks for a token without naming one; the request is parked and the
// merchant who approves it chooses one of the stores they manage.
func TestParkedPairingChoosesStore(t *testing.T) {
	h := newHarness(t, options{})
	owner, shop := h.setup(regtestKey(t, "shop"))
	other := owner.createStore("Second Shop", regtestKey(t, "other"))
	manager := h.addMember("manager@example.com", shop, account.RoleManager)
	client := newSigner(t)
	status, body := h.apiPost("/tokens", map[string]any{"id": client.sin, "facade": "merchant", "label": "crm"})
	if status != http.StatusOK {
		t.Fatalf("request on a server with two stores: %d %v", status, body)
	}
	d := firstData(t, body)
	code, token := d["pairingCode"].(string), d["token"].(string)
	if _, named := d["resource"]; named || len(code) != 7 {
		t.Fatalf("parked request answer: %v", d)
	}
	if status, _ := client.post(t, h.url+"/invoices", map[string]any{"token": token, "price": 1, "currency": "USD"}); status == http.StatusOK {
		t.Fatal("a parked token worked")
	}
	// A manager of one store is offered that store only, and cannot give
	// access to another.
	page := manager.get("/dashboard/pairing?pairingCode=" + code)
	if page.status != http.StatusOK {
		t.Fatalf("manager's approval page: %d\n%s", page.status, page.body)
	}
	mustContain(t, "manager's approval page", page.body, `<option value="`+shop+`">Main Shop</option>`, "crm", client.sin)
	mustNotContain(t, "manager's approval page", page.body, other)
	r := manager.submit("/dashboard/pairing?pairingCode="+code, "/dashboard/pairing",
		url.Values{"pairingCode": {code}, "action": {"approve"}, "store": {other}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("approve for a store the manager does not manage: %d", r.status)
	}
	// The owner sees both and gives the second store.
	page = owner.get("/dashboard/pairing?pairingCode=" + code)
	mustContain(t, "owner's approval page", page.body, `<option value="`+shop+`">`, `<option value="`+other+`">Second Shop</option>`)
	r = owner.submit("/dashboard/pairing?pairingCode="+code, "/dashboard/pairing",
		url.Values{"pairingCode": {code}, "action": {"approve"}, "store": {other}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/stores/"+other+"/tokens?done=approved" {
		t.Fatalf("approve: %d %s\n%s", r.status, r.loc, r.body)
	}
	status, body = client.post(t, h.url+"/invoices", map[string]any{"token": token, "price": 1, "currency": "USD"})
	if status != http.StatusOK {
		t.Fatalf("approved token: %d %v", status, body)
	}
	inv, err := h.db.GetInvoice(context.Background(), body["data"].(map[string]any)["id"].(string))
	if err != nil || inv.StoreID != other {
		t.Fatalf("the invoice belongs to store %q (%v), want the chosen %q", inv.StoreID, err, other)
	}
	if r := owner.get("/dashboard/pairing?pairingCode=" + code); r.status != http.StatusConflict {
		t.Fatalf("approval page after approval: %d", r.status)
	}
	// Denied, a parked request is gone and its token never works.
	c2 := newSigner(t)
	_, b2 := h.apiPost("/tokens", map[string]any{"id": c2.sin, "facade": "pos"})
	code2, token2 := firstData(t, b2)["pairingCode"].(string), firstData(t, b2)["token"].(string)
	r = owner.submit("/dashboard/pairing?pairingCode="+code2, "/dashboard/pairing",
		url.Values{"pairingCode": {code2}, "action": {"deny"}, "store": {shop}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.loc, "done=denied") {
		t.Fatalf("deny: %d %s", r.status, r.loc)
	}
	if r := owner.get("/dashboard/pairing?pairingCode=" + code2); r.status != http.StatusNotFound {
		t.Fatalf("a denied request's page: %d", r.status)
	}
	if status, _ := c2.post(t, h.url+"/invoices", map[string]any{"token": token2, "price": 1, "currency": "USD"}); status == http.StatusOK {
		t.Fatal("a denied parked token worked")
	}
}

func TestLegacyAPIKeys(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	r := owner.submit(root+"/tokens", root+"/apikeys", url.Values{"label": {"old plugin"}})
	m := regexp.MustCompile(`id="new-api-key">([1-9A-HJ-NP-Za-km-z]{44})<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("API key: %d\n%s", r.status, r.body)
	}
	key := m[1]
	list := owner.get(root + "/tokens").body
	mustContain(t, "key list", list, key[:6]+"…", "old plugin")
	mustNotContain(t, "key list", list, key)
	if got, err := h.db.StoreForAPIKey(context.Background(), key); err != nil || got != storeID {
		t.Fatalf("key works: %q %v", got, err)
	}
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(list)[1]
	if r := owner.submit(root+"/tokens", root+"/apikeys/revoke", url.Values{"id": {id}}); r.status != http.StatusSeeOther {
		t.Fatalf("revoke key: %d", r.status)
	}
	if _, err := h.db.StoreForAPIKey(context.Background(), key); err == nil {
		t.Fatal("a revoked key still works")
	}
	if r := owner.submit(root+"/tokens", root+"/apikeys/revoke", url.Values{"id": {"unknown"}}); r.status != http.StatusNotFound {
		t.Fatalf("revoke unknown key: %d", r.status)
	}
}
