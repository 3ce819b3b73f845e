package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitauth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/loadgen"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// benchWorkers is how many concurrent keep-alive clients the HTTP
// benchmarks run.
const benchWorkers = 64

// benchPool bounds how many distinct requests a benchmark prepares; the run
// cycles through them. Every one is distinct, so a signed run still costs
// the server one ECDSA verify per request.
const benchPool = 4096

// baselinePath is the empty handler's route on the benchmark server.
const baselinePath = "/bench/baseline"

// BenchmarkHTTPCreateInvoice measures POST /invoices over loopback HTTP on
// the real API, the real gateway and a durable store: SQLite
// (synchronous=FULL) and, with the postgres- prefix, a PostgreSQL schema:
//
//   - baseline: a handler that reads the body and writes a small JSON
//     answer, mounted on the same http.Server and ServeMux as the API, so
//     the gap to it is what kassa itself costs;
//   - pos: a bearer pos token in the body, unsigned;
//   - merchant-signed: a SIN-bound merchant token, each request signed
//     (X-Identity, X-Signature), so the server verifies one ECDSA signature
//     per request.
//
// benchWorkers clients each loop keep-alive POSTs over one shared transport
// until b.N requests are done. The bodies (and their signatures) are
// prepared before the timer starts: signing is the client's work, not the
// server's. The load generator runs in the same process as the server, so
// both share the machine's cores and the figures are a floor, not what a
// server with its own cores would answer. Each sub-benchmark reports
// req/s and the p50 and p99 latency in milliseconds; ns/op is reported
// as 0 because, with concurrent clients, it is not a per-request cost.
//
// Run it with:
//
//	go test -run '^$' -bench HTTPCreateInvoice -benchtime 20000x ./internal/api
func BenchmarkHTTPCreateInvoice(b *testing.B) {
	sqlite := func(b *testing.B) string { return filepath.Join(b.TempDir(), "kassa.db") }
	b.Run("baseline", func(b *testing.B) {
		e := newBenchEnv(b, sqlite(b))
		e.run(b, e.pool(b.N, func(i int) loadgen.Request {
			return e.post(baselinePath, map[string]any{"token": e.pos, "price": "10", "currency": "USD",
				"orderId": fmt.Sprintf("bench-%d", i)})
		}))
	})
	// The same requests on SQLite ("pos", "merchant-signed") and on
	// PostgreSQL ("postgres-pos", "postgres-merchant-signed").
	for _, backend := range []struct {
		prefix string
		url    func(b *testing.B) string
	}{{"", sqlite}, {"postgres-", func(b *testing.B) string { return testpg.Schema(b) }}} {
		b.Run(backend.prefix+"pos", func(b *testing.B) {
			e := newBenchEnv(b, backend.url(b))
			e.run(b, e.pool(b.N, func(i int) loadgen.Request {
				return e.post("/invoices", map[string]any{"token": e.pos, "price": "10", "currency": "USD",
					"orderId": fmt.Sprintf("bench-%d", i)})
			}))
		})
		b.Run(backend.prefix+"merchant-signed", func(b *testing.B) {
			e := newBenchEnv(b, backend.url(b))
			key, token := e.pairMerchant(b)
			e.run(b, e.pool(b.N, func(i int) loadgen.Request {
				r := e.post("/invoices", map[string]any{"token": token, "price": "10", "currency": "USD",
					"orderId": fmt.Sprintf("bench-%d", i)})
				sum := sha256.Sum256(append([]byte(e.url+"/invoices"), r.Body...))
				r.Header.Set("X-Identity", hex.EncodeToString(key.PubKey().SerializeCompressed()))
				r.Header.Set("X-Signature", hex.EncodeToString(ecdsa.Sign(key, sum[:]).Serialize()))
				return r
			}))
		})
	}
}

// benchEnv is kassa's API on a loopback http.Server configured as kassa
// serve configures it, over a fresh durable store (a SQLite file or a
// PostgreSQL schema), beside the baseline handler.
type benchEnv struct {
	url     string
	db      *store.DB
	storeID string
	pos     string // a bearer pos token
	client  *http.Client
}

