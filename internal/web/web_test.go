package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/web"
)

// env is the checkout on a real SQLite store and gateway, over loopback
// HTTP, without a chain: invoices are created and read, never paid.
type env struct {
	t       testing.TB
	db      *store.DB
	g       *gateway.Gateway
	refunds *gateway.Refunds
	storeID string
	url     string
	mux     http.Handler
}

// The suite runs on SQLite, then again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }

func newEnv(t testing.TB, demo bool) *env {
	t.Helper()
	ctx := context.Background()
	db := kassatest.DB(t)
	st := merchant.Store{ID: auth.NewID(), Name: "Corner <b>Shop</b>", Network: "regtest", Key: kassatest.Key(t, "web merchant"),
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	rs := kassatest.Rates(t)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest"})
	t.Cleanup(g.Close)
	srv := httptest.NewUnstartedServer(nil)
	e := &env{t: t, db: db, g: g, storeID: st.ID, url: "http://" + srv.Listener.Addr().String(),
		refunds: gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: rs, Network: "regtest"})}
	w, err := web.New(web.Config{Store: db, Refunds: e.refunds, PublicURL: e.url, Network: "regtest", Demo: demo})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Register(mux)
	srv.Config.Handler = mux
	e.mux = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

func (e *env) create(fields invoice.Fields) *invoice.Invoice {
	e.t.Helper()
	inv, err := e.g.CreateInvoice(context.Background(), e.storeID, gateway.NewInvoice{Price: "10", Currency: "USD", Fields: fields})
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// get fetches a path and returns the response and its body.
func (e *env) get(path string, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.do(http.DefaultClient, req)
}

// do sends a request and returns the response and its body.
func (e *env) do(client *http.Client, req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

var svgRE = regexp.MustCompile(`(?s)<svg .*?</svg>`)

func TestCheckoutShowsWhatTheBuyerNeeds(t *testing.T) {
	e := newEnv(t, false)
	inv := e.create(invoice.Fields{OrderID: "A-17", ItemDesc: "Two coffees", RedirectURL: "https://shop.example/thanks?order=A-17&redirect=false"})
	resp, body := e.get("/invoice?id=" + inv.ID)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	bip21 := "bitcoin:" + inv.Method(invoice.MethodBTC).Destination + "?amount=0.0002"
	for _, want := range []string{
		`<p class="store">Corner &lt;b&gt;Shop&lt;/b&gt;</p>`,
		`<p class="item" id="item">Two coffees</p>`,
		`<dd id="order">A-17</dd>`,
		`<dd id="price">10.00 USD</dd>`,
		`<code id="amount">0.0002</code>`,
		`<code id="address">` + inv.Method(invoice.MethodBTC).Destination + `</code>`,
		`href="` + html.EscapeString(bip21) + `"`,
		`data-state="waiting"`,
		`role="status" aria-live="polite"`,
		`Waiting for your payment.`,
		`Test network (regtest)`,
		`<noscript><meta http-equiv="refresh" content="15"></noscript>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The redirect only shows once paid, but is rendered for that state.
	if !strings.Contains(body, `href="https://shop.example/thanks?order=A-17&amp;redirect=false"`) {
		t.Error("page lacks the redirect link with the merchant's query intact")
	}
	if strings.Contains(body, "demo-pay") {
		t.Error("demo buttons must only show in the demo")
	}
	if svg := svgRE.FindString(body); !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, `<path fill="#000" d="M`) {
		t.Errorf("no inline QR code: %.200s", svg)
	}
	// The page's script reads the invoice in BitPay's public shape.
	var j struct {
		ID          string            `json:"id"`
		Status      string            `json:"status"`
		BTCDue      string            `json:"btcDue"`
		PaymentURLs map[string]string `json:"paymentUrls"`
		Token       string            `json:"token"`
	}
	data := regexp.MustCompile(`(?s)<script type="application/json" id="kassa-invoice">(.*?)</script>`).FindStringSubmatch(body)
	if data == nil {
		t.Fatal("no invoice data block")
	}
	if err := json.Unmarshal([]byte(data[1]), &j); err != nil {
		t.Fatalf("invoice data: %v", err)
	}
	if j.ID != inv.ID || j.Status != "new" || j.BTCDue != "0.0002" || j.PaymentURLs["BIP21"] != bip21 || j.Token != "" {
		t.Fatalf("invoice data: %+v", j)
	}

	// /i/{id} is the same page.
	resp, body2 := e.get("/i/" + inv.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body2, `<code id="address">`+inv.Method(invoice.MethodBTC).Destination) {
		t.Fatalf("/i/{id}: %d", resp.StatusCode)
	}
}

// TestCheckoutSecurityHeaders checks the page loads nothing from elsewhere:
// the policy allows only its own nonce'd script and style, and every URL in
// the markup is kassa's own, the wallet link or the merchant's links.
func TestCheckoutLoadsNothingFromElsewhere(t *testing.T) {
	e := newEnv(t, true)
	inv := e.create(invoice.Fields{RedirectURL: "https://shop.example/thanks", CloseURL: "https://shop.example/cart"})
	resp, body := e.get("/invoice?id=" + inv.ID)
	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("policy: %q", csp)
	}
	if !strings.Contains(body, `<script nonce="`+m[1]+`">`) || !strings.Contains(body, `<style nonce="`+m[1]+`">`) {
		t.Fatal("the inline script and style must carry the policy's nonce")
	}
	_, again := e.get("/invoice?id=" + inv.ID)
	if strings.Contains(again, m[1]) {
		t.Fatal("the nonce must change with every response")
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "" {
		t.Fatalf("headers: %v", resp.Header)
	}
	for _, attr := range regexp.MustCompile(`(?:src|href|action)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		u := html.UnescapeString(attr[1])
		switch {
		case u == "data:,", strings.HasPrefix(u, "/"), strings.HasPrefix(u, "bitcoin:"), strings.HasPrefix(u, "https://shop.example/"):
		default:
			t.Errorf("the page links to %q", u)
		}
	}
	if strings.Contains(body, "url(") || strings.Contains(body, "@import") {
		t.Error("the styles must not load anything")
	}
	// The demo buttons post to the demo's routes, with what they take.
	for _, want := range []string{`action="/demo/pay"`, `name="invoice" value="` + inv.ID + `"`, `action="/demo/mine"`, `name="blocks" value="1"`} {
		if !strings.Contains(body, want) {
			t.Errorf("demo buttons lack %s", want)
		}
	}
	// Below the size budget without the QR code.
	size := len(body) - len(svgRE.FindString(body))
	if size >= 50*1024 {
		t.Fatalf("page is %d bytes without the QR code, budget 50 KB", size)
	}
	t.Logf("checkout page: %d bytes, %d without the QR code", len(body), size)
}

func TestCheckoutEscapesInvoiceFields(t *testing.T) {
	e := newEnv(t, false)
	const xss = `<script>window.__xss=1</script>"><img src=x onerror="window.__xss=1">`
	inv := e.create(invoice.Fields{ItemDesc: "Mug " + xss, OrderID: "O-" + xss, PosData: xss,
		RedirectURL: "javascript:window.__xss=1", CloseURL: `https://shop.example/"><script>x</script>`,
		Buyer: invoice.Buyer{Name: xss, Email: xss, Address1: xss}})
	_, body := e.get("/invoice?id=" + inv.ID)
	if strings.Contains(body, "<script>window") || strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>x") {
		t.Fatal("a field reached the page unescaped")
	}
	if n := strings.Count(body, "<script"); n != 3 {
		t.Fatalf("the page must have exactly its three script elements, has %d", n)
	}
	if !strings.Contains(body, `Mug &lt;script&gt;window.__xss=1&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;`) {
		t.Error("the item description must show, escaped")
	}
	if !strings.Contains(body, `<dd id="order">O-&lt;script&gt;`) {
		t.Error("the order id must show, escaped")
	}
	if strings.Contains(body, `href="javascript:`) || !strings.Contains(body, `"redirectURL":""`) {
		t.Error("a javascript: redirect must not be linked or handed to the script")
	}
	if !strings.Contains(body, `\u003cscript\u003ewindow.__xss=1\u003c/script\u003e`) {
		t.Error("the invoice data must carry the fields JSON-escaped")
	}
}

func TestCheckoutNotFound(t *testing.T) {
	e := newEnv(t, false)
	for _, path := range []string{"/invoice?id=NoSuchInvoice1234567890", "/invoice", "/invoice?id=%3Cscript%3E", "/i/NoSuchInvoice1234567890"} {
		resp, body := e.get(path)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "<h1>Invoice not found</h1>") {
			t.Errorf("%s: %d %.300s", path, resp.StatusCode, body)
		}
	}
	resp, body := e.get("/invoice?id=NoSuchInvoice1234567890&view=modal", "Accept-Language", "de-CH,de;q=0.9")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Rechnung nicht gefunden") || !strings.Contains(body, `id="close"`) {
		t.Fatalf("modal not found page: %d %.400s", resp.StatusCode, body)
	}
}

