package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitauth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// env is a kassa API on loopback over a real SQLite store and the real
// gateway (no chain: these tests stop before payment).
type env struct {
	t       *testing.T
	url     string
	db      *store.DB
	storeID string
	pos     string // a bearer pos token
	tip     int32  // the chain tip the API sees
	gw      *gateway.Gateway
	refunds *gateway.Refunds
	api     *api.Server
}

// The suite runs on SQLite, then again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }

func newEnv(t *testing.T) *env {
	t.Helper()
	db := kassatest.DB(t)
	st := merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: kassatest.Key(t, "api merchant"),
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now()}
	if err := db.CreateStore(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	pos := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Active: true, CreatedAt: time.Now()}
	if err := db.CreateToken(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	rs := kassatest.Rates(t)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest"})
	t.Cleanup(g.Close)
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	e := &env{t: t, url: url, db: db, storeID: st.ID, pos: pos.Value, gw: g}
	e.refunds = gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: rs, Network: "regtest"})
	a, err := api.New(api.Config{Store: db, Invoices: g, Refunds: e.refunds, Rates: rs, PublicURL: url,
		Tip: func() int32 { return e.tip }})
	if err != nil {
		t.Fatal(err)
	}
	// Mounted as kassa serve mounts it: beside other handlers, on a mux
	// whose unmatched paths the API answers.
	mux := http.NewServeMux()
	a.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv.Config.Handler = api.SlashInsensitive(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	e.api = a
	return e
}

// client is a BitAuth identity.
type client struct {
	key *btcec.PrivateKey
	sin string
}

func newClient(t *testing.T) client {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	sin, err := bitauth.SIN(k.PubKey().SerializeCompressed())
	if err != nil {
		t.Fatal(err)
	}
	return client{key: k, sin: sin}
}

// do sends a request, signed by c when c is not nil, and decodes the JSON
// answer.
func (e *env) do(c *client, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return e.doRaw(c, method, path, raw)
}

// doRaw sends the bytes raw as the body, signed by c when c is not nil,
// and decodes the JSON answer.
func (e *env) doRaw(c *client, method, path string, raw []byte) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Accept-Version", "2.0.0")
	if c != nil {
		sum := sha256.Sum256(append([]byte(e.url+path), raw...))
		req.Header.Set("X-Identity", hex.EncodeToString(c.key.PubKey().SerializeCompressed()))
		req.Header.Set("X-Signature", hex.EncodeToString(ecdsa.Sign(c.key, sum[:]).Serialize()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, b)
	}
	return resp.StatusCode, m
}

func data(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	d, ok := m["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object in %v", m)
	}
	return d
}

func TestPOSBearerTokenCreatesAndReadsInvoices(t *testing.T) {
	e := newEnv(t)
	status, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": "10", "currency": "USD",
		"orderID": "A-1", "posData": `{"ref":7}`, "guid": "g-1", "buyer": map[string]any{"email": "jo@example.com"}})
	if status != 200 || m["facade"] != "pos/invoice" {
		t.Fatalf("create: %d %v", status, m)
	}
	inv := data(t, m)
	id := inv["id"].(string)
	if inv["status"] != "new" || inv["orderId"] != "A-1" || inv["posData"] != `{"ref":7}` || inv["guid"] != "g-1" ||
		inv["url"] != e.url+"/invoice?id="+id || inv["exceptionStatus"] != false || inv["token"] == "" {
		t.Fatalf("invoice fields: %v", inv)
	}
	// The invoice records the token that made it (its IPNs are signed
	// with it), by reference, never by value.
	if stored, err := e.db.GetInvoice(context.Background(), id); err != nil || stored.CreatedBy != auth.TokenRef(e.pos) {
		t.Fatalf("stored CreatedBy = %q, %v; want the pos token's ref %q", stored.CreatedBy, err, auth.TokenRef(e.pos))
	}
	// The same guid returns the same invoice.
	_, m = e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": 10, "currency": "USD", "guid": "g-1"})
	if data(t, m)["id"] != id {
		t.Fatalf("guid must be idempotent: %v", m)
	}
	// pos read, public read, resource-token read.
	if status, m = e.do(nil, "GET", "/invoices/"+id+"?token="+e.pos, nil); status != 200 || data(t, m)["id"] != id {
		t.Fatalf("pos get: %d %v", status, m)
	}
	status, m = e.do(nil, "GET", "/invoices/"+id, nil)
	if status != 200 || data(t, m)["token"] != nil || data(t, m)["status"] != "new" {
		t.Fatalf("public get must work without the token field: %d %v", status, m)
	}
	if status, m = e.do(nil, "GET", "/invoices/"+id+"?token="+inv["token"].(string), nil); status != 200 {
		t.Fatalf("invoice token get: %d %v", status, m)
	}
	if status, m = e.do(nil, "GET", "/invoices/guid/g-1?token="+e.pos, nil); status != 200 || data(t, m)["id"] != id {
		t.Fatalf("guid get: %d %v", status, m)
	}
	// The WooCommerce token probe.
	status, m = e.do(nil, "GET", "/invoices/1?token="+e.pos, nil)
	if status != 404 || m["error"] != "Object not found" || m["status"] != "error" || m["message"] == nil || m["code"] == nil {
		t.Fatalf("GET /invoices/1 with a valid token: %d %v", status, m)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		body   any
		status int
	}{
		{"no token", map[string]any{"price": 10, "currency": "USD"}, 400},
		{"unknown token", map[string]any{"token": "nope", "price": 10, "currency": "USD"}, 401},
		{"negative price", map[string]any{"token": e.pos, "price": -1, "currency": "USD"}, 400},
		{"price not a number", map[string]any{"token": e.pos, "price": "ten", "currency": "USD"}, 400},
		{"unknown currency", map[string]any{"token": e.pos, "price": 1, "currency": "XYZ"}, 400},
		{"wrong type", map[string]any{"token": e.pos, "price": 1, "currency": "USD", "fullNotifications": []int{1}}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.do(nil, "POST", "/invoices", tc.body)
			if status != tc.status || m["status"] != "error" || m["error"] == "" {
				t.Fatalf("want %d in the error envelope, have %d %v", tc.status, status, m)
			}
		})
	}
	invs, err := e.db.ListInvoices(context.Background(), e.storeID, 10)
	if err != nil || len(invs) != 0 {
		t.Fatalf("bad requests created %d invoices (%v)", len(invs), err)
	}
}