func newBenchEnv(b *testing.B, dbURL string) *benchEnv {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	k, err := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.RegressionNetParams)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		b.Fatal(err)
	}
	st := merchant.Store{ID: auth.NewID(), Name: "Bench", Network: "regtest", Key: "wpkh(" + pub.String() + "/0/*)",
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: merchant.DefaultGapLimit,
		DefaultCurrency: "USD", CreatedAt: time.Now()}
	if err := db.CreateStore(ctx, st); err != nil {
		b.Fatal(err)
	}
	pos := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Active: true, CreatedAt: time.Now()}
	if err := db.CreateToken(ctx, pos); err != nil {
		b.Fatal(err)
	}
	rs, err := rates.NewFixed(ctx, "BTC_USD=50000,BTC_EUR=45000")
	if err != nil {
		b.Fatal(err)
	}
	// Logs are discarded: per-request records would measure the terminal.
	quiet := slog.New(slog.DiscardHandler)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest", Log: quiet})
	b.Cleanup(g.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	// The per-store invoice limits would answer 429 after a few requests:
	// the benchmark measures the path behind them.
	a, err := api.New(api.Config{Store: db, Invoices: g, Rates: rs, PublicURL: url, Log: quiet,
		InvoiceLimits: func(string) merchant.Limits { return merchant.Limits{Off: true} }})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	mux.HandleFunc("POST "+baselinePath, baseline)
	// The settings kassa serve uses.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelWarn)}
	// A server that stops serving fails the run's requests.
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })

	tr := loadgen.NewTransport(benchWorkers)
	b.Cleanup(tr.CloseIdleConnections)
	return &benchEnv{url: url, db: db, storeID: st.ID, pos: pos.Value, client: &http.Client{Transport: tr}}
}

// baseline reads the body and writes a small JSON answer: the least any
// handler on this server does.
func baseline(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"facade":"pos/invoice","data":{"id":"baseline","status":"new"}}` + "\n"))
}

// post prepares a JSON POST to path, as the official clients send it.
func (e *benchEnv) post(path string, body any) loadgen.Request {
	raw, err := json.Marshal(body)
	if err != nil {
		panic(err) // the bodies above are plain maps
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Accept-Version", "2.0.0")
	return loadgen.Request{Method: "POST", URL: e.url + path, Header: h, Body: raw}
}

// pool prepares up to benchPool distinct requests for a run of n.
func (e *benchEnv) pool(n int, build func(i int) loadgen.Request) []loadgen.Request {
	p := make([]loadgen.Request, min(max(n, 1), benchPool))
	for i := range p {
		p[i] = build(i)
	}
	return p
}

// pairMerchant claims a merchant-created pairing code for a fresh client
// key, as a plugin does on setup, and returns the key and its SIN-bound
// merchant token.
func (e *benchEnv) pairMerchant(b *testing.B) (*btcec.PrivateKey, string) {
	b.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	sin, err := bitauth.SIN(key.PubKey().SerializeCompressed())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	code := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := e.db.CreateToken(context.Background(), code); err != nil {
		b.Fatal(err)
	}
	status, m := e.send(b, e.post("/tokens", map[string]any{"id": sin, "pairingCode": code.PairingCode}))
	list, _ := m["data"].([]any)
	if status != 200 || len(list) != 1 {
		b.Fatalf("claim pairing code: %d %v", status, m)
	}
	tok, _ := list[0].(map[string]any)["token"].(string)
	if tok != code.Value {
		b.Fatalf("claim answered token %q, want %q", tok, code.Value)
	}
	return key, tok
}

// send sends one prepared request and decodes the JSON answer.
func (e *benchEnv) send(b *testing.B, p loadgen.Request) (int, map[string]any) {
	b.Helper()
	req, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header = p.Header.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatalf("%s %s: answer is not a JSON object: %s", p.Method, p.URL, raw)
	}
	return resp.StatusCode, m
}

// run checks the pool's first request does what the benchmark claims,
// opens the workers' connections, then times b.N requests and reports
// throughput and latency.
func (e *benchEnv) run(b *testing.B, pool []loadgen.Request) {
	b.Helper()
	if status, m := e.send(b, pool[0]); status != 200 || m["data"] == nil {
		b.Fatalf("first request: %d %v", status, m)
	}
	ctx := context.Background()
	if _, err := loadgen.Run(ctx, loadgen.Config{Client: e.client, Workers: benchWorkers, Requests: benchWorkers, Pool: pool}); err != nil {
		b.Fatalf("warm up: %v", err)
	}
	b.ResetTimer()
	res, err := loadgen.Run(ctx, loadgen.Config{Client: e.client, Workers: benchWorkers, Requests: b.N, Pool: pool})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(res.PerSecond(), "req/s")
	b.ReportMetric(float64(res.Percentile(50))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(res.Percentile(99))/float64(time.Millisecond), "p99-ms")
}
