package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/dashboard"
)

// enrol turns 2FA on for a signed-in client and returns the secret and
// the recovery codes.
func enrol(t *testing.T, h *harness, c *client) (string, []string) {
	t.Helper()
	if r := c.submit("/dashboard/account", "/dashboard/account/2fa/start", nil); r.status != http.StatusSeeOther {
		t.Fatalf("start 2FA: %d", r.status)
	}
	page := c.get("/dashboard/account")
	mustContain(t, "enrolment", page.body, `id="totp-qr"`, "<svg")
	secret := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page.body)[1]
	// A wrong code does not turn it on.
	if r := c.submit("/dashboard/account", "/dashboard/account/2fa/confirm", url.Values{"code": {"000000"}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong confirmation code: %d", r.status)
	}
	code, _ := dashboard.TOTPCode(secret, h.clock.Now())
	r := c.submit("/dashboard/account", "/dashboard/account/2fa/confirm", url.Values{"code": {code}})
	if r.status != http.StatusOK {
		t.Fatalf("confirm 2FA: %d\n%s", r.status, r.body)
	}
	codes := regexp.MustCompile(`<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>`).FindAllStringSubmatch(r.body, -1)
	if len(codes) != dashboard.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	var out []string
	for _, m := range codes {
		out = append(out, m[1])
	}
	return secret, out
}

// passwordStep signs in with the password and returns the client waiting
// for its second factor.
func passwordStep(t *testing.T, h *harness) *client {
	t.Helper()
	c := h.client()
	r := c.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/dashboard/login/2fa") {
		t.Fatalf("password step: %d %s", r.status, r.loc)
	}
	return c
}

