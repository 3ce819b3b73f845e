package web

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/shopspring/decimal"
	qrcode "github.com/skip2/go-qrcode"
)

func TestParseQuality(t *testing.T) {
	for in, want := range map[string]int{"1": 1000, "1.0": 1000, "1.000": 1000, "0.8": 800, "0.25": 250, "0.001": 1,
		"0": 0, "0.": 0, "2": 0, "0.1234": 0, "x": 0, "": 0, "-1": 0, "0.a": 0} {
		if got := parseQuality(in); got != want {
			t.Errorf("parseQuality(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                            "en",
		"*":                           "en",
		"de":                          "de",
		"DE-at":                       "de",
		"es_ES":                       "es",
		"nl, fr;q=0.5":                "fr",
		"en;q=0.5, de;q=0.5":          "en",
		"en;q=0.5, de;q=0.6":          "de",
		"de;q=0":                      "en",
		"pt-BR, es;q=0.3, fr;q=0.2":   "es",
		"fr ; q = 0.9 , es ; q = 0.8": "fr",
	} {
		if got := fromAcceptLanguage(header).Code; got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}

// TestTranslationsComplete keeps every language's messages in step with
// English, placeholders included.
func TestTranslationsComplete(t *testing.T) {
	en := languages[0].T
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, l := range languages[1:] {
		for k, v := range en {
			tv, ok := l.T[k]
			if !ok || tv == "" {
				t.Errorf("%s lacks %s", l.Code, k)
				continue
			}
			if a, b := placeholder.FindAllString(v, -1), placeholder.FindAllString(tv, -1); strings.Join(a, ",") != strings.Join(b, ",") {
				t.Errorf("%s %s: placeholders %v, English has %v", l.Code, k, b, a)
			}
		}
		if len(l.T) != len(en) {
			t.Errorf("%s has %d messages, English %d", l.Code, len(l.T), len(en))
		}
	}
	for _, k := range scriptKeys {
		if en[k] == "" {
			t.Errorf("script key %s has no message", k)
		}
	}
}

func TestStateOf(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	open, past := now.Add(time.Minute), now.Add(-time.Second)
	paid := []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 5000}}
	for _, c := range []struct {
		status   invoice.Status
		expires  time.Time
		payments []invoice.Payment
		want     string
	}{
		{invoice.StatusNew, open, nil, "waiting"},
		{invoice.StatusNew, open, paid, "partial"},
		{invoice.StatusNew, open, []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 5000, Removed: true}}, "waiting"},
		{invoice.StatusNew, past, nil, "expired"},
		{invoice.StatusNew, past, paid, "expired"},
		{invoice.StatusPaid, open, paid, "paid"},
		{invoice.StatusConfirmed, open, paid, "confirmed"},
		{invoice.StatusComplete, past, paid, "confirmed"},
		{invoice.StatusExpired, past, nil, "expired"},
		{invoice.StatusInvalid, past, paid, "invalid"},
		{invoice.StatusDeclined, past, paid, "invalid"},
	} {
		inv := &invoice.Invoice{Status: c.status, ExpiresAt: c.expires,
			Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Due: 20000}}, Payments: c.payments}
		if got := stateOf(inv, now); got != c.want {
			t.Errorf("%s expiring %v with %v: %s, want %s", c.status, c.expires.Sub(now), c.payments, got, c.want)
		}
	}
}

