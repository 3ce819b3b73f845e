package dashboard_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/dashboard/invoices"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/hotwallet"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/kassa-pay/kassa/internal/web"
)

// The dashboard's tests run kassa's real pieces on loopback: SQLite, the
// gateway with fixed rates, the BitPay API and the dashboard, on one mux
// as kassa serve mounts them. Browsers are simulated by an HTTP client
// with a cookie jar that does not follow redirects, so each answer is
// seen. Time comes from a clock the tests move.

// The store kassa serve hands the dashboard implements each of its
// interfaces.
var (
	_ dashboard.Users         = (*store.DB)(nil)
	_ dashboard.SecondFactor  = (*store.DB)(nil)
	_ dashboard.Sessions      = (*store.DB)(nil)
	_ dashboard.Attempts      = (*store.DB)(nil)
	_ dashboard.Stores        = (*store.DB)(nil)
	_ dashboard.Members       = (*store.DB)(nil)
	_ dashboard.Invites       = (*store.DB)(nil)
	_ dashboard.InviteStore   = (*store.DB)(nil)
	_ dashboard.Tokens        = (*store.DB)(nil)
	_ dashboard.APIKeys       = (*store.DB)(nil)
	_ dashboard.InvoiceLookup = (*store.DB)(nil)
	_ dashboard.Coins         = (*store.DB)(nil)
	_ dashboard.SpendLookup   = (*store.DB)(nil)
	_ dashboard.Spends        = (*spender.Engine)(nil)
	_ dashboard.Refunds       = (*gateway.Refunds)(nil)
	_ dashboard.RefundLookup  = (*store.DB)(nil)
)

// The suite runs on SQLite, then again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }

type harness struct {
	t     *testing.T
	db    *store.DB
	url   string
	clock *kassatest.Clock
	// changed records StoreChanged calls.
	changed chan string
	// engine is the spend engine behind the spend pages, sending to
	// chain (nil with options.noNode).
	engine *spender.Engine
	chain  *fakeChain
	// hot is the engine's hot signer (options.hot), "" its passphrase.
	hot *hotwallet.Signer
}

type options struct {
	signup bool
	pages  func(*dashboard.Server)
	// invoicePages mounts the invoice list, detail, CSV and overview
	// (package dashboard/invoices) as kassa serve does.
	invoicePages bool
	// realTime runs on the wall clock (for the browser, whose TOTP codes
	// are of the real time), checkout adds the hosted checkout pages.
	realTime bool
	checkout bool
	// noNode leaves the dashboard without a spend engine.
	noNode bool
	// hot gives the spend engine a hot signer with hotPassphrase.
	hot bool
}