func TestTOTPLogin(t *testing.T) {
	h := newHarness(t, options{})
	owner, _ := h.setup(regtestKey(t, "shop"))
	secret, codes := enrol(t, h, owner)
	// Stored hashed: no recovery code in the database in clear.
	u, _ := h.db.GetUserByEmail(context.Background(), ownerEmail)
	if u.TOTPSecret != secret {
		t.Fatal("the secret was not stored")
	}
	mustContain(t, "account", owner.get("/dashboard/account").body, `id="totp-on"`, "10 recovery codes left")

	// The password alone is not enough: the half-signed session opens no
	// page and its id is not the final one.
	h.clock.Add(30 * time.Second) // the enrolment's code is spent
	c := passwordStep(t, h)
	half := c.cookie("kassa_session")
	if r := c.get("/dashboard/stores"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/dashboard/login") {
		t.Fatalf("page with only the password: %d %s", r.status, r.loc)
	}
	if r := c.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {"123456"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", r.status)
	}
	if r := c.post("/dashboard/login/2fa", url.Values{"code": {"123456"}}); r.status != http.StatusForbidden {
		t.Fatalf("code without CSRF: %d", r.status)
	}
	code, _ := dashboard.TOTPCode(secret, h.clock.Now())
	r := c.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {code}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/" {
		t.Fatalf("right code: %d %s\n%s", r.status, r.loc, r.body)
	}
	if got := c.cookie("kassa_session"); got == "" || got == half {
		t.Fatal("the session id did not change after the second factor")
	}
	if r := c.get("/dashboard/stores"); r.status != http.StatusOK {
		t.Fatalf("signed in: %d", r.status)
	}

	// The same code again, in another browser within its 30 s: refused.
	d := passwordStep(t, h)
	if r := d.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {code}}); r.status != http.StatusUnauthorized {
		t.Fatalf("reused code: %d", r.status)
	}
	// The next step's code (clock drift +30 s) works.
	next, _ := dashboard.TOTPCode(secret, h.clock.Now().Add(30*time.Second))
	if r := d.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {next}}); r.status != http.StatusSeeOther {
		t.Fatalf("code of the next step: %d", r.status)
	}
	// A code two steps away does not.
	h.clock.Add(5 * time.Minute)
	e := passwordStep(t, h)
	far, _ := dashboard.TOTPCode(secret, h.clock.Now().Add(-90*time.Second))
	if r := e.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {far}}); r.status != http.StatusUnauthorized {
		t.Fatalf("code 3 steps old: %d", r.status)
	}

	// A recovery code works once, in any case and with spaces.
	rc := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	if r := e.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {rc}}); r.status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d", r.status)
	}
	mustContain(t, "after a recovery code", e.get("/dashboard/account").body, "9 recovery codes left")
	f := passwordStep(t, h)
	if r := f.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {codes[0]}}); r.status != http.StatusUnauthorized {
		t.Fatalf("a recovery code used twice: %d", r.status)
	}

	// Wrong codes are throttled like passwords.
	g := passwordStep(t, h)
	var last int
	for range 4 {
		last = g.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {"000000"}}).status
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("many wrong codes: %d, want 429", last)
	}

	// The half-signed session expires after 5 minutes.
	h.clock.Add(time.Hour)
	z := passwordStep(t, h)
	h.clock.Add(6 * time.Minute)
	now, _ := dashboard.TOTPCode(secret, h.clock.Now())
	if r := z.post("/dashboard/login/2fa", url.Values{"code": {now}}); r.status != http.StatusSeeOther || r.loc != "/dashboard/login" {
		t.Fatalf("stale second-factor session: %d %s", r.status, r.loc)
	}

	// Turning 2FA off needs the password.
	owner = h.client()
	r = owner.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}})
	code, _ = dashboard.TOTPCode(secret, h.clock.Now())
	owner.submit("/dashboard/login/2fa", "/dashboard/login/2fa", url.Values{"code": {code}})
	if r := owner.submit("/dashboard/account", "/dashboard/account/2fa/disable", url.Values{"password": {"wrong password"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("disable with a wrong password: %d", r.status)
	}
	if r := owner.submit("/dashboard/account", "/dashboard/account/2fa/disable", url.Values{"password": {ownerPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.status)
	}
	h.login(ownerEmail, ownerPassword)
}

func TestSignup(t *testing.T) {
	closed := newHarness(t, options{})
	closed.setup(regtestKey(t, "shop"))
	if r := closed.client().get("/dashboard/signup"); r.status != http.StatusNotFound {
		t.Fatalf("sign-up page when closed: %d", r.status)
	}

	h := newHarness(t, options{signup: true})
	h.setup(regtestKey(t, "shop"))

	// Sign-up: a merchant account that creates its own stores and sees
	// no one else's.
	c := h.client()
	r := c.submit("/dashboard/signup", "/dashboard/signup", url.Values{"email": {"new@example.com"}, "password": {"merchant password"}, "password2": {"merchant password"}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/stores/new" {
		t.Fatalf("sign-up: %d %s\n%s", r.status, r.loc, r.body)
	}
	id := c.createStore("New Merchant", regtestKey(t, "new merchant"))
	page := c.get("/dashboard/stores")
	mustContain(t, "merchant's stores", page.body, "New Merchant")
	mustNotContain(t, "merchant's stores", page.body, "Main Shop")
	owner := h.login(ownerEmail, ownerPassword)
	if r := owner.get("/dashboard/stores/" + id + "/tokens"); r.status != http.StatusOK {
		t.Fatalf("the operator (admin) sees every store: %d", r.status)
	}
	if r := c.submit("/dashboard/signup", "/dashboard/signup", url.Values{"email": {"new@example.com"}, "password": {"merchant password"}, "password2": {"merchant password"}}); r.status != http.StatusConflict {
		t.Fatalf("sign-up with a taken email: %d", r.status)
	}
}

func TestMerchantInviteFromApplication(t *testing.T) {
	h := newHarness(t, options{signup: true})
	h.setup(regtestKey(t, "shop"))
	link, err := dashboard.NewInvite(context.Background(), h.db, h.url, "", account.RoleOwner, "sat@example.com", "operator", h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link, h.url)
	c := h.client()
	page := c.get(path)
	mustContain(t, "merchant invite", page.body, "Open your merchant account", `value="sat@example.com"`, "readonly")
	// The email is the application's, whatever the form says.
	r := c.submit(path, path, url.Values{"email": {"other@example.com"}, "password": {"merchant password"}, "password2": {"merchant password"}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/stores/new" {
		t.Fatalf("merchant invite: %d %s\n%s", r.status, r.loc, r.body)
	}
	u, err := h.db.GetUserByEmail(context.Background(), "sat@example.com")
	if err != nil || u.Kind != "merchant" {
		t.Fatalf("merchant account: %+v %v", u, err)
	}
	c.createStore("Satoshi Widgets", regtestKey(t, "sat"))
}
