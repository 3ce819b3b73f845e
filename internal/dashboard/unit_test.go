package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/wallet"
)

// RFC 6238 Appendix B's SHA-1 vectors (secret "12345678901234567890"),
// cut to the 6 digits kassa uses: the low digits of the 8-digit codes.
func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix   int64
		digits int
		want   string
	}{
		{59, 8, "94287082"},
		{1111111109, 8, "07081804"},
		{1111111111, 8, "14050471"},
		{1234567890, 8, "89005924"},
		{2000000000, 8, "69279037"},
		{20000000000, 8, "65353130"},
		{59, 6, "287082"},
		{1111111109, 6, "081804"},
		{1234567890, 6, "005924"},
	} {
		got := totpCode(secret, totpStep(time.Unix(tc.unix, 0)), tc.digits)
		if got != tc.want {
			t.Errorf("T=%d digits=%d: %s, want %s", tc.unix, tc.digits, got, tc.want)
		}
	}
	// The same secret in base32, as apps and TOTPCode take it.
	b32secret := b32.EncodeToString(secret)
	if code, err := TOTPCode(b32secret, time.Unix(59, 0)); err != nil || code != "287082" {
		t.Fatalf("TOTPCode = %q, %v", code, err)
	}
}

func TestMatchTOTPSkew(t *testing.T) {
	secret := newTOTPSecret()
	now := time.Unix(1_790_000_015, 0)
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{now, true},
		{now.Add(-30 * time.Second), true},
		{now.Add(30 * time.Second), true},
		{now.Add(-60 * time.Second), false},
		{now.Add(60 * time.Second), false},
	} {
		code, _ := TOTPCode(secret, tc.at)
		step, ok := matchTOTP(secret, code, now)
		if ok != tc.ok {
			t.Errorf("code of %v at %v: ok=%v, want %v", tc.at, now, ok, tc.ok)
		}
		if ok && step != totpStep(tc.at) {
			t.Errorf("matched step %d, want %d", step, totpStep(tc.at))
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("code %q matched", bad)
		}
	}
}

func TestWaitText(t *testing.T) {
	if got := waitText(1500 * time.Millisecond); got != "2 seconds" {
		t.Errorf("waitText = %q", got)
	}
	if got := waitText(90 * time.Second); got != "2 minutes" {
		t.Errorf("waitText = %q", got)
	}
}

func TestSafeNext(t *testing.T) {
	s := &Server{base: "/pay"}
	for _, tc := range []struct{ in, want string }{
		{"/pay/dashboard/stores/abc?x=1", "/pay/dashboard/stores/abc?x=1"},
		{"https://evil.example/pay/dashboard", "/pay/dashboard/"},
		{"//evil.example/pay/dashboard", "/pay/dashboard/"},
		{"/\\evil.example", "/pay/dashboard/"},
		{"/other", "/pay/dashboard/"},
		{"javascript:alert(1)", "/pay/dashboard/"},
		{"", "/pay/dashboard/"},
	} {
		if got := s.safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := newRecoveryCodes()
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || seen[c] {
			t.Fatalf("code %q: want 4 groups of 4, all different", c)
		}
		seen[c] = true
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	c := codes[0]
	if hashRecoveryCode("u1", c) != hashRecoveryCode("u1", strings.ToUpper(strings.ReplaceAll(c, "-", " "))) {
		t.Fatal("case and separators change a recovery code's hash")
	}
	if hashRecoveryCode("u1", c) == hashRecoveryCode("u2", c) {
		t.Fatal("the same code of two users hashes alike")
	}
}

func TestKeyErrorNamesTheNetwork(t *testing.T) {
	_, err := wallet.ParseKey("xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY", "regtest")
	if err == nil {
		t.Fatal("a mainnet xpub parsed on regtest")
	}
	msg := keyError(err, "regtest")
	if !strings.Contains(msg, "mainnet") || !strings.Contains(msg, "regtest") || strings.Contains(msg, "xpub6DJ2") {
		t.Fatalf("message %q must name both networks and not repeat the key", msg)
	}
}

func TestCookieSecureFlag(t *testing.T) {
	plain := httptest.NewRequest(http.MethodGet, "http://kassa.example/dashboard/", nil)
	tls := httptest.NewRequest(http.MethodGet, "https://kassa.example/dashboard/", nil)
	for _, tc := range []struct {
		publicHTTPS bool
		r           *http.Request
		want        bool
	}{{false, plain, false}, {false, tls, true}, {true, plain, true}} {
		s := &Server{base: "/pay", secure: tc.publicHTTPS}
		c := s.cookie(tc.r, sessionCookie, "v", 60)
		if c.Secure != tc.want || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/pay/dashboard" {
			t.Errorf("https public URL %v, TLS %v: cookie %+v", tc.publicHTTPS, tc.r.TLS != nil, c)
		}
	}
}

// New refuses a Config that leaves out one of the storage interfaces,
// and names it.
func TestNewNeedsEveryStore(t *testing.T) {
	if _, err := New(Config{}); err == nil || err.Error() != "dashboard: no Users" {
		t.Fatalf("New without storage: %v", err)
	}
}
