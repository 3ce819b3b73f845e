package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
)

// fuzzRoutes are the endpoints that decode an untrusted request body: the
// token request, the session request, the invoice update (PUT), an
// invoice action, the old WooCommerce invoiceData calls, invoice creation,
// the resend request and the legacy v0.3 create (JSON or form).
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/tokens"},
	{"POST", "/sessions"},
	{"PUT", "/invoices/$INVOICE"},
	{"POST", "/invoices/$INVOICE/acceptPartialPayment"},
	{"POST", "/invoiceData/setBuyerProvidedEmail"},
	{"POST", "/invoices"},
	{"POST", "/api/invoice"},
	{"POST", "/invoices/$INVOICE/notifications"},
}

// knownBodyTokenBug exempts one known bug from FuzzRequestBodies: a
// resend request (POST /invoices/:id/notifications) whose body is not a
// JSON object answers 500 "internal error" and logs an error, because
// bodyToken returns eachMember's plain error instead of a 400. Set it to
// false once bodyToken wraps that error (invoice_actions.go).
const knownBodyTokenBug = false

var fuzzContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "", "text/plain"}

// FuzzRequestBodies sends fuzzed bodies to every endpoint that decodes
// one, on the real API over a real SQLite store. In the body, $POS,
// $MERCHANT and $INVOICE stand for a live bearer pos token, a bearer
// merchant token and an open invoice, so inputs reach past
// authentication. Every answer must be a 2xx or 4xx (never a 5xx) with a
// JSON body in the route's envelope (BitPay's, or v0.3's for
// /api/invoice); an invoice the API says it created must exist with a
// positive amount due; and nothing a request body says may pay, re-price
// or finalise the open invoice, or give it a buyer email that is not an
// address.
func FuzzRequestBodies(f *testing.F) {
	seeds := []struct {
		route, ct uint8
		body      string
	}{
		{0, 0, `{"id":"TfG4ScDgysrSpodWD4Re5UtXmcBbZ3Zqfcf","facade":"pos","label":"shop"}`},
		{0, 0, `{"id":"TfG4ScDgysrSpodWD4Re5UtXmcBbZ3Zqfcf","pairingCode":"abcdefg"}`},
		{1, 0, `{"token":"$POS"}`},
		{1, 0, ``},
		{2, 0, `{"token":"$POS","buyerEmail":"jo@example.com"}`},
		{2, 0, `{"token":"$MERCHANT","buyerSms":"+41 79 123 45 67"}`},
		{2, 0, `{"token":"$POS","buyerEmail":"Jo <jo@example.com>"}`},
		{3, 0, `{"token":"$MERCHANT","commit":true}`},
		{3, 0, `{"token":"$MERCHANT","commit":"maybe"}`},
		{4, 0, `{"token":"$POS","invoiceId":"$INVOICE","email":"x@example.com"}`},
		{5, 0, `{"token":"$POS","price":10,"currency":"USD","buyer":{"email":"a@b.c"}}`},
		{5, 1, `token=$POS&price=10&currency=EUR&buyer[name]=Jo`},
		{5, 0, `{"token":"$MERCHANT","price":"0.0001","currency":"BTC","posData":{"a":1}}`},
		{6, 0, `{"price":10,"currency":"USD","orderId":123}`},
		{6, 1, `price=10&currency=USD&buyer[email]=jo%40example.com&paymentCurrencies[]=BTC`},
		{6, 2, `price=1e2&currency=usd`},
		{7, 0, `{"token":"$MERCHANT"}`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.ct, []byte(s.body))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, route, ct uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		body = e.fill(body)
		req := httptest.NewRequest(r.method, string(e.fill([]byte(r.path))), bytes.NewReader(body))
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		req.Header.Set("X-Accept-Version", "2.0.0")
		legacy := r.path == "/api/invoice"
		if legacy {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.apiKey+":")))
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)

		if trimmed := bytes.TrimSpace(body); knownBodyTokenBug && rec.Code == http.StatusInternalServerError &&
			r.path == "/invoices/$INVOICE/notifications" && len(trimmed) > 0 && (trimmed[0] != '{' || !json.Valid(trimmed)) {
			return
		}
		if rec.Code >= 500 || rec.Code < 200 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("%s %s %q: status %d: %s", r.method, r.path, body, rec.Code, rec.Body.Bytes())
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s %q: answer is not a JSON object: %s", r.method, r.path, body, rec.Body.Bytes())
		}
		var created string
		switch {
		case legacy && rec.Code >= 400:
			detail, _ := m["error"].(map[string]any)
			if s, _ := detail["message"].(string); s == "" {
				t.Fatalf("legacy error without a message: %s", rec.Body.Bytes())
			}
		case legacy:
			created, _ = m["id"].(string)
		case rec.Code >= 400:
			if s, _ := m["error"].(string); s == "" {
				t.Fatalf("error without an error text: %s", rec.Body.Bytes())
			}
		default:
			if _, ok := m["data"]; !ok {
				t.Fatalf("%d answer without data: %s", rec.Code, rec.Body.Bytes())
			}
			if r.path == "/invoices" {
				d, _ := m["data"].(map[string]any)
				created, _ = d["id"].(string)
			}
		}
		if (r.path == "/invoices" || legacy) && rec.Code == http.StatusOK {
			inv, err := e.db.GetInvoice(context.Background(), created)
			if err != nil {
				t.Fatalf("the API answered invoice %q, the store has %v", created, err)
			}
			if inv.Due() <= 0 || !inv.Price.IsPositive() || inv.StoreID != e.storeID {
				t.Fatalf("created invoice %s: due %d, price %s, store %s", inv.ID, inv.Due(), inv.Price, inv.StoreID)
			}
		}
		e.checkOpenInvoice(t)
	})
}