// hotPassphrase seals the hot keys of the harness's stores.
const hotPassphrase = "the dashboard test hot passphrase"

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	db := kassatest.DB(t)
	clk := kassatest.NewClock(time.Now().UTC().Truncate(time.Second))
	now := clk.Now
	if o.realTime {
		now = time.Now
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	rs := kassatest.Rates(t)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest", Clock: now, Log: log})
	t.Cleanup(g.Close)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	hub, err := notify.NewHub(notify.HubConfig{Store: db, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	apiSrv, err := api.New(api.Config{Store: db, Invoices: g, Rates: rs, PublicURL: base, Clock: now, Log: log, Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, url: base, clock: clk, changed: make(chan string, 16)}
	var spends dashboard.Spends
	if !o.noNode {
		h.chain = &fakeChain{}
		cfg := spender.Config{Store: db, Chain: h.chain, Clock: now, Logger: log}
		if o.hot {
			h.hot = hotwallet.New(db, []byte(hotPassphrase))
			cfg.Hot = h.hot
		}
		h.engine = spender.New(cfg)
		spends = h.engine
	}
	dash, err := dashboard.New(dashboard.Config{Users: db, SecondFactor: db, Sessions: db, Attempts: db, Stores: db,
		Members: db, Invites: db, Tokens: db, APIKeys: db, InvoiceLookup: db, Invoices: g, Coins: db, SpendLookup: db,
		Spends: spends, Refunds: gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: rs, Network: "regtest", Clock: now}),
		RefundLookup: db, Network: "regtest", PublicURL: base, Signup: o.signup, Clock: now, Log: log,
		StoreChanged: func(id string) { h.changed <- id }})
	if err != nil {
		t.Fatal(err)
	}
	if o.pages != nil {
		o.pages(dash)
	}
	if o.invoicePages {
		mountInvoicePages(t, dash, db)
	}
	mux := http.NewServeMux()
	apiSrv.Register(mux)
	if o.checkout {
		pages, err := web.New(web.Config{Store: db, PublicURL: base, Network: "regtest", Log: log})
		if err != nil {
			t.Fatal(err)
		}
		pages.Register(mux)
	}
	dash.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(apiSrv.CloseEventStreams)
	return h
}

// regtestKey returns a regtest account key (tpub) from a seed phrase.
func regtestKey(t *testing.T, seed string) string {
	t.Helper()
	k, err := hdkeychain.NewMaster([]byte("kassa dashboard test seed: "+seed), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

// mainnetKey returns a mainnet xpub.
func mainnetKey(t *testing.T) string {
	t.Helper()
	k, err := hdkeychain.NewMaster([]byte("kassa dashboard test seed: mainnet!"), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

// addresses derives a key's first n receive addresses on regtest.
func addresses(t *testing.T, key string, n int) []string {
	t.Helper()
	k, err := wallet.ParseKey(key, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range uint32(n) {
		a, err := k.Derive(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Address)
	}
	return out
}

// client is one browser: its own cookies, no redirect following.
type client struct {
	h *harness
	c *http.Client
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// resp is an answer, read whole.
type resp struct {
	status int
	body   string
	loc    string
	header http.Header
}

func (c *client) do(req *http.Request) resp {
	c.h.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), loc: res.Header.Get("Location"), header: res.Header}
}

func (c *client) get(path string) resp {
	c.h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.h.url+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) resp {
	c.h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the form on the page at path.
func (c *client) csrf(path string) string {
	c.h.t.Helper()
	r := c.get(path)
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		c.h.t.Fatalf("GET %s (%d): no CSRF field in\n%s", path, r.status, r.body)
	}
	return html.UnescapeString(m[1])
}

// submit fetches the form page at page, then posts vals with its CSRF
// token to action.
func (c *client) submit(page, action string, vals url.Values) resp {
	c.h.t.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	vals.Set("csrf", c.csrf(page))
	return c.post(action, vals)
}

// cookie returns the value of a cookie the browser holds for the
// dashboard.
func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.h.url + "/dashboard/")
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.h.url + "/dashboard/")
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/dashboard"}})
}

const ownerEmail, ownerPassword = "owner@example.com", "owner password 123"

// setup runs the first-run wizard: the owner account, then a store with
// key. It returns the signed-in owner and the store id.
func (h *harness) setup(key string) (*client, string) {
	h.t.Helper()
	c := h.client()
	r := c.submit("/dashboard/setup", "/dashboard/setup", url.Values{"email": {ownerEmail}, "password": {ownerPassword},
		"password2": {ownerPassword}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/stores/new?setup=1" {
		h.t.Fatalf("setup: %d %s\n%s", r.status, r.loc, r.body)
	}
	return c, c.createStore("Main Shop", key)
}

// createStore creates a store through the form and returns its id.
func (c *client) createStore(name, key string) string {
	c.h.t.Helper()
	r := c.submit("/dashboard/stores/new", "/dashboard/stores/new", url.Values{"name": {name}, "key": {key},
		"currency": {"USD"}, "speed": {"medium"}, "expiry": {"15"}, "gap_limit": {"20"}, "action": {"create"}})
	m := regexp.MustCompile(`^/dashboard/stores/([^/]+)/tokens\?done=store$`).FindStringSubmatch(r.loc)
	if r.status != http.StatusSeeOther || m == nil {
		c.h.t.Fatalf("create store: %d %s\n%s", r.status, r.loc, r.body)
	}
	return m[1]
}

// login signs in with email and password (no second factor).
func (h *harness) login(email, pw string) *client {
	h.t.Helper()
	c := h.client()
	r := c.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {email}, "password": {pw}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/" {
		h.t.Fatalf("login %s: %d %s\n%s", email, r.status, r.loc, r.body)
	}
	return c
}

// addMember creates a user with a role in a store, straight in the
// database, and signs them in.
func (h *harness) addMember(email, storeID string, role account.Role) *client {
	h.t.Helper()
	ctx := context.Background()
	hash, err := account.HashPassword("member password 1")
	if err != nil {
		h.t.Fatal(err)
	}
	u := account.User{ID: auth.NewID(), Email: email, PasswordHash: hash, Kind: "member", CreatedAt: h.clock.Now()}
	if err := h.db.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	if err := h.db.SetMember(ctx, account.Membership{UserID: u.ID, StoreID: storeID, Role: role}, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	return h.login(email, "member password 1")
}

// apiPost posts JSON to the BitPay API.
func (h *harness) apiPost(path string, body any) (int, map[string]any) {
	h.t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(h.url+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatalf("POST %s: %d, not JSON: %s", path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// mustContain fails unless body holds every want.
func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s: missing %q in\n%s", what, w, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Fatalf("%s: must not contain %q:\n%s", what, b, body)
		}
	}
}

func mountInvoicePages(t *testing.T, dash *dashboard.Server, db *store.DB) {
	t.Helper()
	pages, err := invoices.New(invoices.Config{Store: db, Layout: dash.Layout, LayoutStatus: dash.LayoutStatus,
		Refunds: db, RefundForm: true})
	if err != nil {
		t.Fatal(err)
	}
	dash.HandleInvoicePages(pages)
}