func TestCheckoutLanguages(t *testing.T) {
	e := newEnv(t, false)
	inv := e.create(invoice.Fields{})
	for _, c := range []struct {
		query, accept, lang, text string
	}{
		{"", "", "en", "Waiting for your payment."},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de", "Wir warten auf Ihre Zahlung."},
		{"", "en;q=0.2, es-MX;q=0.7", "es", "Esperando su pago."},
		{"", "fr-CA", "fr", "En attente de votre paiement."},
		{"", "zh-CN,ja;q=0.9", "en", "Waiting for your payment."},
		{"", "de;q=0, es;q=0.1", "es", "Esperando su pago."},
		{"&lang=de", "es", "de", "Wir warten auf Ihre Zahlung."},
		{"&lang=xx", "es", "es", "Esperando su pago."},
	} {
		resp, body := e.get("/invoice?id="+inv.ID+c.query, "Accept-Language", c.accept)
		if got := resp.Header.Get("Content-Language"); got != c.lang || !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, c.text) {
			t.Errorf("?%s Accept-Language %q: want %s, have %s", c.query, c.accept, c.lang, got)
		}
	}
	_, body := e.get("/invoice?id="+inv.ID, "Accept-Language", "de")
	if !strings.Contains(body, `<dd id="price">10,00 USD</dd>`) {
		t.Error("German prices use a decimal comma")
	}
	if !strings.Contains(body, `href="/invoice?id=`+inv.ID+`&amp;lang=es"`) {
		t.Error("the language links keep the invoice")
	}
}

