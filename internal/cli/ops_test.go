package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a kassa serve running in-process.
type server struct {
	addr   string
	cancel context.CancelFunc
	done   chan int
	logs   *syncBuffer
}

func startServe(t *testing.T, vars map[string]string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{addr: vars["KASSA_LISTEN"], cancel: cancel, done: make(chan int, 1), logs: &syncBuffer{}}
	go func() {
		s.done <- Run(ctx, []string{"serve"}, Env{Stdout: io.Discard, Stderr: s.logs, Getenv: func(k string) string { return vars[k] }})
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the server and fails the test if it did not exit cleanly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if code := <-s.done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs.String())
	}
}

// waitStarted waits until a server whose chain backend is unreachable
// has opened its database and is trying the backend, so stopping it is a
// clean shutdown.
func waitStarted(t *testing.T, s *server) {
	t.Helper()
	waitFor(t, "serve to reach the chain backend", func() bool {
		return strings.Contains(s.logs.String(), "chain backend unavailable")
	})
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches a URL and returns status, body and headers.
func get(t *testing.T, client *http.Client, url string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func readyz(t *testing.T, addr string) (int, readiness) {
	code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/readyz", nil)
	var r readiness
	_ = json.Unmarshal([]byte(body), &r)
	return code, r
}

// metricValue returns a sample's value from /metrics, or -1 if absent.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	_, body, _ := get(t, http.DefaultClient, "http://"+addr+"/metrics", nil)
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("bad sample %q", line)
			}
			return v
		}
	}
	return -1
}

// newVars returns the environment of a kassa on node (or on nothing when
// chain is empty) in a fresh data directory.
func newVars(t *testing.T, chain string) map[string]string {
	return map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest", "KASSA_LISTEN": freeAddr(t),
		"KASSA_CHAIN": chain, "KASSA_RATES": "fixed:BTC_USD=50000", "KASSA_LOG_FORMAT": "json", "KASSA_CHAIN_POLL": "100ms"}
}

// TestReadyzWithoutChain: the server answers /healthz at once but is not
// ready while its chain backend cannot be reached, and says why.
func TestReadyzWithoutChain(t *testing.T) {
	vars := newVars(t, "rpc://u:secret-rpc-pass@"+freeAddr(t))
	s := startServe(t, vars)
	waitFor(t, "healthz", func() bool {
		code, _, _ := get(t, http.DefaultClient, "http://"+s.addr+"/healthz", nil)
		return code == 200
	})
	waitFor(t, "the database to open", func() bool {
		_, r := readyz(t, s.addr)
		return r.Database == "ok"
	})
	code, r := readyz(t, s.addr)
	if code != 503 || r.Status != "not ready" || r.Role != "single" || !strings.Contains(r.Reason, "chain backend") {
		t.Fatalf("readyz without a chain: %d %+v", code, r)
	}
	// A second server on the same data directory refuses to start.
	other := map[string]string{}
	for k, v := range vars {
		other[k] = v
	}
	other["KASSA_LISTEN"] = freeAddr(t)
	if _, errs, code := run(t, other, "serve"); code == 0 || !strings.Contains(errs, "kassa serve running") {
		t.Fatalf("a second serve on the same data directory must refuse: %d %s", code, errs)
	}
	s.stop(t)
	if strings.Contains(s.logs.String(), "secret-rpc-pass") {
		t.Fatal("the RPC password must not be logged")
	}
}

