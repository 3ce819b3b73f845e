package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/rates"
)

// newFakeClock is a clock tests move by hand, stopped at the current
// second.
func newFakeClock() *kassatest.Clock {
	return kassatest.NewClock(time.Now().UTC().Truncate(time.Second))
}

// newEnvWith is newEnv with the API configured further by opt: a second
// API server over the same store and gateway, which the env then talks to.
func newEnvWith(t *testing.T, opt func(*api.Config)) *env {
	t.Helper()
	e := newEnv(t)
	rs, _ := rates.NewFixed(context.Background(), "BTC_USD=50000,BTC_EUR=45000")
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	cfg := api.Config{Store: e.db, Invoices: e.gw, Rates: rs, PublicURL: url, Tip: func() int32 { return e.tip }}
	opt(&cfg)
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a
	srv.Start()
	t.Cleanup(srv.Close)
	e.url = url
	return e
}

// raw sends an unsigned JSON request and returns the status, the
// headers and the body as sent.
func (e *env) raw(method, path string, body any) (int, http.Header, []byte) {
	e.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (e *env) invoiceCount() int {
	e.t.Helper()
	invs, err := e.db.ListInvoices(context.Background(), e.storeID, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(invs)
}

func TestInvoiceRateLimitOverHTTP(t *testing.T) {
	clock := newFakeClock()
	var storeID string
	e := newEnvWith(t, func(c *api.Config) {
		c.Clock = clock.Now
		c.InvoiceLimits = func(id string) merchant.Limits {
			if id == storeID {
				return merchant.Limits{PerSecond: 2, PerMinute: 3}
			}
			return merchant.DefaultLimits
		}
	})
	storeID = e.storeID
	create := map[string]any{"token": e.pos, "price": "10", "currency": "USD"}
	for i := range 2 {
		if status, _, b := e.raw("POST", "/invoices", create); status != 200 {
			t.Fatalf("invoice %d: %d %s", i+1, status, b)
		}
	}
	cases := []struct {
		name       string
		advance    time.Duration
		status     int
		retryAfter string
	}{
		{"third in the same second", 0, 429, "1"},
		{"after the second bucket refilled", time.Second, 200, ""},
		{"over the minute's three", time.Second, 429, "18"},
		{"still waiting", 17 * time.Second, 429, "1"},
		{"after the minute bucket refilled", time.Second, 200, ""},
	}
	for _, tc := range cases {
		clock.Add(tc.advance)
		status, h, b := e.raw("POST", "/invoices", create)
		if status != tc.status || h.Get("Retry-After") != tc.retryAfter {
			t.Fatalf("%s: have %d Retry-After %q, want %d %q (%s)", tc.name, status, h.Get("Retry-After"), tc.status, tc.retryAfter, b)
		}
		if status == 429 {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["status"] != "error" || m["error"] != "too many requests" || m["code"] != "010100" {
				t.Fatalf("%s: 429 must be in the error envelope: %s", tc.name, b)
			}
		}
	}
	if n := e.invoiceCount(); n != 4 {
		t.Fatalf("%d invoices created, want 4: a refused request creates none", n)
	}
}

func TestDefaultLimitsLetABurstThrough(t *testing.T) {
	e := newEnv(t)
	for i := range merchant.DefaultLimits.PerSecond {
		if status, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": 1, "currency": "USD"}); status != 200 {
			t.Fatalf("invoice %d of a burst of %d: %d %v", i+1, merchant.DefaultLimits.PerSecond, status, m)
		}
	}
}

func TestPairingGuessesAreLimited(t *testing.T) {
	clock := newFakeClock()
	e := newEnvWith(t, func(c *api.Config) { c.Clock = clock.Now })
	c := newClient(t)
	now := clock.Now()
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadePOS,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := e.db.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	for i := range api.PairingGuessLimit {
		if status, _, b := e.raw("POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": "zzzzzzz"}); status != 404 {
			t.Fatalf("guess %d: %d %s", i+1, status, b)
		}
	}
	// Past the limit even the right code waits.
	status, h, b := e.raw("POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": tok.PairingCode})
	if status != 429 || h.Get("Retry-After") != "60" {
		t.Fatalf("after %d guesses: %d Retry-After %q %s", api.PairingGuessLimit, status, h.Get("Retry-After"), b)
	}
	// Asking for a new token (no pairing code) is not a guess.
	if status, _, b := e.raw("POST", "/tokens", map[string]any{"id": c.sin, "facade": "pos"}); status != 200 {
		t.Fatalf("a token request must not be limited: %d %s", status, b)
	}
	clock.Add(time.Minute)
	if status, _, b := e.raw("POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": tok.PairingCode}); status != 200 {
		t.Fatalf("after the wait the right code works: %d %s", status, b)
	}
}

// TestLegacyInvoicesShareTheRateLimit: the v0.3 API charges the same
// per-store budget as POST /invoices and refuses in its own error shape.
func TestLegacyInvoicesShareTheRateLimit(t *testing.T) {
	clock := newFakeClock()
	var storeID string
	e := newEnvWith(t, func(c *api.Config) {
		c.Clock = clock.Now
		c.InvoiceLimits = func(id string) merchant.Limits {
			if id == storeID {
				return merchant.Limits{PerSecond: 2, PerMinute: 100}
			}
			return merchant.DefaultLimits
		}
	})
	storeID = e.storeID
	key := basic(e.newAPIKey(e.storeID) + ":")
	if status, _, b := e.raw("POST", "/invoices", map[string]any{"token": e.pos, "price": "10", "currency": "USD"}); status != 200 {
		t.Fatalf("v2 invoice: %d %s", status, b)
	}
	if status, m := e.legacy("POST", "/api/invoice", key, "application/json", `{"price":10,"currency":"USD"}`); status != 200 {
		t.Fatalf("legacy invoice within budget: %d %v", status, m)
	}
	status, m := e.legacy("POST", "/api/invoice", key, "application/json", `{"price":10,"currency":"USD"}`)
	if status != 429 {
		t.Fatalf("third invoice in a second over v0.3: have %d %v, want 429", status, m)
	}
	legacyError(t, m, "rateLimited")
	if n := e.invoiceCount(); n != 2 {
		t.Fatalf("%d invoices, want 2: a refused request creates none", n)
	}
}