// TestClientInitiatedPairing walks seed 001's flow: the client asks for a
// merchant token, the merchant approves the code, the client lists its
// tokens and signs requests with them.
func TestClientInitiatedPairing(t *testing.T) {
	e := newEnv(t)
	c := newClient(t)
	status, m := e.do(nil, "POST", "/tokens", map[string]any{"id": c.sin, "facade": "merchant", "label": "shop"})
	if status != 200 {
		t.Fatalf("request token: %d %v", status, m)
	}
	list := m["data"].([]any)
	tok := list[0].(map[string]any)
	code := tok["pairingCode"].(string)
	if len(code) != 7 || tok["facade"] != "merchant" {
		t.Fatalf("token answer: %v", tok)
	}
	// Until approved, the token does not work.
	if status, _ := e.do(&c, "POST", "/invoices", map[string]any{"token": tok["token"], "price": 1, "currency": "USD"}); status != 401 {
		t.Fatalf("an unapproved token must not work: %d", status)
	}
	// The merchant approves (what kassa pairing approve does).
	pending, err := e.db.GetTokenByPairingCode(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if err := pending.CanApprove(time.Now()); err != nil {
		t.Fatal(err)
	}
	pending.Active = true
	if err := e.db.UpdateToken(context.Background(), pending); err != nil {
		t.Fatal(err)
	}
	status, m = e.do(&c, "GET", "/tokens", nil)
	if status != 200 {
		t.Fatalf("GET /tokens: %d %v", status, m)
	}
	if got := m["data"].([]any)[0].(map[string]any)["merchant"]; got != tok["token"] {
		t.Fatalf("GET /tokens: %v", m)
	}
	merchantTok := tok["token"].(string)
	status, m = e.do(&c, "POST", "/invoices", map[string]any{"token": merchantTok, "price": "12.50", "currency": "EUR"})
	if status != 200 || m["facade"] != "merchant/invoice" || data(t, m)["transactionSpeed"] != "medium" {
		t.Fatalf("signed merchant create: %d %v", status, m)
	}
	// Unsigned, or signed by someone else: refused.
	if status, _ := e.do(nil, "POST", "/invoices", map[string]any{"token": merchantTok, "price": 1, "currency": "USD"}); status != 401 {
		t.Fatalf("a SIN-bound token needs a signature: %d", status)
	}
	other := newClient(t)
	if status, _ := e.do(&other, "POST", "/invoices", map[string]any{"token": merchantTok, "price": 1, "currency": "USD"}); status != 401 {
		t.Fatalf("another client's signature must be refused: %d", status)
	}
}

func TestClaimMerchantCreatedPairingCode(t *testing.T) {
	e := newEnv(t)
	c := newClient(t)
	now := time.Now().UTC()
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := e.db.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	status, m := e.do(nil, "POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": tok.PairingCode})
	if status != 200 {
		t.Fatalf("claim: %d %v", status, m)
	}
	got := m["data"].([]any)[0].(map[string]any)
	if got["token"] != tok.Value || got["facade"] != "merchant" {
		t.Fatalf("claim answer: %v", got)
	}
	// A second claim of the same code fails; an unknown code is not found.
	if status, _ := e.do(nil, "POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": tok.PairingCode}); status == 200 {
		t.Fatal("a code is claimed once")
	}
	if status, m := e.do(nil, "POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": "zzzzzzz"}); status != 404 {
		t.Fatalf("unknown code: %d %v", status, m)
	}
	if status, _ := e.do(nil, "POST", "/tokens", map[string]any{"id": "not-a-sin", "facade": "pos"}); status != 400 {
		t.Fatal("a malformed client id must be refused")
	}
}

