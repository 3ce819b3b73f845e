package invoices

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// The tests run the pages on a real database (SQLite, and PostgreSQL
// where a test says so) behind a real HTTP server on loopback. The
// dashboard's login is stood in for by testViewer, chosen by the X-Role
// header: "manager", "employee" (the default) or "stranger" (a manager of
// another store).

const testCSRF = "test-csrf-token-0123456789"

type testViewer struct {
	store  string
	manage bool
}

func (v testViewer) StoreID() string   { return v.store }
func (v testViewer) CanManage() bool   { return v.manage }
func (v testViewer) CSRFToken() string { return testCSRF }

// testLayout is a minimal chrome: the page body in a document, as the
// dashboard's layout would send it.
func testLayout(w http.ResponseWriter, r *http.Request, title string, body template.HTML) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; form-action 'self'")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "<!doctype html><html><head><title>%s</title></head><body><main>%s</main></body></html>",
		template.HTMLEscapeString(title), body)
}

type harness struct {
	t      testing.TB
	db     *store.DB
	h      *Handler
	srv    *httptest.Server
	store  merchant.Store
	other  merchant.Store // another store on the same server
	now    time.Time
	calls  []string // actions the hooks were called with
	seq    int      // orders the refunds and spends tests make
	client *http.Client
}

// backends are the databases the tests run on.
var backends = kassatest.Backends()

// newHarness opens a database at url, makes two stores and serves the
// pages with cfg's hooks (Store, Layout and Clock are filled in).
func newHarness(t testing.TB, dbURL string, cfg Config) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateSearch(ctx); err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, db: db, now: time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)}
	for _, s := range []*merchant.Store{&hs.store, &hs.other} {
		*s = merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: "tpubTEST",
			Speed: invoice.SpeedMedium, Expiry: merchant.DefaultExpiry, GapLimit: 20, DefaultCurrency: "USD",
			CreatedAt: hs.now.Add(-365 * 24 * time.Hour)}
		if err := db.CreateStore(ctx, *s); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Store, cfg.Layout = db, testLayout
	cfg.Clock = func() time.Time { return hs.now }
	cfg.Log = slog.New(slog.DiscardHandler)
	hs.h, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range hs.h.Routes() {
		mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
			v := testViewer{store: r.PathValue("id")}
			switch r.Header.Get("X-Role") {
			case "manager":
				v.manage = true
			case "stranger": // a manager, of the other store
				v.store, v.manage = hs.other.ID, true
			}
			rt.Page(w, r, v)
		})
	}
	hs.srv = httptest.NewServer(mux)
	t.Cleanup(hs.srv.Close)
	hs.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return hs
}

// root is the URL of the store's pages.
func (hs *harness) root() string { return hs.srv.URL + "/dashboard/stores/" + hs.store.ID }

type response struct {
	status int
	header http.Header
	body   string
}

func (hs *harness) do(method, target, role string, form url.Values) response {
	hs.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		hs.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Role", role)
	res, err := hs.client.Do(req)
	if err != nil {
		hs.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		hs.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (hs *harness) get(target, role string) response { return hs.do(http.MethodGet, target, role, nil) }

func (hs *harness) post(target, role string, form url.Values) response {
	return hs.do(http.MethodPost, target, role, form)
}

// link returns the href of the element with id in body, absolute.
func (hs *harness) link(body, id string) string {
	hs.t.Helper()
	re := regexp.MustCompile(`<a [^>]*href="([^"]*)"[^>]*id="` + regexp.QuoteMeta(id) + `"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		re = regexp.MustCompile(`<a [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*href="([^"]*)"`)
		if m = re.FindStringSubmatch(body); m == nil {
			return ""
		}
	}
	return hs.srv.URL + html.UnescapeString(m[1])
}

// createInvoice stores an invoice through the real writer, as the gateway
// does, with fields set by f.
func (hs *harness) createInvoice(storeID string, created time.Time, f func(*invoice.Invoice)) *invoice.Invoice {
	hs.t.Helper()
	price := decimal.RequireFromString("42.50")
	rate := decimal.RequireFromString("65000")
	inv := &invoice.Invoice{ID: auth.NewID(), StoreID: storeID, Token: auth.NewID(), Status: invoice.StatusNew,
		Speed: invoice.SpeedMedium, Price: price, Currency: "USD",
		Methods:   []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: rate, Due: 65385}},
		CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute), UpdatedAt: created}
	if f != nil {
		f(inv)
	}
	notes := []invoice.Notification{{Code: invoice.CodeCreated, Status: invoice.StatusNew, At: created}}
	addr := func(_ string, i uint32) (string, []byte, error) {
		return fmt.Sprintf("bcrt1qtest%d", i), []byte{0, 20, byte(i)}, nil
	}
	if err := hs.db.CreateInvoice(context.Background(), inv, notes, addr); err != nil {
		hs.t.Fatal(err)
	}
	return inv
}

// apply moves an invoice through the real state machine and stores it.
func (hs *harness) apply(inv *invoice.Invoice, ev invoice.Event, at time.Time, tip int32) error {
	next, notes, err := invoice.Apply(*inv, ev, invoice.Env{Now: at, Tip: tip})
	if err != nil {
		return err
	}
	if err := hs.db.UpdateInvoice(context.Background(), &next, notes); err != nil {
		return err
	}
	*inv = next
	return nil
}

// markInvalid is the MarkInvalid hook as the gateway implements it.
func (hs *harness) markInvalid(ctx context.Context, id string) error {
	hs.calls = append(hs.calls, "invalid "+id)
	inv, err := hs.db.GetInvoice(ctx, id)
	if err != nil {
		return err
	}
	return hs.apply(&inv, invoice.MarkInvalid{}, hs.now, 0)
}

// resend is the Resend hook as the gateway implements it.
func (hs *harness) resend(ctx context.Context, id string) error {
	hs.calls = append(hs.calls, "resend "+id)
	inv, err := hs.db.GetInvoice(ctx, id)
	if err != nil {
		return err
	}
	return hs.apply(&inv, invoice.Resend{}, hs.now, 0)
}

// mustContain fails unless body holds every string.
func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

// mustLack fails if body holds any of the strings.
func mustLack(t *testing.T, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("page has %q", b)
		}
	}
}

// The store kassa serve hands the invoice pages implements what they read.
var (
	_ Store   = (*store.DB)(nil)
	_ Refunds = (*store.DB)(nil)
)