// fuzzEnv is the API over a SQLite store with one store, its tokens, a
// legacy API key and one open invoice.
type fuzzEnv struct {
	srv                    http.Handler
	db                     *store.DB
	storeID, pos, merchant string
	apiKey                 string
	open                   *invoice.Invoice
	repl                   [][2][]byte
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	db := kassatest.DBOn(tb, kassatest.SQLite)
	k, err := hdkeychain.NewMaster(bytes.Repeat([]byte{9}, 32), &chaincfg.RegressionNetParams)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	st := merchant.Store{ID: auth.NewID(), Name: "Fuzz", Network: "regtest", Key: "wpkh(" + pub.String() + "/0/*)",
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: merchant.DefaultGapLimit,
		DefaultCurrency: "USD", CreatedAt: now}
	if err := db.CreateStore(ctx, st); err != nil {
		tb.Fatal(err)
	}
	pos := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Active: true, CreatedAt: now}
	mer := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadeMerchant, Active: true, CreatedAt: now}
	for _, tok := range []auth.Token{pos, mer} {
		if err := db.CreateToken(ctx, tok); err != nil {
			tb.Fatal(err)
		}
	}
	apiKey, err := db.CreateAPIKey(ctx, st.ID, "fuzz")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := rates.NewFixed(ctx, "BTC_USD=50000,BTC_EUR=45000")
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest", Log: quiet})
	tb.Cleanup(g.Close)
	open, err := g.CreateInvoice(ctx, st.ID, gateway.NewInvoice{Price: "10", Currency: "USD"})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := api.New(api.Config{Store: db, Invoices: g, Rates: rs, PublicURL: "http://example.com", Log: quiet,
		InvoiceLimits: api.Unlimited})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzEnv{srv: a, db: db, storeID: st.ID, pos: pos.Value, merchant: mer.Value, apiKey: apiKey, open: open,
		repl: [][2][]byte{{[]byte("$POS"), []byte(pos.Value)}, {[]byte("$MERCHANT"), []byte(mer.Value)},
			{[]byte("$INVOICE"), []byte(open.ID)}}}
}

// fill replaces the placeholders in b.
func (e *fuzzEnv) fill(b []byte) []byte {
	for _, r := range e.repl {
		b = bytes.ReplaceAll(b, r[0], r[1])
	}
	return b
}

// checkOpenInvoice checks that the open invoice is still open, unpaid and
// priced as created, and that any buyer email on it is an address.
func (e *fuzzEnv) checkOpenInvoice(t *testing.T) {
	t.Helper()
	inv, err := e.db.GetInvoice(context.Background(), e.open.ID)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case inv.Status != invoice.StatusNew, inv.Paid() != 0, len(inv.Payments) != 0:
		t.Fatalf("open invoice is %s with %d payments", inv.Status, len(inv.Payments))
	case inv.Due() != e.open.Due(), !inv.Price.Equal(e.open.Price), inv.Currency != e.open.Currency,
		inv.Bound().Destination != e.open.Bound().Destination:
		t.Fatalf("open invoice re-priced: %d %s %s at %s", inv.Due(), inv.Price, inv.Currency, inv.Bound().Destination)
	}
	if email := inv.Fields.Buyer.Email; email != "" {
		if _, err := mail.ParseAddress(email); err != nil {
			t.Fatalf("buyer email %q is not an address: %v", email, err)
		}
	}
}
