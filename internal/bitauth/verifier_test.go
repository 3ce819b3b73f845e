package bitauth

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// testOrigins are the public origins of a typical deployment.
var testOrigins = []string{
	"https://pay.example.com",
	"https://bitpay.com",
	"https://test.bitpay.com",
	"http://127.0.0.1:18555",
}

// testKey is a fixed client key.
func testKey(t testing.TB, seed byte) *btcec.PrivateKey {
	t.Helper()
	b := make([]byte, 32)
	for i := range b {
		b[i] = seed + byte(i)
	}
	priv, _ := btcec.PrivKeyFromBytes(b)
	return priv
}

// signHex signs message as a BitPay client does and returns the hex DER
// signature, with S forced high when highS is set.
func signHex(priv *btcec.PrivateKey, message string, highS bool) string {
	hash := sha256.Sum256([]byte(message))
	sig := ecdsa.Sign(priv, hash[:]) // RFC 6979, low S
	if !highS {
		return hex.EncodeToString(sig.Serialize())
	}
	r, s := sig.R(), sig.S()
	s.Negate()
	if !s.IsOverHalfOrder() {
		panic("negated low S is not high")
	}
	return hex.EncodeToString(derSignature(r, s))
}

// derSignature encodes r and s as DER without normalizing S, since
// ecdsa.Signature.Serialize always emits low S.
func derSignature(r, s btcec.ModNScalar) []byte {
	integer := func(v btcec.ModNScalar) []byte {
		b := v.Bytes()
		out := b[:]
		for len(out) > 1 && out[0] == 0 && out[1] < 0x80 {
			out = out[1:]
		}
		if out[0] >= 0x80 {
			out = append([]byte{0}, out...)
		}
		return append([]byte{0x02, byte(len(out))}, out...)
	}
	body := append(integer(r), integer(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

// paddedSignatureHex signs message and re-encodes the signature with a
// superfluous zero byte before R, which strict DER forbids and hand-built
// encoders produce.
func paddedSignatureHex(priv *btcec.PrivateKey, message string) string {
	hash := sha256.Sum256([]byte(message))
	der := ecdsa.Sign(priv, hash[:]).Serialize()
	rLen := int(der[3])
	out := []byte{0x30, der[1] + 1, 0x02, byte(rLen + 1), 0x00}
	out = append(out, der[4:]...)
	return hex.EncodeToString(out)
}

func compressedHex(priv *btcec.PrivateKey) string {
	return hex.EncodeToString(priv.PubKey().SerializeCompressed())
}

func TestVerify(t *testing.T) {
	priv := testKey(t, 1)
	other := testKey(t, 2)
	id := compressedHex(priv)
	wantSIN, err := SIN(priv.PubKey().SerializeCompressed())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"price":10,"currency":"USD","token":"T"}`
	tests := []struct {
		name      string
		origins   []string // testOrigins when nil
		identity  string
		signature string
		uri       string
		body      string
		wantErr   error
	}{
		{name: "GET with query", identity: id,
			signature: signHex(priv, "https://pay.example.com/invoices/X?token=T", false), uri: "/invoices/X?token=T"},
		{name: "POST with body", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices"+body, false), uri: "/invoices", body: body},
		{name: "high S", identity: id,
			signature: signHex(priv, "https://test.bitpay.com/invoices"+body, true), uri: "/invoices", body: body},
		{name: "uppercase signature hex", identity: strings.ToUpper(id),
			signature: strings.ToUpper(signHex(priv, "https://pay.example.com/tokens", false)), uri: "/tokens"},
		{name: "loopback origin with port", identity: id,
			signature: signHex(priv, "http://127.0.0.1:18555/tokens", false), uri: "/tokens"},
		{name: "explicit default https port", identity: id,
			signature: signHex(priv, "https://test.bitpay.com:443/tokens", false), uri: "/tokens"},
		{name: "explicit default http port", origins: []string{"http://kassa.lan"}, identity: id,
			signature: signHex(priv, "http://kassa.lan:80/tokens", false), uri: "/tokens"},
		{name: "configured port, signed without", origins: []string{"https://kassa.lan:443"}, identity: id,
			signature: signHex(priv, "https://kassa.lan/tokens", false), uri: "/tokens"},
		{name: "bare question mark kept", identity: id,
			signature: signHex(priv, "https://bitpay.com/refunds/R?", false), uri: "/refunds/R?"},
		{name: "bare question mark dropped", identity: id,
			signature: signHex(priv, "https://bitpay.com/refunds/R?", false), uri: "/refunds/R", wantErr: ErrInvalidSignature},
		{name: "raw percent-encoding", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%2Cb", false), uri: "/invoices?orderId=a%2Cb"},
		{name: "percent-encoding normalized", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%2Cb", false), uri: "/invoices?orderId=a,b", wantErr: ErrInvalidSignature},
		{name: "tilde signed encoded, sent bare", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%7Eb", false), uri: "/invoices?orderId=a~b"},
		{name: "tilde signed bare, sent encoded", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a~b", false), uri: "/invoices?orderId=a%7Eb"},
		{name: "tilde signed in lower-case hex, sent bare", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%7eb%2c", false), uri: "/invoices?orderId=a~b%2C"},
		{name: "unreserved letters sent encoded", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices/Abc?orderId=x-y", false), uri: "/invoices/%41bc?orderId=x%2Dy"},
		{name: "hex case differs", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%2cb", false), uri: "/invoices?orderId=a%2Cb"},
		{name: "tilde and plus together", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a+%7Eb", false), uri: "/invoices?orderId=a%20~b"},
		{name: "path in absolute form normalised", identity: id,
			signature: signHex(priv, "https://pay.example.com/invoices?orderId=%7E", false), uri: "https://pay.example.com/invoices?orderId=~"},
		{name: "reserved character decoded is another URL", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%26b", false), uri: "/invoices?orderId=a&b", wantErr: ErrInvalidSignature},
		{name: "tilde for another character", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a%7Fb", false), uri: "/invoices?orderId=a~b", wantErr: ErrInvalidSignature},
		{name: "PHP space as plus", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices?orderId=a+b", false), uri: "/invoices?orderId=a%20b"},
		{name: "absolute-form target", identity: id,
			signature: signHex(priv, "https://pay.example.com/invoices", false), uri: "https://pay.example.com/invoices"},
		{name: "absolute-form target, unknown origin", identity: id,
			signature: signHex(priv, "https://evil.example/invoices", false), uri: "https://evil.example/invoices", wantErr: ErrInvalidSignature},
		{name: "body changed by one byte", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices"+body, false), uri: "/invoices",
			body: strings.Replace(body, "10", "11", 1), wantErr: ErrInvalidSignature},
		{name: "body dropped", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices"+body, false), uri: "/invoices", wantErr: ErrInvalidSignature},
		{name: "URL changed", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices/X?token=T", false), uri: "/invoices/Y?token=T", wantErr: ErrInvalidSignature},
		{name: "trailing slash added", identity: id,
			signature: signHex(priv, "https://bitpay.com/invoices", false), uri: "/invoices/", wantErr: ErrInvalidSignature},
		{name: "wrong origin", identity: id,
			signature: signHex(priv, "https://evil.example/invoices", false), uri: "/invoices", wantErr: ErrInvalidSignature},
		{name: "wrong scheme", identity: id,
			signature: signHex(priv, "http://pay.example.com/invoices", false), uri: "/invoices", wantErr: ErrInvalidSignature},
		{name: "other key's signature", identity: id,
			signature: signHex(other, "https://bitpay.com/tokens", false), uri: "/tokens", wantErr: ErrInvalidSignature},
		{name: "missing identity", signature: signHex(priv, "https://bitpay.com/tokens", false), uri: "/tokens", wantErr: ErrMissingIdentity},
		{name: "identity not hex", identity: "zz" + id[2:],
			signature: signHex(priv, "https://bitpay.com/tokens", false), uri: "/tokens", wantErr: ErrBadIdentity},
		{name: "identity is a SIN", identity: wantSIN,
			signature: signHex(priv, "https://bitpay.com/tokens", false), uri: "/tokens", wantErr: ErrBadIdentity},
		{name: "identity truncated", identity: id[:64],
			signature: signHex(priv, "https://bitpay.com/tokens", false), uri: "/tokens", wantErr: ErrBadIdentity},
		{name: "missing signature", identity: id, uri: "/tokens", wantErr: ErrBadSignature},
		{name: "signature not hex", identity: id, signature: "30xx", uri: "/tokens", wantErr: ErrBadSignature},
		{name: "signature truncated", identity: id,
			signature: signHex(priv, "https://bitpay.com/tokens", false)[:100], uri: "/tokens", wantErr: ErrBadSignature},
		{name: "BER padding (hand-built DER)", identity: id,
			signature: paddedSignatureHex(priv, "https://bitpay.com/tokens"), uri: "/tokens"},
		{name: "signature not DER", identity: id, signature: strings.Repeat("ab", 70), uri: "/tokens", wantErr: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origins := tt.origins
			if origins == nil {
				origins = testOrigins
			}
			v, err := NewVerifier(origins)
			if err != nil {
				t.Fatal(err)
			}
			sin, err := v.Verify(tt.identity, tt.signature, tt.uri, []byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify = %q, %v; want %v", sin, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if sin != wantSIN {
				t.Errorf("SIN %s, want %s", sin, wantSIN)
			}
		})
	}
}

func TestVerifyUncompressedKey(t *testing.T) {
	priv := testKey(t, 3)
	raw := priv.PubKey().SerializeUncompressed()
	v, err := NewVerifier(testOrigins)
	if err != nil {
		t.Fatal(err)
	}
	sin, err := v.Verify(hex.EncodeToString(raw), signHex(priv, "https://bitpay.com/tokens", false), "/tokens", nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want, err := SIN(raw)
	if err != nil {
		t.Fatal(err)
	}
	compressed, err := SIN(priv.PubKey().SerializeCompressed())
	if err != nil {
		t.Fatal(err)
	}
	if sin != want || sin == compressed {
		t.Errorf("SIN %s, want %s (from the 65 bytes as sent, not the compressed %s)", sin, want, compressed)
	}
}

// TestVerifyHintDoesNotLeak checks that remembering the last matching
// origin never makes another origin's signature fail or a wrong one pass.
func TestVerifyHintDoesNotLeak(t *testing.T) {
	priv := testKey(t, 4)
	id := compressedHex(priv)
	v, err := NewVerifier(testOrigins)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, o := range testOrigins {
			if _, err := v.Verify(id, signHex(priv, o+"/tokens", false), "/tokens", nil); err != nil {
				t.Fatalf("origin %s: %v", o, err)
			}
		}
	}
	if _, err := v.Verify(id, signHex(priv, "https://evil.example/tokens", false), "/tokens", nil); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("wrong origin: %v", err)
	}
}

func TestNewVerifier(t *testing.T) {
	tests := []struct {
		origins []string
		want    []string // nil means an error
	}{
		{[]string{"https://pay.example.com"}, []string{"https://pay.example.com", "https://pay.example.com:443"}},
		{[]string{"http://kassa.lan"}, []string{"http://kassa.lan", "http://kassa.lan:80"}},
		{[]string{"https://pay.example.com:443"}, []string{"https://pay.example.com:443", "https://pay.example.com"}},
		{[]string{"http://127.0.0.1:18555"}, []string{"http://127.0.0.1:18555"}},
		{[]string{"https://[::1]:8443"}, []string{"https://[::1]:8443"}},
		{[]string{"https://a.example", "https://a.example:443"}, []string{"https://a.example", "https://a.example:443"}},
		{nil, nil},
		{[]string{"https://pay.example.com/"}, nil},
		{[]string{"https://pay.example.com/api"}, nil},
		{[]string{"https://pay.example.com?x"}, nil},
		{[]string{"ftp://pay.example.com"}, nil},
		{[]string{"pay.example.com"}, nil},
		{[]string{"https://"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.origins, ","), func(t *testing.T) {
			v, err := NewVerifier(tt.origins)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("NewVerifier(%q) accepted %q", tt.origins, v.origins)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(v.origins, " ") != strings.Join(tt.want, " ") {
				t.Errorf("origins %q, want %q", v.origins, tt.want)
			}
		})
	}
}

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name           string
		headers        string
		identity, sign string
	}{
		{"canonical", "X-Identity: 02aa\r\nX-Signature: 3044\r\n", "02aa", "3044"},
		{"lower case", "x-identity: 02aa\r\nx-signature: 3044\r\n", "02aa", "3044"},
		{"old x-pubkey", "x-pubkey: 02bb\r\nx-signature: 3044\r\n", "02bb", "3044"},
		{"x-identity wins", "x-pubkey: 02bb\r\nX-IDENTITY: 02aa\r\nx-signature: 3044\r\n", "02aa", "3044"},
		{"unsigned", "Content-Type: application/json\r\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET /tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n" + tt.headers + "\r\n"
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			id, sig := FromRequest(r)
			if id != tt.identity || sig != tt.sign {
				t.Errorf("FromRequest = %q, %q; want %q, %q", id, sig, tt.identity, tt.sign)
			}
		})
	}
}

func TestKeyCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newKeyCache(2)
	c.put("a", clientKey{sin: "A"})
	c.put("b", clientKey{sin: "B"})
	if _, ok := c.get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", clientKey{sin: "C"})
	if c.len() != 2 {
		t.Fatalf("len %d, want 2", c.len())
	}
	if _, ok := c.get("b"); ok {
		t.Error("b survived eviction")
	}
	for _, k := range []string{"a", "c"} {
		if got, ok := c.get(k); !ok || got.sin != strings.ToUpper(k) {
			t.Errorf("get(%s) = %v, %v", k, got, ok)
		}
	}
}

func TestVerifierCachesKeys(t *testing.T) {
	priv := testKey(t, 5)
	v, err := NewVerifier(testOrigins)
	if err != nil {
		t.Fatal(err)
	}
	sig := signHex(priv, "https://bitpay.com/tokens", false)
	for range 3 {
		if _, err := v.Verify(compressedHex(priv), sig, "/tokens", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify("02zz", sig, "/tokens", nil); !errors.Is(err, ErrBadIdentity) {
		t.Fatal(err)
	}
	stranger := testKey(t, 6)
	if _, err := v.Verify(compressedHex(stranger), sig, "/tokens", nil); !errors.Is(err, ErrInvalidSignature) {
		t.Fatal(err)
	}
	if n := v.keys.len(); n != 1 {
		t.Errorf("cache holds %d keys, want 1 (malformed and unproven identities are not cached)", n)
	}
}

// TestVerifyConcurrent shares one Verifier between goroutines, as the
// HTTP server does; run it with -race.
func TestVerifyConcurrent(t *testing.T) {
	v, err := NewVerifier(testOrigins)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			priv := testKey(t, byte(10+g%3))
			origin := testOrigins[g%len(testOrigins)]
			_, err := v.Verify(compressedHex(priv), signHex(priv, origin+"/tokens", g%2 == 0), "/tokens", nil)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Every spelling targetForms offers means the same URL as the target.
func TestTargetFormsKeepMeaning(t *testing.T) {
	for _, target := range []string{"/invoices", "/invoices?orderId=a~b%7e%2c+c%20d", "/x/%41%zz%7", "/%7E~"} {
		checkTargetForms(t, target)
	}
}

// checkTargetForms asserts targetForms' contract for target: the target
// as sent first, at most ten forms, and each form the same URL once
// normalised per RFC 3986 (after undoing the space swap it may carry).
func checkTargetForms(t *testing.T, target string) {
	t.Helper()
	forms := slices.Collect(targetForms(target))
	if forms[0] != target {
		t.Fatalf("%q: first form %q", target, forms[0])
	}
	if len(forms) > 10 {
		t.Fatalf("%q: %d forms", target, len(forms))
	}
	want := normalizeTarget(target, false, false)
	for _, f := range forms {
		if normalizeTarget(f, false, false) != want && normalizeTarget(swapSpaces(f), false, false) != want {
			t.Fatalf("%q: form %q is another URL (normalised %q, want %q)", target, f, normalizeTarget(f, false, false), want)
		}
	}
	if again := normalizeTarget(want, false, false); again != want {
		t.Fatalf("%q: normalising twice gives %q, then %q", target, want, again)
	}
}