// TestServeOpsOnRegtest runs kassa serve against a real btcd node and
// checks /readyz, /metrics (who may read it, and what it says as a payment
// arrives and confirms), request ids and the JSON logs.
func TestServeOpsOnRegtest(t *testing.T) {
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	vars := newVars(t, node.RPCURL())
	storeID := createStore(t, vars, "medium")
	invID := createInvoice(t, vars, storeID)
	s := startServe(t, vars)
	waitFor(t, "ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	_, r := readyz(t, s.addr)
	if r.Tip != 101 || r.NodeHeight != 101 || r.Lag != 0 || r.Chain != "ok" || r.Database != "ok" {
		t.Fatalf("readyz: %+v", r)
	}

	// Request ids: a proxy's is kept and echoed.
	_, _, h := get(t, http.DefaultClient, "http://"+s.addr+"/healthz", map[string]string{"X-Request-Id": "edge-42"})
	if h.Get("X-Request-Id") != "edge-42" {
		t.Fatalf("request id not echoed: %v", h)
	}
	// /metrics is for local clients that did not come through a proxy.
	if code, _, _ := get(t, http.DefaultClient, "http://"+s.addr+"/metrics", map[string]string{"X-Forwarded-For": "203.0.113.9"}); code != 403 {
		t.Fatalf("a proxied /metrics request must be refused, got %d", code)
	}

	db := openTestDB(t, vars)
	inv, err := db.GetInvoice(context.Background(), invID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mempool payment's detection to be measured", func() bool {
		return metricValue(t, s.addr, `kassa_payment_detection_seconds_count{stage="mempool"}`) == 1
	})
	if _, err := node.Mine(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the confirmation's detection to be measured", func() bool {
		return metricValue(t, s.addr, `kassa_payment_detection_seconds_count{stage="block"}`) == 1
	})
	waitFor(t, "the invoice count by status", func() bool {
		return metricValue(t, s.addr, `kassa_invoices{status="confirmed"}`) == 1
	})
	for series, want := range map[string]float64{
		"kassa_chain_height": 102, "kassa_chain_node_height": 102, "kassa_chain_lag_blocks": 0, "kassa_chain_up": 1,
		`kassa_rate_source_fresh{source="fixed"}`: 1, "kassa_invoices_watched": 1,
		`kassa_build_info{version="dev",network="regtest"}`: 1, "kassa_ipn_backlog": 0,
	} {
		if got := metricValue(t, s.addr, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	_, body, _ := get(t, http.DefaultClient, "http://"+s.addr+"/metrics", nil)
	for _, want := range []string{
		`kassa_http_request_duration_seconds_count{route="GET /healthz",method="GET",code="200"}`,
		`kassa_http_request_duration_seconds_count{route="GET /readyz",method="GET",code="200"}`,
		"# TYPE kassa_ipn_attempts_total counter", "# TYPE kassa_ipn_requests_total counter",
		`kassa_rate_source_age_seconds{source="fixed"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s.stop(t)
	// Every log line is JSON (the format asked for).
	for line := range strings.Lines(s.logs.String()) {
		if !json.Valid([]byte(line)) {
			t.Fatalf("not a JSON log line: %q", line)
		}
	}
}

func createStore(t *testing.T, vars map[string]string, speed string) string {
	t.Helper()
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key, "--speed", speed)
	if code != 0 {
		t.Fatalf("store create: %s", errs)
	}
	return strings.TrimSpace(out)
}

func createInvoice(t *testing.T, vars map[string]string, storeID string, extra ...string) string {
	t.Helper()
	out, errs, code := run(t, vars, append([]string{"invoice", "create", "--store", storeID, "--price", "10"}, extra...)...)
	if code != 0 {
		t.Fatalf("invoice create: %s", errs)
	}
	var inv struct{ ID string }
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.ID == "" {
		t.Fatalf("invoice create: %v %s", err, out)
	}
	return inv.ID
}

func openTestDB(t *testing.T, vars map[string]string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(vars["KASSA_DATA_DIR"], "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRescanOnRegtest proves kassa rescan against a real btcd node:
// payments kassa already counted are not counted again (their invoices
// are not even rewritten), a payment kassa missed because its cursor had
// moved past the block is found and applied, an invoice paid long ago with
// a payment confirmed above the rescanned range is not judged at the old
// heights (it would turn invalid), the cursor serve resumes from is left
// alone, and running the rescan twice changes nothing.
func TestRescanOnRegtest(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	vars := newVars(t, node.RPCURL())
	storeID := createStore(t, vars, "medium")
	db := openTestDB(t, vars)
	status := func(id string) invoice.Invoice {
		inv, err := db.GetInvoice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	pay := func(id string) {
		inv := status(id)
		if _, err := node.Wallet().Pay(ctx, inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
			t.Fatal(err)
		}
	}
	mine := func(n int) {
		if _, err := node.Mine(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	// A is paid and completed while kassa watches: blocks 102 to 107.
	a := createInvoice(t, vars, storeID)
	s := startServe(t, vars)
	waitFor(t, "serve ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	pay(a)
	waitFor(t, "A paid", func() bool { return status(a).Status == invoice.StatusPaid })
	mine(6)
	waitFor(t, "A complete", func() bool { return status(a).Status == invoice.StatusComplete })
	s.stop(t)

	// B is paid while kassa is down, in block 108; then kassa's cursor is
	// moved to 115 without it seeing 108 to 115, as if it had followed
	// another node meanwhile.
	b := createInvoice(t, vars, storeID)
	pay(b)
	mine(8)
	tip, err := node.BestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(ctx, nil, &store.ChainUpdate{Rewind: store.NoRewind, Blocks: []store.ChainBlock{{Height: 115, Hash: tip.String()}}}); err != nil {
		t.Fatal(err)
	}

	// kassa runs again and does not find B's payment by itself: it is
	// deeper than the late-watch rescan looks. C (low speed) is paid and
	// confirmed once in block 117: paid, waiting for six confirmations.
	s = startServe(t, vars)
	waitFor(t, "serve ready again", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	mine(1)
	waitFor(t, "block 116 processed", func() bool { _, r := readyz(t, s.addr); return r.Tip == 116 })
	if st := status(b).Status; st != invoice.StatusNew || len(status(b).Payments) != 0 {
		t.Fatalf("B's payment must have been missed for this test to mean anything; B is %s", st)
	}
	c := createInvoice(t, vars, storeID, "--speed", "low")
	waitFor(t, "C watched", func() bool {
		_, r := readyz(t, s.addr)
		return r.Tip == 116 && metricValue(t, s.addr, "kassa_invoices_watched") >= 3
	})
	pay(c)
	waitFor(t, "C paid", func() bool { return status(c).Status == invoice.StatusPaid })
	mine(1)
	waitFor(t, "C confirmed once", func() bool { p := status(c).Payments; return len(p) == 1 && p[0].Height == 117 })

	// The rescan refuses to run beside the server.
	if _, errs, code := run(t, vars, "rescan", "--from", "102"); code == 0 || !strings.Contains(errs, "stop it") {
		t.Fatalf("rescan beside serve must refuse: %d %s", code, errs)
	}
	s.stop(t)

	// C was paid more than an hour ago (the invalid window) as far as the
	// store knows: judged at a height below 117 its payment would count as
	// unconfirmed and C would turn invalid.
	cInv := status(c)
	cInv.PaidAt = cInv.PaidAt.Add(-2 * time.Hour)
	if err := db.UpdateInvoice(ctx, &cInv, nil); err != nil {
		t.Fatal(err)
	}

	before := map[string]invoice.Invoice{a: status(a), c: status(c)}
	events := func(id string) int {
		evs, err := db.Outbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	eventsBefore := map[string]int{a: events(a), c: events(c), b: events(b)}
	cursor, err := db.RecentBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out, errs, code := run(t, vars, "rescan", "--from", "102")
	if code != 0 || out != "" {
		t.Fatalf("rescan: %d %q %s", code, out, errs)
	}
	if !strings.Contains(errs, "rescanning blocks 102 to 117") || !strings.Contains(errs, "rescan: block 117 of 117 (100%)") ||
		!regexp.MustCompile(`rescanned blocks 102 to 117 \(16 blocks, \d+ invoices watched\): 1 invoice updates`).MatchString(errs) {
		t.Fatalf("rescan progress and summary:\n%s", errs)
	}

	// B: found, counted once, judged at the tip (10 confirmations).
	bInv := status(b)
	if bInv.Status != invoice.StatusComplete || len(bInv.Payments) != 1 || bInv.Payments[0].Height != 108 || bInv.Paid() != bInv.Due() {
		t.Fatalf("B after the rescan: %s %+v", bInv.Status, bInv.Payments)
	}
	if events(b) <= eventsBefore[b] {
		t.Fatal("B's payment must have produced notifications")
	}
	// A and C: untouched, not a single write.
	for id, inv := range before {
		now := status(id)
		if now.Version != inv.Version || now.Status != inv.Status || len(now.Payments) != 1 || events(id) != eventsBefore[id] {
			t.Fatalf("invoice %s changed: %s v%d → %s v%d", id, inv.Status, inv.Version, now.Status, now.Version)
		}
	}
	if status(c).Status != invoice.StatusPaid {
		t.Fatalf("C must still be paid, is %s", status(c).Status)
	}
	after, err := db.RecentBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(cursor) {
		t.Fatalf("the processed-chain cursor must be left alone:\n%v\n%v", cursor, after)
	}

	// Again: nothing at all changes.
	snapshot := map[string]invoice.Invoice{a: status(a), b: status(b), c: status(c)}
	_, errs, code = run(t, vars, "rescan", "--from", "102")
	if code != 0 || !strings.Contains(errs, ": 0 invoice updates, 0 notifications") {
		t.Fatalf("second rescan: %d %s", code, errs)
	}
	for id, inv := range snapshot {
		if status(id).Version != inv.Version {
			t.Fatalf("the second rescan rewrote invoice %s", id)
		}
	}

	// Bad input.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rescan"}, "--from HEIGHT is required"},
		{[]string{"rescan", "--from", "999"}, "above the node's tip 117"},
	} {
		if _, errs, code := run(t, vars, tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Fatalf("%v: %d %s", tc.args, code, errs)
		}
	}
	esplora := map[string]string{}
	for k, v := range vars {
		esplora[k] = v
	}
	esplora["KASSA_CHAIN"] = "esplora+https://blockstream.info/api"
	if _, errs, code := run(t, esplora, "rescan", "--from", "5"); code == 0 || !strings.Contains(errs, "Esplora") {
		t.Fatalf("an Esplora backend has nothing to rescan: %d %s", code, errs)
	}
}

// TestServeStaticTLS serves kassa over TLS on loopback with a generated
// certificate: HTTPS answers, plain HTTP on the redirect listener is sent
// to the https URL, and /metrics is on a listener of its own.
func TestServeStaticTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeTestCert(t, dir)
	vars := newVars(t, "rpc://u:p@"+freeAddr(t))
	redirect, metricsAddr := freeAddr(t), freeAddr(t)
	vars["KASSA_TLS_CERT"], vars["KASSA_TLS_KEY"] = certFile, keyFile
	vars["KASSA_HTTP_REDIRECT"], vars["KASSA_METRICS_LISTEN"] = redirect, metricsAddr
	s := startServe(t, vars)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var body string
	waitFor(t, "https healthz", func() bool {
		var code int
		code, body, _ = get(t, client, "https://"+s.addr+"/healthz", nil)
		return code == 200
	})
	if !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("healthz over https: %s", body)
	}
	waitStarted(t, s)
	if code, _, _ := get(t, http.DefaultClient, "http://"+s.addr+"/healthz", nil); code == 200 {
		t.Fatal("plain HTTP on the TLS listener must not be served")
	}
	code, _, h := get(t, client, "http://"+redirect+"/invoice?id=abc", nil)
	if code != 301 || h.Get("Location") != "https://"+s.addr+"/invoice?id=abc" {
		t.Fatalf("redirect: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := get(t, client, "https://"+s.addr+"/metrics", nil); code != 404 {
		t.Fatalf("with KASSA_METRICS_LISTEN set, the main listener has no /metrics: %d", code)
	}
	if code, body, _ := get(t, http.DefaultClient, "http://"+metricsAddr+"/metrics", nil); code != 200 || !strings.Contains(body, "kassa_http_request_duration_seconds") {
		t.Fatalf("metrics listener: %d", code)
	}
	s.stop(t)
}

// TestServeACMEWiring starts kassa serve with KASSA_TLS=acme (Let's
// Encrypt is not reachable from the test machines, so the directory is a
// loopback address nothing listens on): the server comes up, its redirect
// listener redirects and answers challenge paths, the ACME cache is made
// private in the data directory, and the failed order is logged, not fatal.
func TestServeACMEWiring(t *testing.T) {
	vars := newVars(t, "rpc://u:p@"+freeAddr(t))
	redirect := freeAddr(t)
	vars["KASSA_TLS"], vars["KASSA_ACME_DOMAINS"], vars["KASSA_ACME_EMAIL"] = "acme", "pay.example.com", "ops@example.com"
	vars["KASSA_ACME_DIRECTORY"] = "https://" + freeAddr(t) + "/directory"
	vars["KASSA_HTTP_REDIRECT"] = redirect
	s := startServe(t, vars)
	waitFor(t, "the order to fail and be logged", func() bool {
		return strings.Contains(s.logs.String(), "could not get a TLS certificate")
	})
	waitStarted(t, s)
	code, _, h := get(t, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		"http://"+redirect+"/x", nil)
	if code != 301 || h.Get("Location") != "https://pay.example.com:"+strings.Split(s.addr, ":")[1]+"/x" {
		t.Fatalf("redirect: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := get(t, http.DefaultClient, "http://"+redirect+"/.well-known/acme-challenge/none", nil); code != 404 {
		t.Fatalf("an unknown challenge token: %d", code)
	}
	st, err := os.Stat(filepath.Join(vars["KASSA_DATA_DIR"], "acme"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the ACME cache must be a private directory in the data directory: %v", err)
	}
	s.stop(t)
	if !strings.Contains(s.logs.String(), `"domains":["pay.example.com"]`) {
		t.Fatalf("the ACME log names the domains:\n%s", s.logs.String())
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and
// returns its files and a pool trusting it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kassa test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}
