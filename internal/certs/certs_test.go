package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// selfSigned makes a certificate for names (DNS names or IPs) valid from
// notBefore to notAfter.
func selfSigned(t *testing.T, cn string, names []string, notBefore, notAfter time.Time) ([][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{der}, key
}

func writePair(t *testing.T, dir, cn string) (certFile, keyFile string, der []byte) {
	t.Helper()
	chain, key := selfSigned(t, cn, []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, chain[0]
}

// TestStaticServesAndReloads serves HTTPS on loopback with a generated
// certificate, checks a client that trusts it gets HTTP/2 over TLS 1.2+,
// then replaces the files and checks new handshakes get the new
// certificate without a restart, and that a broken replacement keeps the
// old one.
func TestStaticServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, der1 := writePair(t, dir, "first")
	s, err := LoadStatic(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.CheckEvery = 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
	go srv.Serve(tls.NewListener(ln, s.TLSConfig()))
	defer srv.Close()

	fetch := func(trust []byte) (string, []byte, error) {
		c, err := x509.ParseCertificate(trust)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(c)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			return "", nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("TLS version %x", resp.TLS.Version)
		}
		return string(body), resp.TLS.PeerCertificates[0].Raw, nil
	}
	proto, peer, err := fetch(der1)
	if err != nil {
		t.Fatal(err)
	}
	if proto != "HTTP/2.0" || string(peer) != string(der1) {
		t.Fatalf("want HTTP/2 with the first certificate, got %s", proto)
	}

	// A renewal: new files with later modification times.
	_, _, der2 := writePair(t, dir, "second")
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if _, peer, err = fetch(der2); err != nil || string(peer) != string(der2) {
		t.Fatalf("after renewal the new certificate must be served: %v", err)
	}

	// A broken key file: the previous certificate stays.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	evenLater := later.Add(time.Minute)
	os.Chtimes(keyFile, evenLater, evenLater)
	if _, peer, err = fetch(der2); err != nil || string(peer) != string(der2) {
		t.Fatalf("a broken renewal must keep the previous certificate: %v", err)
	}
}

func TestLoadStaticRefusesMismatchedPair(t *testing.T) {
	dir := t.TempDir()
	certFile, _, _ := writePair(t, dir, "a")
	other := t.TempDir()
	_, keyFile, _ := writePair(t, other, "b")
	if _, err := LoadStatic(certFile, keyFile, nil); err == nil {
		t.Fatal("a key that does not match the certificate must be refused")
	}
	if _, err := LoadStatic(filepath.Join(dir, "missing.pem"), keyFile, nil); err == nil {
		t.Fatal("a missing file must be refused")
	}
}

func cacheCert(t *testing.T, dir string, names []string, notBefore, notAfter time.Time) []byte {
	t.Helper()
	chain, key := selfSigned(t, names[0], names, notBefore, notAfter)
	kder, _ := x509.MarshalECPrivateKey(key)
	b := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0]})...)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, certificateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

