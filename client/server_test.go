package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// recorded is one request as the fake server saw it.
type recorded struct {
	Method string
	URI    string // raw request-target, query included
	Header http.Header
	Body   string
	Signed bool   // X-Identity or X-Signature present
	SigErr error  // nil when the BitAuth signature verified
	SIN    string // SIN derived from X-Identity by the server
}

// fakeServer is a loopback BitPay API that answers every request with one
// canned response and checks every BitAuth signature it receives.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	status   int
	body     string
}

// newFakeServer starts a server that answers status and body.
func newFakeServer(t *testing.T, status int, body string) *fakeServer {
	t.Helper()
	fs := &fakeServer{status: status, body: body}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := recorded{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(raw)}
	if r.Header.Get("X-Identity") != "" || r.Header.Get("X-Signature") != "" {
		rec.Signed = true
		rec.SIN, rec.SigErr = verifyBitAuth("http://"+r.Host+r.RequestURI, raw,
			r.Header.Get("X-Identity"), r.Header.Get("X-Signature"))
	}
	fs.mu.Lock()
	fs.requests = append(fs.requests, rec)
	status, body := fs.status, fs.body
	fs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// respond changes the canned response for later requests.
func (fs *fakeServer) respond(status int, body string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.status, fs.body = status, body
}

// only returns the single request the server received.
func (fs *fakeServer) only(t *testing.T) recorded {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.requests) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(fs.requests))
	}
	return fs.requests[0]
}

// verifyBitAuth checks a signature the way a BitAuth server does (spec
// §1.2): SHA-256 over the exact URL and body, DER signature, hex compressed
// public key. It returns the SIN of the key, derived independently of Key.
func verifyBitAuth(fullURL string, body []byte, identity, signature string) (string, error) {
	pubBytes, err := hex.DecodeString(identity)
	if err != nil {
		return "", fmt.Errorf("X-Identity: %w", err)
	}
	if len(pubBytes) != btcec.PubKeyBytesLenCompressed {
		return "", fmt.Errorf("X-Identity: %d bytes, want a compressed key", len(pubBytes))
	}
	pub, err := btcec.ParsePubKey(pubBytes)
	if err != nil {
		return "", fmt.Errorf("X-Identity: %w", err)
	}
	sigBytes, err := hex.DecodeString(signature)
	if err != nil {
		return "", fmt.Errorf("X-Signature: %w", err)
	}
	sig, err := ecdsa.ParseDERSignature(sigBytes)
	if err != nil {
		return "", fmt.Errorf("X-Signature: %w", err)
	}
	digest := sha256.Sum256(append([]byte(fullURL), body...))
	if !sig.Verify(digest[:], pub) {
		return "", errors.New("signature does not verify over " + fullURL + string(body))
	}
	return base58.CheckEncode(append([]byte{0x02}, address.Hash160(pubBytes)...), 0x0f), nil
}

// readTestdata returns a file of testdata/ as a string.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
