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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
