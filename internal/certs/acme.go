package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// ACMEConfig configures an ACME manager.
type ACMEConfig struct {
	// Domains are the names the certificate covers (at least one).
	Domains []string
	// Email is the ACME account's contact address; may be empty.
	Email string
	// DirectoryURL is the ACME server (Let's Encrypt's production
	// directory if empty).
	DirectoryURL string
	// CacheDir keeps the account key and the certificate; it is created
	// with mode 0700.
	CacheDir string
	// HTTPChallenge says that HTTPHandler is reachable on port 80 of the
	// domains, so http-01 is preferred; otherwise tls-alpn-01 is used,
	// which needs the TLS listener on port 443.
	HTTPChallenge bool
	// RenewBefore is how long before expiry a certificate is renewed (30
	// days if zero).
	RenewBefore time.Duration
	// HTTPClient talks to the ACME server (http.DefaultClient if nil).
	HTTPClient *http.Client
	// Log receives progress and failures (slog.Default() if nil).
	Log *slog.Logger
	// Clock tells the time (time.Now if nil).
	Clock func() time.Time
}

// ACME obtains and renews one certificate for its domains and serves it.
type ACME struct {
	cfg ACMEConfig

	mu     sync.Mutex
	cert   *tls.Certificate // nil until obtained or loaded
	tokens map[string]string
	alpn   map[string]*tls.Certificate
}

// Cache file names in CacheDir.
const (
	accountKeyFile  = "account.key"
	certificateFile = "certificate.pem"
)

// NewACME checks cfg, creates the cache directory and loads a cached
// certificate that still covers the domains. It does not contact the ACME
// server; Run does.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if len(cfg.Domains) == 0 {
		return nil, errors.New("acme: no domains")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("acme: no cache directory")
	}
	if cfg.DirectoryURL == "" {
		cfg.DirectoryURL = acme.LetsEncryptURL
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = 30 * 24 * time.Hour
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("component", "acme")
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme cache: %w", err)
	}
	if err := os.Chmod(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme cache: %w", err)
	}
	m := &ACME{cfg: cfg, tokens: map[string]string{}, alpn: map[string]*tls.Certificate{}}
	cert, err := m.loadCached()
	switch {
	case err == nil:
		m.cert = cert
		cfg.Log.Info("using the cached certificate", "domains", cfg.Domains, "expires", cert.Leaf.NotAfter)
	case errors.Is(err, os.ErrNotExist):
	default:
		cfg.Log.Warn("ignoring the cached certificate", "err", err)
	}
	return m, nil
}

// TLSConfig returns a server configuration that serves the certificate
// (HTTP/2 and HTTP/1.1, TLS 1.2 or later) and answers tls-alpn-01
// challenges.
func (m *ACME) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1", acme.ALPNProto},
		MinVersion:     tls.VersionTLS12,
	}
}

// GetCertificate implements tls.Config.GetCertificate: a tls-alpn-01
// challenge gets its challenge certificate, any other handshake for one of
// the domains (or without a server name) the certificate.
func (m *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
		if c, ok := m.alpn[name]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("acme: no tls-alpn-01 challenge pending for %q", name)
	}
	if name != "" && !slices.Contains(m.cfg.Domains, name) {
		return nil, fmt.Errorf("acme: %q is not one of the configured domains", name)
	}
	if m.cert == nil {
		return nil, errors.New("acme: no certificate yet; the ACME order is in progress")
	}
	return m.cert, nil
}

// HTTPHandler answers http-01 challenges at /.well-known/acme-challenge/
// and hands every other request to fallback.
func (m *ACME) HTTPHandler(fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			fallback.ServeHTTP(w, r)
			return
		}
		m.mu.Lock()
		resp, ok := m.tokens[r.URL.Path]
		m.mu.Unlock()
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(resp))
	})
}

// Certificate returns the certificate served now, or nil.
func (m *ACME) Certificate() *tls.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cert
}