// TestACMEWiring checks everything of the ACME manager short of a real
// ACME server (Let's Encrypt is not reachable from the test machines): the
// cache directory is private, a cached certificate covering the domains is
// served at once, other server names are refused, tls-alpn-01 and http-01
// challenges are answered from what an order put in place, and renewal is
// due RenewBefore the expiry.
func TestACMEWiring(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "acme")
	now := time.Now()
	der := cacheCert(t, cache, []string{"pay.example.com", "shop.example.com"}, now.Add(-time.Hour), now.Add(60*24*time.Hour))
	m, err := NewACME(ACMEConfig{Domains: []string{"pay.example.com", "shop.example.com"}, CacheDir: cache,
		HTTPChallenge: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(cache); st.Mode().Perm() != 0o700 {
		t.Fatalf("cache mode %v", st.Mode().Perm())
	}
	c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "Shop.Example.com."})
	if err != nil || string(c.Certificate[0]) != string(der) {
		t.Fatalf("the cached certificate must be served: %v", err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example.net"}); err == nil {
		t.Fatal("an unknown server name must be refused")
	}
	if got := m.untilRenewal(); got <= 0 || got > 24*time.Hour {
		t.Fatalf("renewal of a 60-day certificate is not due yet: %v", got)
	}
	cfg := m.TLSConfig()
	if !strings.Contains(strings.Join(cfg.NextProtos, ","), acme.ALPNProto) || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS config %v", cfg.NextProtos)
	}

	// Challenges, as an order in progress puts them in place.
	alpn, _ := selfSigned(t, "pay.example.com", []string{"pay.example.com"}, now, now.Add(time.Hour))
	m.mu.Lock()
	m.alpn["pay.example.com"] = &tls.Certificate{Certificate: alpn}
	m.tokens["/.well-known/acme-challenge/tok123"] = "tok123.thumbprint"
	m.mu.Unlock()
	c, err = m.GetCertificate(&tls.ClientHelloInfo{ServerName: "pay.example.com", SupportedProtos: []string{acme.ALPNProto}})
	if err != nil || string(c.Certificate[0]) != string(alpn[0]) {
		t.Fatalf("a tls-alpn-01 handshake must get the challenge certificate: %v", err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.example.com", SupportedProtos: []string{acme.ALPNProto}}); err == nil {
		t.Fatal("no challenge is pending for shop.example.com")
	}
	h := m.HTTPHandler(Redirect("https://pay.example.com"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/tok123", nil))
	if rec.Code != 200 || rec.Body.String() != "tok123.thumbprint" {
		t.Fatalf("http-01: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/unknown", nil))
	if rec.Code != 404 {
		t.Fatalf("an unknown token: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/invoice?id=abc", nil))
	if rec.Code != 301 || rec.Header().Get("Location") != "https://pay.example.com/invoice?id=abc" {
		t.Fatalf("other paths redirect: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestACMECacheChecks(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		names               []string
		notBefore, notAfter time.Time
	}{
		"expired":          {[]string{"pay.example.com"}, now.Add(-48 * time.Hour), now.Add(-time.Hour)},
		"other domains":    {[]string{"old.example.com"}, now.Add(-time.Hour), now.Add(48 * time.Hour)},
		"missing a domain": {[]string{"pay.example.com"}, now.Add(-time.Hour), now.Add(48 * time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "acme")
			cacheCert(t, cache, tc.names, tc.notBefore, tc.notAfter)
			domains := []string{"pay.example.com"}
			if name == "missing a domain" {
				domains = append(domains, "shop.example.com")
			}
			m, err := NewACME(ACMEConfig{Domains: domains, CacheDir: cache, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if m.Certificate() != nil || m.untilRenewal() != 0 {
				t.Fatal("an unusable cached certificate must not be served, and an order must be due")
			}
			if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "pay.example.com"}); err == nil {
				t.Fatal("no certificate yet")
			}
		})
	}
}

// TestACMETalksToTheConfiguredDirectory runs an order against a loopback
// server that is not an ACME server: the manager asks the configured
// directory (not Let's Encrypt), fails with a clear error and keeps its
// account key for the retry.
func TestACMETalksToTheConfiguredDirectory(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "not an ACME server", http.StatusNotFound)
	}))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "acme")
	m, err := NewACME(ACMEConfig{Domains: []string{"pay.example.com"}, CacheDir: cache, DirectoryURL: srv.URL + "/directory",
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.obtain(ctx); err == nil || !strings.Contains(err.Error(), "register ACME account") {
		t.Fatalf("want a registration error, got %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the configured directory was not asked")
	}
	st, err := os.Stat(filepath.Join(cache, accountKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the account key must be cached privately: %v", err)
	}
}

func TestRedirect(t *testing.T) {
	h := Redirect("https://pay.example.com:8443/")
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/i/abc?x=1&y=%20", "https://pay.example.com:8443/i/abc?x=1&y=%20"},
		{"HEAD", "/", "https://pay.example.com:8443/"},
		{"GET", "//evil.example.net/x", "https://pay.example.com:8443//evil.example.net/x"},
	} {
		req := httptest.NewRequest(tc.method, "http://attacker.example.net"+tc.target, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 301 || rec.Header().Get("Location") != tc.want {
			t.Fatalf("%s %s: %d %q", tc.method, tc.target, rec.Code, rec.Header().Get("Location"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/invoices", strings.NewReader("{}")))
	if rec.Code != 400 {
		t.Fatalf("POST over http must not be redirected: %d", rec.Code)
	}
}