// TestPageStates renders the checkout for invoices in each state and checks
// what the buyer reads, including the partial payment's remaining amount
// and its QR code.
func TestPageStates(t *testing.T) {
	now := time.Now()
	s, err := New(Config{Store: nilStore{}, PublicURL: "https://pay.example.com", Network: "mainnet", Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	base := invoice.Invoice{ID: "KSnNNfoMDsbRzd1U9ypmVH", Status: invoice.StatusNew, Price: decimal.RequireFromString("10"),
		Currency: "EUR", Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("50000"),
			Due: 20000, Destination: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}},
		CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute),
		Fields: invoice.Fields{RedirectURL: "https://shop.example/done", CloseURL: "https://shop.example/cart"}}
	render := func(inv invoice.Invoice) string {
		t.Helper()
		r := httptest.NewRequest("GET", "/invoice?id="+inv.ID, nil)
		p, err := s.page(r, &inv, "Shop", languages[0], false)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := s.checkout.Execute(&b, p); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	partial := base
	partial.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 5000}}
	body := render(partial)
	if !strings.Contains(body, `data-state="partial"`) || !strings.Contains(body, "Payment of 0.00005 BTC received. 0.00015 BTC is still due") ||
		!strings.Contains(body, `<code id="amount">0.00015</code>`) ||
		!strings.Contains(body, `href="bitcoin:`+base.Method(invoice.MethodBTC).Destination+`?amount=0.00015"`) {
		t.Errorf("partial payment page:\n%s", body)
	}
	if got := decodeSVG(t, body); !equalBits(got, mustBitmap(t, "bitcoin:"+base.Method(invoice.MethodBTC).Destination+"?amount=0.00015")) {
		t.Error("the QR code must ask for what is still due")
	}
	if strings.Contains(body, "Test network") {
		t.Error("mainnet pages carry no test network warning")
	}

	paid := base
	paid.Status = invoice.StatusPaid
	paid.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 25000}}
	paid.Exception = invoice.ExceptionPaidOver
	body = render(paid)
	if !strings.Contains(body, `data-state="paid"`) || !strings.Contains(body, "Payment received. Waiting for the network") ||
		!strings.Contains(body, "You paid more than the amount due") || !strings.Contains(body, `id="return" href="https://shop.example/done"`) {
		t.Errorf("paid page:\n%s", body)
	}

	expired := base
	expired.Status = invoice.StatusExpired
	expired.ExpiresAt = now.Add(-time.Minute)
	body = render(expired)
	if !strings.Contains(body, `data-state="expired"`) || !strings.Contains(body, "This invoice has expired") ||
		strings.Contains(body, "http-equiv") {
		t.Errorf("expired page:\n%s", body)
	}

	invalid := base
	invalid.Status = invoice.StatusInvalid
	if body = render(invalid); !strings.Contains(body, `data-state="invalid"`) || !strings.Contains(body, "could not be confirmed") {
		t.Errorf("invalid page:\n%s", body)
	}

	complete := base
	complete.Status = invoice.StatusComplete
	if body = render(complete); !strings.Contains(body, `data-state="confirmed"`) || !strings.Contains(body, "Payment confirmed. Thank you!") {
		t.Errorf("complete page:\n%s", body)
	}
}

// nilStore is never read: TestPageStates renders invoices it builds.
type nilStore struct{ Store }

// pathRE matches one run of the QR path: M x y h w v1 h-w z.
var pathRE = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// decodeSVG reads the modules back out of the page's QR path.
func decodeSVG(t *testing.T, body string) [][]bool {
	t.Helper()
	size := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(body)
	if size == nil {
		t.Fatal("no QR code in the page")
	}
	n, _ := strconv.Atoi(size[1])
	bits := make([][]bool, n)
	for i := range bits {
		bits[i] = make([]bool, n)
	}
	for _, m := range pathRE.FindAllStringSubmatch(body, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		for i := x; i < x+w; i++ {
			bits[y][i] = true
		}
	}
	return bits
}

func mustBitmap(t *testing.T, content string) [][]bool {
	t.Helper()
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	return q.Bitmap()
}

func equalBits(a, b [][]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for y := range a {
		if len(a[y]) != len(b[y]) {
			return false
		}
		for x := range a[y] {
			if a[y][x] != b[y][x] {
				return false
			}
		}
	}
	return true
}

func TestQRSVGMatchesTheCode(t *testing.T) {
	for _, content := range []string{"bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.0002", "bitcoin:1BoatSLRHtKNngkdXEeobR76b53LETtpyT"} {
		svg, err := QRSVG(content, `label "quoted" <b>`)
		if err != nil {
			t.Fatal(err)
		}
		if !equalBits(decodeSVG(t, string(svg)), mustBitmap(t, content)) {
			t.Errorf("%s: the SVG's modules differ from the QR code's", content)
		}
		if !strings.Contains(string(svg), `aria-label="label &#34;quoted&#34; &lt;b&gt;"`) {
			t.Errorf("label not escaped: %.300s", svg)
		}
	}
}

// TestMinifiedScriptsParse runs node's syntax check over the served scripts
// (the minifier only drops lines and indentation, so a slip would show as
// a syntax error here before a browser sees it).
func TestMinifiedScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	s, err := New(Config{Store: nilStore{}, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"checkout.js": string(s.js), "close.js": string(s.closeJS),
		"bitpay.js": string(s.scripts["/bitpay.js"].body), "bitpay.min.js": string(s.scripts["/bitpay.min.js"].body)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
	}
	if strings.Contains(string(s.css), "/*") || strings.Contains(string(s.css), "\n") {
		t.Error("the CSS keeps comments or line breaks")
	}
}