// Run obtains the certificate if there is none and renews it RenewBefore
// its expiry, until ctx ends. Failures are logged and retried after a
// delay that doubles from one minute to six hours (or what the server's
// rate limit asks).
func (m *ACME) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		wait := m.untilRenewal()
		if wait <= 0 {
			err := m.obtain(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				backoff = min(max(2*backoff, time.Minute), 6*time.Hour)
				if d, ok := acme.RateLimit(err); ok && d > backoff {
					backoff = d
				}
				m.cfg.Log.Error("could not get a TLS certificate; retrying", "domains", m.cfg.Domains, "err", err, "retry_in", backoff)
				wait = backoff
			} else {
				backoff = 0
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// untilRenewal returns how long until the certificate is due for renewal
// (0 if there is none), at most a day so a changed clock is noticed.
func (m *ACME) untilRenewal() time.Duration {
	cert := m.Certificate()
	if cert == nil {
		return 0
	}
	due := cert.Leaf.NotAfter.Add(-m.cfg.RenewBefore)
	return min(max(due.Sub(m.cfg.Clock()), 0), 24*time.Hour)
}

// obtain runs one ACME order for the domains and installs the result.
func (m *ACME) obtain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	key, err := m.accountKey()
	if err != nil {
		return err
	}
	client := &acme.Client{Key: key, DirectoryURL: m.cfg.DirectoryURL, HTTPClient: m.cfg.HTTPClient, UserAgent: "kassa"}
	acct := &acme.Account{}
	if m.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + m.cfg.Email}
	}
	if _, err := client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("register ACME account: %w", err)
	}
	m.cfg.Log.Info("ordering a certificate", "domains", m.cfg.Domains, "directory", m.cfg.DirectoryURL)
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(m.cfg.Domains...))
	if err != nil {
		return fmt.Errorf("order certificate: %w", err)
	}
	for _, zurl := range order.AuthzURLs {
		if err := m.authorize(ctx, client, zurl); err != nil {
			return err
		}
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("wait for order: %w", err)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: m.cfg.Domains[0]}, DNSNames: m.cfg.Domains}, certKey)
	if err != nil {
		return fmt.Errorf("certificate request: %w", err)
	}
	der, _, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return fmt.Errorf("finalize order: %w", err)
	}
	cert, err := m.install(der, certKey)
	if err != nil {
		return err
	}
	m.cfg.Log.Info("got a TLS certificate", "domains", m.cfg.Domains, "expires", cert.Leaf.NotAfter)
	return nil
}

// authorize proves control of one authorization's domain.
func (m *ACME) authorize(ctx context.Context, client *acme.Client, zurl string) error {
	z, err := client.GetAuthorization(ctx, zurl)
	if err != nil {
		return fmt.Errorf("get authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	domain := z.Identifier.Value
	want := []string{"tls-alpn-01", "http-01"}
	if m.cfg.HTTPChallenge {
		want = []string{"http-01", "tls-alpn-01"}
	}
	var chal *acme.Challenge
	for _, typ := range want {
		if i := slices.IndexFunc(z.Challenges, func(c *acme.Challenge) bool { return c.Type == typ }); i >= 0 {
			chal = z.Challenges[i]
			break
		}
	}
	if chal == nil || (chal.Type == "http-01" && !m.cfg.HTTPChallenge) {
		return fmt.Errorf("authorize %s: the ACME server offers no challenge kassa can answer", domain)
	}
	switch chal.Type {
	case "http-01":
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		path := client.HTTP01ChallengePath(chal.Token)
		m.mu.Lock()
		m.tokens[path] = resp
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.tokens, path)
			m.mu.Unlock()
		}()
	case "tls-alpn-01":
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, domain)
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.alpn[domain] = &cert
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.alpn, domain)
			m.mu.Unlock()
		}()
	}
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("authorize %s (%s): %w", domain, chal.Type, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("authorize %s (%s): %w", domain, chal.Type, err)
	}
	return nil
}

// accountKey loads the cached account key or makes and caches one.
func (m *ACME) accountKey() (crypto.Signer, error) {
	path := filepath.Join(m.cfg.CacheDir, accountKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("acme account key %s: no PEM block", path)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("acme account key %s: %w", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return k, nil
}

// install checks a certificate chain against the domains, caches it with
// its key and starts serving it.
func (m *ACME) install(der [][]byte, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	cert, err := m.check(der, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	var buf []byte
	buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
	for _, d := range der {
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	if err := writeSecret(filepath.Join(m.cfg.CacheDir, certificateFile), buf); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.cert = cert
	m.mu.Unlock()
	return cert, nil
}

// check builds a tls.Certificate from a chain and key and makes sure the
// leaf matches the key, covers every domain and is in its validity period.
func (m *ACME) check(der [][]byte, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("acme: empty certificate chain")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("acme: parse certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("acme: the certificate does not match its key")
	}
	for _, d := range m.cfg.Domains {
		if err := leaf.VerifyHostname(d); err != nil {
			return nil, fmt.Errorf("acme: the certificate does not cover %s", d)
		}
	}
	now := m.cfg.Clock()
	if now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("acme: the certificate is valid from %s to %s", leaf.NotBefore, leaf.NotAfter)
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, nil
}

// loadCached reads the cached certificate; os.ErrNotExist when there is
// none.
func (m *ACME) loadCached() (*tls.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(m.cfg.CacheDir, certificateFile))
	if err != nil {
		return nil, err
	}
	var key *ecdsa.PrivateKey
	var der [][]byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
				return nil, fmt.Errorf("cached key: %w", err)
			}
		case "CERTIFICATE":
			der = append(der, block.Bytes)
		}
	}
	if key == nil {
		return nil, errors.New("cached certificate has no key")
	}
	return m.check(der, key)
}

// writeSecret writes a file only its owner can read, atomically.
func writeSecret(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
