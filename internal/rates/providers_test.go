package rates

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
)

// route is one canned answer of a fake exchange.
type route struct {
	status int    // 0 means 200
	file   string // testdata file to serve, or
	body   string // a literal body
}

// exchange is a fake exchange on loopback that serves canned answers keyed
// by request URI ("/api/v2/ticker/btcusd/") and remembers what it was asked.
type exchange struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newExchange(t *testing.T, routes map[string]route) *exchange {
	t.Helper()
	e := &exchange{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.URL.RequestURI())
		e.mu.Unlock()
		rt, ok := routes[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body := []byte(rt.body)
		if rt.file != "" {
			var err error
			if body, err = os.ReadFile(filepath.Join("testdata", rt.file)); err != nil {
				t.Errorf("read %s: %v", rt.file, err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if rt.status != 0 {
			w.WriteHeader(rt.status)
		}
		w.Write(body)
	}))
	t.Cleanup(e.Close)
	return e
}

// providerCase is one table row of the exchange client tests.
type providerCase struct {
	name    string
	routes  map[string]route
	make    func(baseURL string) Provider
	want    map[string]string // currency -> rate, when the fetch succeeds
	wantErr string            // substring of the error, when it fails
}

func runProviderCases(t *testing.T, cases []providerCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := newExchange(t, tc.routes)
			got, err := tc.make(ex.URL).Fetch(t.Context())
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Fetch = %v, want error containing %q", got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch error = %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v (requests: %v)", err, ex.seen)
			}
			assertRates(t, got, tc.want)
		})
	}
}

func assertRates(t *testing.T, got map[string]decimal.Decimal, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d rates %v, want %d", len(got), got, len(want))
	}
	for code, w := range want {
		g, ok := got[code]
		if !ok {
			t.Errorf("no rate for %s", code)
			continue
		}
		if !g.Equal(decimal.RequireFromString(w)) {
			t.Errorf("rate %s = %s, want %s", code, g, w)
		}
	}
}

const krakenAll = "/0/public/Ticker?pair=XBTUSD,XBTEUR,XBTGBP,XBTCAD,XBTJPY,XBTCHF,XBTAUD"