func TestCheckoutModalView(t *testing.T) {
	e := newEnv(t, false)
	inv := e.create(invoice.Fields{RedirectURL: "https://shop.example/thanks", CloseURL: "https://shop.example/cart", AutoRedirect: true})
	_, body := e.get("/invoice?id=" + inv.ID + "&view=modal")
	for _, want := range []string{`<body class="modal">`, `id="close"`, `"modal":true`} {
		if !strings.Contains(body, want) {
			t.Errorf("modal page lacks %s", want)
		}
	}
	// In the modal the shop decides where to go: no links away, no reload.
	if strings.Contains(body, `href="https://shop.example/`) || strings.Contains(body, "http-equiv") {
		t.Error("the modal must not link or reload away from the shop")
	}
}

func TestQRImage(t *testing.T) {
	e := newEnv(t, false)
	inv := e.create(invoice.Fields{})
	resp, body := e.get("/invoice/qr?id=" + inv.ID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.HasPrefix(body, `<svg xmlns="http://www.w3.org/2000/svg"`) {
		t.Fatalf("qr: %d %q %.100s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := e.get("/invoice/qr?id=NoSuchInvoice1234567890"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown invoice qr: %d", resp.StatusCode)
	}
}

func TestBitpayScript(t *testing.T) {
	e := newEnv(t, false)
	resp, full := e.get("/bitpay.js")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("bitpay.js: %d %v", resp.StatusCode, resp.Header)
	}
	resp, min := e.get("/bitpay.min.js")
	if resp.StatusCode != http.StatusOK || len(min) >= len(full) {
		t.Fatalf("bitpay.min.js: %d, %d bytes vs %d", resp.StatusCode, len(min), len(full))
	}
	for _, name := range []string{"showInvoice:", "hideFrame:", "onModalWillEnter:", "onModalWillLeave:", "enableTestMode:", "setApiUrlPrefix:", "'&view=modal'"} {
		if !strings.Contains(min, name) {
			t.Errorf("bitpay.min.js lacks %s", name)
		}
	}
	if strings.Contains(min, "\n//") || strings.Contains(min, "\n  ") {
		t.Error("bitpay.min.js keeps comments or indentation")
	}
	resp, _ = e.get("/bitpay.min.js", "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", resp.StatusCode)
	}
}