func TestRatesAndCurrencies(t *testing.T) {
	e := newEnv(t)
	status, m := e.do(nil, "GET", "/rates/BTC/USD", nil)
	if status != 200 || data(t, m)["rate"] != 50000.0 || data(t, m)["code"] != "USD" {
		t.Fatalf("rate: %d %v", status, m)
	}
	status, m = e.do(nil, "GET", "/rates/", nil)
	list, _ := m["data"].([]any)
	if status != 200 || len(list) != 3 || list[0].(map[string]any)["code"] != "BTC" {
		t.Fatalf("rates: %d %v", status, m)
	}
	status, m = e.do(nil, "GET", "/currencies", nil)
	if status != 200 || !strings.Contains(toJSON(m), `"code":"JPY"`) || !strings.Contains(toJSON(m), `"precision":0`) {
		t.Fatalf("currencies: %d", status)
	}
	// BitPay's Currency.zod.js wants minimum as a number.
	for _, c := range m["data"].([]any) {
		cur := c.(map[string]any)
		if _, ok := cur["minimum"].(float64); !ok {
			t.Fatalf("currency %v: minimum is %T, not a number", cur["code"], cur["minimum"])
		}
		if cur["code"] == "BTC" && cur["minimum"] != 0.00000001 {
			t.Fatalf("BTC minimum %v", cur["minimum"])
		}
	}
	resp, err := http.Get(e.url + "/api/rates/usd")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), `{"code":"USD"`) {
		t.Fatalf("legacy rates have no envelope: %s", b)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A database failure while checking the token is a 5xx the client
// retries, not a 401 "Invalid token" that makes a plugin drop its pairing.
func TestTokenLookupFailureIsNotUnauthorized(t *testing.T) {
	e := newEnv(t)
	status, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": "10", "currency": "USD"})
	if status != 200 {
		t.Fatalf("create before the failure: %d %v", status, m)
	}
	id := data(t, m)["id"].(string)
	e.db.Close()
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/invoices", map[string]any{"token": e.pos, "price": "10", "currency": "USD"}},
		{"GET", "/invoices/" + id + "?token=" + e.pos, nil},
	} {
		status, m := e.do(nil, req.method, req.path, req.body)
		if status < 500 || m["error"] == "Invalid token" {
			t.Errorf("%s %s with the database closed: %d %v, want a 5xx", req.method, req.path, status, m)
		}
	}
}

// A token's use is recorded (the dashboard's tokens page shows it), at
// most once a minute, and a failed authentication records nothing.
func TestTokenLastUse(t *testing.T) {
	e := newEnv(t)
	lastUse := func() time.Time {
		tok, err := e.db.GetToken(context.Background(), e.pos)
		if err != nil {
			t.Fatal(err)
		}
		return tok.LastUsedAt
	}
	if !lastUse().IsZero() {
		t.Fatal("a new token has a last use")
	}
	if status, _ := e.do(nil, "GET", "/invoices/1?token=wrong", nil); status == 200 {
		t.Fatal("a wrong token was accepted")
	}
	before := time.Now().Add(-time.Second)
	if status, m := e.do(nil, "GET", "/invoices/1?token="+e.pos, nil); status != 404 {
		t.Fatalf("GET with the pos token: %d %v", status, m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for lastUse().IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	first := lastUse()
	if first.Before(before) || first.After(time.Now()) {
		t.Fatalf("last use %v, want about now", first)
	}
	// Within the minute, further requests write nothing.
	for range 5 {
		e.do(nil, "GET", "/invoices/1?token="+e.pos, nil)
	}
	time.Sleep(50 * time.Millisecond)
	if got := lastUse(); !got.Equal(first) {
		t.Fatalf("last use rewritten within the minute: %v then %v", first, got)
	}
}