func TestKraken(t *testing.T) {
	kraken := func(currencies ...string) func(string) Provider {
		return func(u string) Provider { return &Kraken{BaseURL: u, Currencies: currencies} }
	}
	runProviderCases(t, []providerCase{
		{
			name:   "default pairs, legacy and plain result keys",
			routes: map[string]route{krakenAll: {file: "kraken_ticker.json"}},
			make:   kraken(),
			want: map[string]string{
				"USD": "64612.1", "EUR": "59671.2", "GBP": "50912.4", "CAD": "88236.9",
				"JPY": "9786300", "CHF": "59042.1", "AUD": "97870.2",
			},
		},
		{
			name:   "chosen pairs, lower-case config",
			routes: map[string]route{"/0/public/Ticker?pair=XBTUSD,XBTCHF": {file: "kraken_ticker.json"}},
			make:   kraken("usd", "chf"),
			want:   map[string]string{"USD": "64612.1", "CHF": "59042.1"},
		},
		{
			name:    "pair missing from result",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD,XBTNZD": {file: "kraken_ticker.json"}},
			make:    kraken("USD", "NZD"),
			wantErr: "no ticker for XBTNZD",
		},
		{
			name:    "kraken error envelope",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD": {file: "kraken_unknown_pair.json"}},
			make:    kraken("USD"),
			wantErr: "EQuery:Unknown asset pair",
		},
		{
			name:    "HTTP 500",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD": {status: 500, body: `{"error":["EService:Unavailable"]}`}},
			make:    kraken("USD"),
			wantErr: "HTTP 500",
		},
		{
			name:    "malformed JSON",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD": {body: `{"error":[],"result":{"XXBTZUSD":{"c":["646`}},
			make:    kraken("USD"),
			wantErr: "decode response",
		},
		{
			name:    "zero last trade",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD": {body: `{"error":[],"result":{"XXBTZUSD":{"c":["0.00000","0.1"]}}}`}},
			make:    kraken("USD"),
			wantErr: "not a positive decimal",
		},
		{
			name:    "no last trade",
			routes:  map[string]route{"/0/public/Ticker?pair=XBTUSD": {body: `{"error":[],"result":{"XXBTZUSD":{"c":[]}}}`}},
			make:    kraken("USD"),
			wantErr: "no last trade",
		},
	})
}

const coinbasePath = "/v2/exchange-rates?currency=BTC"

func TestCoinbase(t *testing.T) {
	coinbase := func(currencies ...string) func(string) Provider {
		return func(u string) Provider { return &Coinbase{BaseURL: u, Currencies: currencies} }
	}
	// Every fiat currency internal/money knows is in the recording; BTC,
	// ETH, LTC, metals and retired codes are dropped.
	wantAll := map[string]string{
		"AED": "16016.03", "ARS": "75138.95", "AUD": "5475.81", "BGN": "7077.42", "BHD": "1644.840",
		"BRL": "13813.51", "CAD": "5428.31", "CHF": "4121.43", "CLP": "2739765", "CNY": "28763.83",
		"COP": "12848725.93", "CZK": "94401.04", "DKK": "26896.76", "EGP": "77156.46", "EUR": "3645.16",
		"GBP": "3390.59", "GEL": "10523.87", "HKD": "34118.90", "HUF": "1102471", "IDR": "58141377.38",
		"ILS": "15583.60", "INR": "279056.60", "ISK": "454012", "JOD": "3091.670", "JPY": "472848",
		"KES": "450769.76", "KRW": "4908073", "KWD": "1313.701", "MXN": "77958.15", "MYR": "18605.81",
		"NGN": "1574896.10", "NOK": "33652.10", "NZD": "5991.39", "OMR": "1678.918", "PEN": "14123.15",
		"PHP": "222496.34", "PKR": "458515.38", "PLN": "15428.46", "RON": "16642.90", "RSD": "430326.90",
		"SAR": "16355.10", "SEK": "34548.68", "SGD": "5893.29", "THB": "144597.50", "TRY": "15030.85",
		"TWD": "131437.21", "UAH": "110956.55", "USD": "4360.60", "UYU": "125455.72", "VND": "98933906",
		"ZAR": "56943.87",
	}
	runProviderCases(t, []providerCase{
		{
			name:   "all known fiat currencies",
			routes: map[string]route{coinbasePath: {file: "coinbase_exchange_rates.json"}},
			make:   coinbase(),
			want:   wantAll,
		},
		{
			name:   "chosen currencies",
			routes: map[string]route{coinbasePath: {file: "coinbase_exchange_rates.json"}},
			make:   coinbase("USD", "eur"),
			want:   map[string]string{"USD": "4360.60", "EUR": "3645.16"},
		},
		{
			name:    "chosen currency missing",
			routes:  map[string]route{coinbasePath: {file: "coinbase_exchange_rates.json"}},
			make:    coinbase("USD", "XYZ"),
			wantErr: "no rate for XYZ",
		},
		{
			name:    "no fiat currency at all",
			routes:  map[string]route{coinbasePath: {body: `{"data":{"currency":"BTC","rates":{"BTC":"1.0","ETH":"12.1"}}}`}},
			make:    coinbase(),
			wantErr: "quotes no fiat currency",
		},
		{
			name:    "rates for another base",
			routes:  map[string]route{coinbasePath: {body: `{"data":{"currency":"USD","rates":{"EUR":"0.92"}}}`}},
			make:    coinbase(),
			wantErr: `rates are for "USD"`,
		},
		{
			name:    "HTTP 500",
			routes:  map[string]route{coinbasePath: {status: 500, body: `{"errors":[{"id":"internal_server_error","message":"Internal server error"}]}`}},
			make:    coinbase(),
			wantErr: "HTTP 500",
		},
		{
			name:    "malformed JSON",
			routes:  map[string]route{coinbasePath: {body: `<html>gateway</html>`}},
			make:    coinbase(),
			wantErr: "decode response",
		},
		{
			name:    "rate that is not a number",
			routes:  map[string]route{coinbasePath: {body: `{"data":{"currency":"BTC","rates":{"USD":"n/a"}}}`}},
			make:    coinbase(),
			wantErr: "decode response",
		},
		{
			name:    "negative rate",
			routes:  map[string]route{coinbasePath: {body: `{"data":{"currency":"BTC","rates":{"USD":"-4360.60"}}}`}},
			make:    coinbase(),
			wantErr: "not a positive decimal",
		},
	})
}

func TestBitstamp(t *testing.T) {
	bitstamp := func(currencies ...string) func(string) Provider {
		return func(u string) Provider { return &Bitstamp{BaseURL: u, Currencies: currencies} }
	}
	recorded := map[string]route{
		"/api/v2/ticker/btcusd/": {file: "bitstamp_ticker_btcusd.json"},
		"/api/v2/ticker/btceur/": {file: "bitstamp_ticker_btceur.json"},
		"/api/v2/ticker/btcgbp/": {file: "bitstamp_ticker_btcgbp.json"},
	}
	runProviderCases(t, []providerCase{
		{
			name:   "default markets",
			routes: recorded,
			make:   bitstamp(),
			want:   map[string]string{"USD": "85052.34", "EUR": "78702", "GBP": "67844"},
		},
		{
			name:   "chosen market",
			routes: recorded,
			make:   bitstamp("usd"),
			want:   map[string]string{"USD": "85052.34"},
		},
		{
			name:   "last as a bare number",
			routes: map[string]route{"/api/v2/ticker/btcusd/": {body: `{"last": 85052.34, "open": 84433.05}`}},
			make:   bitstamp("USD"),
			want:   map[string]string{"USD": "85052.34"},
		},
		{
			name:    "market missing",
			routes:  recorded,
			make:    bitstamp("USD", "JPY"),
			wantErr: "HTTP 404",
		},
		{
			name:    "HTTP 500 on one market fails the fetch",
			routes:  map[string]route{"/api/v2/ticker/btcusd/": {file: "bitstamp_ticker_btcusd.json"}, "/api/v2/ticker/btceur/": {status: 500, body: "oops"}},
			make:    bitstamp("USD", "EUR"),
			wantErr: "HTTP 500",
		},
		{
			name:    "malformed JSON",
			routes:  map[string]route{"/api/v2/ticker/btcusd/": {body: `{"last": "85052.34"`}},
			make:    bitstamp("USD"),
			wantErr: "decode response",
		},
		{
			name:    "no last price",
			routes:  map[string]route{"/api/v2/ticker/btcusd/": {body: `{"bid": "85052.33"}`}},
			make:    bitstamp("USD"),
			wantErr: "no last price",
		},
		{
			name:    "zero last price",
			routes:  map[string]route{"/api/v2/ticker/btcusd/": {body: `{"last": "0.00"}`}},
			make:    bitstamp("USD"),
			wantErr: "not a positive decimal",
		},
	})
}

const coingeckoAll = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd,eur,gbp,cad,jpy,chf,aud"

func TestCoinGecko(t *testing.T) {
	coingecko := func(currencies ...string) func(string) Provider {
		return func(u string) Provider { return &CoinGecko{BaseURL: u, Currencies: currencies} }
	}
	runProviderCases(t, []providerCase{
		{
			name:   "default currencies as JSON numbers",
			routes: map[string]route{coingeckoAll: {file: "coingecko_simple_price.json"}},
			make:   coingecko(),
			want: map[string]string{
				"USD": "111813", "EUR": "95874.12", "GBP": "83210.55", "CAD": "154301",
				"JPY": "16520114", "CHF": "89312.4", "AUD": "171987",
			},
		},
		{
			name:   "digits beyond float64 precision survive",
			routes: map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd": {body: `{"bitcoin":{"usd":111813.123456789012345}}`}},
			make:   coingecko("USD"),
			want:   map[string]string{"USD": "111813.123456789012345"},
		},
		{
			name:    "currency missing",
			routes:  map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd,nzd": {body: `{"bitcoin":{"usd":111813}}`}},
			make:    coingecko("USD", "NZD"),
			wantErr: "no bitcoin price in NZD",
		},
		{
			name:    "no bitcoin object",
			routes:  map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd": {body: `{}`}},
			make:    coingecko("USD"),
			wantErr: "no bitcoin prices",
		},
		{
			name:    "HTTP 429",
			routes:  map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd": {status: 429, body: `{"status":{"error_code":429}}`}},
			make:    coingecko("USD"),
			wantErr: "HTTP 429",
		},
		{
			name:    "malformed JSON",
			routes:  map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd": {body: `{"bitcoin":{"usd":}}`}},
			make:    coingecko("USD"),
			wantErr: "decode response",
		},
		{
			name:    "negative price",
			routes:  map[string]route{"/api/v3/simple/price?ids=bitcoin&vs_currencies=usd": {body: `{"bitcoin":{"usd":-1}}`}},
			make:    coingecko("USD"),
			wantErr: "not a positive decimal",
		},
	})
}

// TestProviderHonoursContext checks that a fetch from a server that never
// answers returns once its context is cancelled.
func TestProviderHonoursContext(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	providers := []Provider{
		&Kraken{BaseURL: srv.URL},
		&Coinbase{BaseURL: srv.URL},
		&Bitstamp{BaseURL: srv.URL},
		&CoinGecko{BaseURL: srv.URL},
	}
	for _, p := range providers {
		t.Run(p.Name(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				_, err := p.Fetch(ctx)
				errc <- err
			}()
			<-arrived
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Fetch after cancel: err = %v, want context.Canceled", err)
			}
		})
	}
}
