package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/dashboard"
)

func TestFirstRunLeadsToSetup(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client()
	for _, p := range []string{"/dashboard", "/dashboard/", "/dashboard/login", "/dashboard/stores", "/dashboard/stores/abc/tokens", "/dashboard/pairing?pairingCode=abcdefg"} {
		if r := c.get(p); r.status != http.StatusSeeOther || r.loc != "/dashboard/setup" {
			t.Fatalf("GET %s with no account: %d %s, want a redirect to /dashboard/setup", p, r.status, r.loc)
		}
	}
	page := c.get("/dashboard/setup")
	if page.status != http.StatusOK || !strings.Contains(page.body, "Step 1 of 2") {
		t.Fatalf("setup page: %d\n%s", page.status, page.body)
	}
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}

	// Refused: no CSRF token, a short password, two different passwords,
	// a bad email. None creates an account.
	form := url.Values{"email": {ownerEmail}, "password": {ownerPassword}, "password2": {ownerPassword}}
	if r := c.post("/dashboard/setup", form); r.status != http.StatusForbidden {
		t.Fatalf("setup without CSRF token: %d", r.status)
	}
	for _, bad := range []url.Values{
		{"email": {ownerEmail}, "password": {"short pw"}, "password2": {"short pw"}},
		{"email": {ownerEmail}, "password": {ownerPassword}, "password2": {ownerPassword + "x"}},
		{"email": {"not an email"}, "password": {ownerPassword}, "password2": {ownerPassword}},
	} {
		if r := c.submit("/dashboard/setup", "/dashboard/setup", bad); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("setup with %v: %d", bad, r.status)
		}
	}
	if n, _ := h.db.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d accounts after refused setups", n)
	}

	key := regtestKey(t, "first run")
	owner, storeID := h.setup(key)
	if n, _ := h.db.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d accounts after setup", n)
	}
	// The setup is over: its page sends everyone on, and a second owner
	// cannot be made through it.
	if r := h.client().get("/dashboard/setup"); r.status != http.StatusSeeOther || r.loc != "/dashboard/" {
		t.Fatalf("setup page after setup: %d %s", r.status, r.loc)
	}
	late := h.client()
	late.setCookie("kassa_form", strings.Repeat("a", 43))
	form.Set("csrf", strings.Repeat("a", 43))
	form.Set("email", "intruder@example.com")
	if r := late.post("/dashboard/setup", form); r.status != http.StatusSeeOther {
		t.Fatalf("second setup: %d", r.status)
	}
	if _, err := h.db.GetUserByEmail(context.Background(), "intruder@example.com"); err == nil {
		t.Fatal("a second setup created an account")
	}
	st, err := h.db.GetStore(context.Background(), storeID)
	// A plain tpub is a legacy (pkh) key; it is stored as its descriptor.
	if err != nil || st.Name != "Main Shop" || st.Network != "regtest" || !strings.HasPrefix(st.Key, "pkh("+key+"/0/*)#") {
		t.Fatalf("store after setup: %+v, %v", st, err)
	}
	// The owner's home is the only store.
	if r := owner.get("/dashboard/"); r.status != http.StatusSeeOther || r.loc != "/dashboard/stores/"+storeID {
		t.Fatalf("home: %d %s", r.status, r.loc)
	}
}

func TestAddressPreviewAndWrongNetwork(t *testing.T) {
	h := newHarness(t, options{})
	owner, _ := h.setup(regtestKey(t, "shop"))
	key := regtestKey(t, "second store")
	want := addresses(t, key, 3)

	// The live preview's endpoint, as the page's script calls it.
	csrf := owner.csrf("/dashboard/stores/new")
	r := owner.post("/dashboard/preview", url.Values{"key": {key}, "csrf": {csrf}})
	var p struct {
		OK        bool     `json:"ok"`
		Error     string   `json:"error"`
		Addresses []string `json:"addresses"`
		Type      string   `json:"type"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != http.StatusOK || !p.OK {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	if strings.Join(p.Addresses, " ") != strings.Join(want, " ") || p.Type == "" {
		t.Fatalf("preview addresses %v, want %v", p.Addresses, want)
	}
	// A mainnet key is refused with a message naming its network.
	r = owner.post("/dashboard/preview", url.Values{"key": {mainnetKey(t)}, "csrf": {csrf}})
	_ = json.Unmarshal([]byte(r.body), &p)
	if r.status != http.StatusUnprocessableEntity || p.OK || !strings.Contains(p.Error, "mainnet") || !strings.Contains(p.Error, "regtest") {
		t.Fatalf("mainnet key preview: %d %s", r.status, r.body)
	}
	// Without the CSRF token the preview answers nothing.
	if r := owner.post("/dashboard/preview", url.Values{"key": {key}}); r.status != http.StatusForbidden || strings.Contains(r.body, want[0]) {
		t.Fatalf("preview without CSRF: %d %s", r.status, r.body)
	}
	// Signed out, it answers nothing either.
	if r := h.client().post("/dashboard/preview", url.Values{"key": {key}, "csrf": {csrf}}); r.status != http.StatusForbidden {
		t.Fatalf("preview signed out: %d", r.status)
	}

	// Without JavaScript: the form's Preview button shows the addresses.
	form := url.Values{"name": {"Second"}, "key": {key}, "currency": {"EUR"}, "speed": {"low"}, "expiry": {"30"},
		"gap_limit": {"50"}, "action": {"preview"}}
	r = owner.submit("/dashboard/stores/new", "/dashboard/stores/new", form)
	if r.status != http.StatusOK {
		t.Fatalf("preview submit: %d", r.status)
	}
	mustContain(t, "no-script preview", r.body, want...)
	mustContain(t, "no-script preview keeps the form", r.body, `value="Second"`, `value="50"`)

	// Creating with the mainnet key is refused, logged, and makes nothing.
	before, _ := h.db.ListStores(context.Background())
	form.Set("key", mainnetKey(t))
	form.Set("action", "create")
	r = owner.submit("/dashboard/stores/new", "/dashboard/stores/new", form)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("mainnet key store: %d", r.status)
	}
	mustContain(t, "wrong-network message", r.body, "This is a mainnet key (xpub), but this kassa runs on regtest")
	if after, _ := h.db.ListStores(context.Background()); len(after) != len(before) {
		t.Fatal("a store with a wrong-network key was created")
	}
	// A private key is refused too.
	form.Set("key", "tprv8ZgxMBicQKsPd9TeAdPADNnSyH9SSUUbTVeFszDE23Ki6TBB5nCefAdHkK8Fm3qMQR6sHwA56zqRmKmxnHk37JkiFzvncDqoKmPWubu7hDF")
	if r := owner.submit("/dashboard/stores/new", "/dashboard/stores/new", form); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "private key") {
		t.Fatalf("private key store: %d", r.status)
	}
	id := owner.createStore("Second", key)
	st, _ := h.db.GetStore(context.Background(), id)
	if st.Name != "Second" {
		t.Fatalf("second store: %+v", st)
	}
}

func TestLoginWrongPasswordAndThrottle(t *testing.T) {
	h := newHarness(t, options{})
	h.setup(regtestKey(t, "shop"))
	c := h.client()
	attempt := func(email, pw string) resp {
		return c.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {email}, "password": {pw}})
	}
	// Unknown email and wrong password get the same answer.
	r1, r2 := attempt("nobody@example.com", ownerPassword), attempt(ownerEmail, "wrong password!")
	if r1.status != http.StatusUnauthorized || r2.status != http.StatusUnauthorized {
		t.Fatalf("wrong credentials: %d, %d", r1.status, r2.status)
	}
	mustContain(t, "wrong password", r2.body, "Wrong email or password.")
	if c.cookie("kassa_session") != "" {
		t.Fatal("a failed sign-in set a session cookie")
	}
	// Three failures on the account: the next attempt waits, even with
	// the right password, which is not even checked.
	attempt(ownerEmail, "wrong password!")
	attempt(ownerEmail, "wrong password!")
	r := attempt(ownerEmail, ownerPassword)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures: %d, want 429", r.status)
	}
	mustContain(t, "throttled", r.body, "Too many failed sign-ins")
	h.clock.Add(time.Second)
	// The wait doubles: a wrong password now waits 2 s.
	if r := attempt(ownerEmail, "wrong password!"); r.status != http.StatusUnauthorized {
		t.Fatalf("after the 1 s wait: %d", r.status)
	}
	h.clock.Add(time.Second)
	if r := attempt(ownerEmail, ownerPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("1 s into a 2 s wait: %d", r.status)
	}
	h.clock.Add(time.Second)
	if r := attempt(ownerEmail, ownerPassword); r.status != http.StatusSeeOther {
		t.Fatalf("after the wait with the right password: %d\n%s", r.status, r.body)
	}

	// Per client address: many emails from one address are throttled too.
	other := h.client()
	for i := range 10 {
		r := other.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {string(rune('a'+i)) + "@example.com"}, "password": {"x"}})
		if r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	if r := other.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {"fresh@example.com"}, "password": {"x"}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("11th failure from one address: %d, want 429", r.status)
	}
}

func TestSessionFixationAndCookies(t *testing.T) {
	h := newHarness(t, options{})
	h.setup(regtestKey(t, "shop"))
	c := h.client()
	planted := "attacker-chosen-session-id-0123456789abcdef"
	c.setCookie("kassa_session", planted)
	r := c.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	got := c.cookie("kassa_session")
	if got == "" || got == planted {
		t.Fatalf("session cookie after login %q: must be new", got)
	}
	// The planted id signs no one in.
	attacker := h.client()
	attacker.setCookie("kassa_session", planted)
	if r := attacker.get("/dashboard/stores"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/dashboard/login") {
		t.Fatalf("planted session id: %d %s", r.status, r.loc)
	}
	// The cookie's flags, and the store keeps only a hash of the id.
	login := h.client()
	res := login.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}})
	sc := res.header.Get("Set-Cookie")
	for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Path=/dashboard"} {
		if !strings.Contains(sc, flag) {
			t.Fatalf("session cookie %q lacks %s", sc, flag)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Fatalf("session cookie over plain http on an http public URL: %q", sc)
	}
	if _, err := h.db.GetSession(context.Background(), login.cookie("kassa_session")); err == nil {
		t.Fatal("the session is stored under its raw id")
	}
	// Signing out ends the session on the server, not only the cookie.
	id := login.cookie("kassa_session")
	if r := login.submit("/dashboard/account", "/dashboard/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	replay := h.client()
	replay.setCookie("kassa_session", id)
	if r := replay.get("/dashboard/stores"); r.status != http.StatusSeeOther {
		t.Fatalf("session after logout still works: %d", r.status)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, options{})
	owner, _ := h.setup(regtestKey(t, "shop"))
	if r := owner.get("/dashboard/stores"); r.status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.status)
	}
	// Used every 11 hours, the session lives on; 12 idle hours end it.
	for range 3 {
		h.clock.Add(11 * time.Hour)
		if r := owner.get("/dashboard/stores"); r.status != http.StatusOK {
			t.Fatalf("session used within the idle timeout: %d", r.status)
		}
	}
	h.clock.Add(12*time.Hour + time.Minute)
	if r := owner.get("/dashboard/stores"); r.status != http.StatusSeeOther {
		t.Fatalf("idle session: %d", r.status)
	}
	// However busy, a session ends 7 days after sign-in.
	c := h.login(ownerEmail, ownerPassword)
	for range 17 {
		h.clock.Add(10 * time.Hour)
		c.get("/dashboard/stores")
	}
	if r := c.get("/dashboard/stores"); r.status != http.StatusSeeOther {
		t.Fatalf("session older than 7 days: %d", r.status)
	}
}

func TestCSRF(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	tokens := "/dashboard/stores/" + storeID + "/tokens"
	form := url.Values{"label": {"crm"}, "facade": {"pos"}}
	count := func() int {
		ts, _ := h.db.ListTokens(context.Background(), storeID)
		return len(ts)
	}
	if r := owner.post(tokens, form); r.status != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d", r.status)
	}
	form.Set("csrf", "forged-token-forged-token-forged-token-0000")
	if r := owner.post(tokens, form); r.status != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", r.status)
	}
	// Another session's token is no good either.
	other := h.login(ownerEmail, ownerPassword)
	form.Set("csrf", other.csrf(tokens))
	if r := owner.post(tokens, form); r.status != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d", r.status)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d tokens created by forged posts", n)
	}
	// A cross-site form post is refused by the browser check as well.
	form.Set("csrf", owner.csrf(tokens))
	req, _ := http.NewRequest(http.MethodPost, h.url+tokens, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := owner.do(req); r.status != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", r.status)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d tokens created by a cross-site post", n)
	}
	// Sign-out needs the token too: a forged sign-out does nothing.
	if r := owner.post("/dashboard/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", r.status)
	}
	if r := owner.post(tokens, form); r.status != http.StatusOK || count() != 1 {
		t.Fatalf("POST with the CSRF token: %d, %d tokens", r.status, count())
	}
}

func TestRolesAndInvites(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID

	// The owner invites an employee by a one-time link.
	r := owner.submit(root+"/members", root+"/members/invite", url.Values{"role": {"employee"}})
	m := regexp.MustCompile(`id="invite-link">([^<]+)<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("invite: %d\n%s", r.status, r.body)
	}
	link := strings.TrimPrefix(m[1], h.url)
	emp := h.client()
	page := emp.get(link)
	if page.status != http.StatusOK || !strings.Contains(page.body, "as <strong>employee</strong>") {
		t.Fatalf("invite page: %d\n%s", page.status, page.body)
	}
	r = emp.submit(link, link, url.Values{"email": {"emp@example.com"}, "password": {"employee password"}, "password2": {"employee password"}})
	if r.status != http.StatusSeeOther || r.loc != root {
		t.Fatalf("accept invite: %d %s\n%s", r.status, r.loc, r.body)
	}
	// Single use: the link is dead now, for everyone.
	again := h.client()
	if r := again.get(link); r.status != http.StatusGone {
		t.Fatalf("used invite link: %d", r.status)
	}
	// Expired links die too.
	r = owner.submit(root+"/members", root+"/members/invite", url.Values{"role": {"manager"}})
	m = regexp.MustCompile(`id="invite-link">([^<]+)<`).FindStringSubmatch(r.body)
	late := strings.TrimPrefix(m[1], h.url)
	h.clock.Add(dashboard.InviteTTL + time.Minute)
	if r := h.client().get(late); r.status != http.StatusGone {
		t.Fatalf("expired invite link: %d", r.status)
	}
	// (A week went by: both sign in again.)
	owner = h.login(ownerEmail, ownerPassword)
	emp = h.login("emp@example.com", "employee password")

	// The employee sees invoices and the point of sale, no keys, tokens
	// or settings: not in the menu, and 403 by URL, GET or POST.
	for _, p := range []string{root, root + "/invoices", root + "/pos"} {
		r := emp.get(p)
		if r.status != http.StatusOK {
			t.Fatalf("employee GET %s: %d", p, r.status)
		}
		mustNotContain(t, "employee page "+p, r.body, "/tokens", "/settings", "/members", "tpub", "wpkh(")
	}
	for _, p := range []string{root + "/tokens", root + "/settings", root + "/members"} {
		if r := emp.get(p); r.status != http.StatusForbidden {
			t.Fatalf("employee GET %s: %d, want 403", p, r.status)
		}
	}
	csrf := emp.csrf(root + "/pos")
	for _, p := range []string{root + "/tokens", root + "/apikeys", root + "/settings", root + "/members/invite", root + "/tokens/revoke"} {
		r := emp.post(p, url.Values{"csrf": {csrf}, "label": {"x"}, "facade": {"pos"}, "role": {"owner"}, "name": {"Hijacked"},
			"key": {regtestKey(t, "attacker")}, "currency": {"USD"}, "speed": {"high"}, "expiry": {"15"}, "gap_limit": {"20"}})
		if r.status != http.StatusForbidden {
			t.Fatalf("employee POST %s: %d, want 403", p, r.status)
		}
	}
	ts, _ := h.db.ListTokens(context.Background(), storeID)
	keys, _ := h.db.ListAPIKeys(context.Background(), storeID)
	st, _ := h.db.GetStore(context.Background(), storeID)
	if len(ts) != 0 || len(keys) != 0 || st.Name != "Main Shop" {
		t.Fatalf("employee posts changed something: %d tokens, %d keys, name %q", len(ts), len(keys), st.Name)
	}
	// Another store is not even there for them.
	other := owner.createStore("Other", regtestKey(t, "other"))
	if r := emp.get("/dashboard/stores/" + other); r.status != http.StatusNotFound {
		t.Fatalf("employee GET another store: %d, want 404", r.status)
	}
	if r := emp.get("/dashboard/stores/new"); r.status != http.StatusForbidden {
		t.Fatalf("employee GET new store: %d, want 403", r.status)
	}

	// A manager: tokens and settings, but not members nor the key.
	mgr := h.addMember("mgr@example.com", storeID, account.RoleManager)
	if r := mgr.get(root + "/tokens"); r.status != http.StatusOK {
		t.Fatalf("manager tokens: %d", r.status)
	}
	if r := mgr.get(root + "/members"); r.status != http.StatusForbidden {
		t.Fatalf("manager members: %d", r.status)
	}
	if r := mgr.get(root + "/settings"); r.status != http.StatusOK || !strings.Contains(r.body, `id="key-locked"`) {
		t.Fatalf("manager settings must show the key read-only: %d", r.status)
	}

	// The owner removes the employee, who then loses the store.
	var empID string
	ms, _ := h.db.Members(context.Background(), storeID)
	for _, m := range ms {
		if m.User.Email == "emp@example.com" {
			empID = m.User.ID
		}
	}
	if r := owner.submit(root+"/members", root+"/members/remove", url.Values{"user": {empID}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove member: %d", r.status)
	}
	if r := emp.get(root + "/pos"); r.status != http.StatusNotFound {
		t.Fatalf("removed employee: %d", r.status)
	}
}

func TestInviteForExistingUser(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	other := owner.createStore("Other", regtestKey(t, "other"))
	mgr := h.addMember("mgr@example.com", storeID, account.RoleManager)
	root := "/dashboard/stores/" + other
	r := owner.submit(root+"/members", root+"/members/invite", url.Values{"role": {"manager"}})
	link := strings.TrimPrefix(regexp.MustCompile(`id="invite-link">([^<]+)<`).FindStringSubmatch(r.body)[1], h.url)
	if r := mgr.submit(link, link, nil); r.status != http.StatusSeeOther || r.loc != root {
		t.Fatalf("join with a signed-in account: %d %s", r.status, r.loc)
	}
	if r := mgr.get(root + "/tokens"); r.status != http.StatusOK {
		t.Fatalf("manager of the second store: %d", r.status)
	}
	// An invite to a new account with a taken email is refused, and the
	// link stays usable.
	r = owner.submit(root+"/members", root+"/members/invite", url.Values{"role": {"employee"}})
	link = strings.TrimPrefix(regexp.MustCompile(`id="invite-link">([^<]+)<`).FindStringSubmatch(r.body)[1], h.url)
	c := h.client()
	if r := c.submit(link, link, url.Values{"email": {"mgr@example.com"}, "password": {"some password 1"}, "password2": {"some password 1"}}); r.status != http.StatusConflict {
		t.Fatalf("invite with a taken email: %d", r.status)
	}
	if r := c.get(link); r.status != http.StatusOK {
		t.Fatalf("invite after a refused use: %d", r.status)
	}
}

func TestXSSIsEscaped(t *testing.T) {
	h := newHarness(t, options{})
	owner, _ := h.setup(regtestKey(t, "shop"))
	evil := `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	// A client-requested token's label comes from anyone on the internet
	// (asked while the server has one store, which it then belongs to).
	sin := newSIN(t)
	status, body := h.apiPost("/tokens", map[string]any{"id": sin, "facade": "pos", "label": `<b onmouseover=alert(3)>x</b>`})
	if status != http.StatusOK {
		t.Fatalf("POST /tokens: %d %v", status, body)
	}
	code := body["data"].([]any)[0].(map[string]any)["pairingCode"].(string)
	id := owner.createStore(evil, regtestKey(t, "xss"))
	root := "/dashboard/stores/" + id
	for _, p := range []string{"/dashboard/stores", root, root + "/tokens", root + "/settings", root + "/pos", "/dashboard/pairing?pairingCode=" + code} {
		r := owner.get(p)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", p, r.status)
		}
		mustNotContain(t, p, r.body, "<script>alert", "<img src=x", "<b onmouseover")
	}
	r := owner.get(root)
	mustContain(t, "escaped store name", r.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	// The point-of-sale description is escaped on the result page.
	r = owner.submit(root+"/pos", root+"/pos", url.Values{"price": {"5"}, "currency": {"USD"}, "description": {evil}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("pos: %d %s", r.status, r.body)
	}
	mustNotContain(t, "pos result", owner.get(r.loc).body, "<script>alert", "<img src=x")
}

func TestStoreSettings(t *testing.T) {
	h := newHarness(t, options{})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	newKey := regtestKey(t, "replacement")
	form := url.Values{"name": {"Renamed"}, "key": {newKey}, "currency": {"EUR"}, "speed": {"high"}, "expiry": {"30"},
		"gap_limit": {"40"}, "invoice_limits": {"2000/h, 30/s"}, "action": {"save"}}
	if r := owner.submit(root+"/settings", root+"/settings", form); r.status != http.StatusSeeOther {
		t.Fatalf("save settings: %d\n%s", r.status, r.body)
	}
	if got := <-h.changed; got != storeID {
		t.Fatalf("StoreChanged(%q)", got)
	}
	st, _ := h.db.GetStore(context.Background(), storeID)
	if st.Name != "Renamed" || st.DefaultCurrency != "EUR" || st.Speed != "high" || st.Expiry != 30*time.Minute ||
		st.GapLimit != 40 || !strings.Contains(st.Key, newKey) || st.InvoiceLimits == nil || st.InvoiceLimits.String() != "2000/h,30/s" {
		t.Fatalf("settings not saved: %+v", st)
	}
	mustContain(t, "invoice limits shown", owner.get(root+"/settings").body, `name="invoice_limits" value="2000/h,30/s"`)
	// Bad values are refused, say what to fix, and change nothing.
	for field, bad := range map[string]string{"gap_limit": "0", "expiry": "100000", "currency": "XXX", "speed": "warp", "name": "",
		"invoice_limits": "5/fortnight"} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set(field, bad)
		r := owner.submit(root+"/settings", root+"/settings", f)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("settings with %s=%q: %d", field, bad, r.status)
		}
		if field == "invoice_limits" {
			mustContain(t, "limits error", r.body, "Invoice limits: &#34;5/fortnight&#34;: the period must be s, m or h.")
		}
	}
	if got, _ := h.db.GetStore(context.Background(), storeID); got.Name != "Renamed" || got.InvoiceLimits.String() != "2000/h,30/s" {
		t.Fatalf("a refused change changed the store: %+v", got)
	}
	// Emptied, the store follows the server's default again.
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("invoice_limits", "")
	if r := owner.submit(root+"/settings", root+"/settings", f); r.status != http.StatusSeeOther {
		t.Fatalf("clear limits: %d", r.status)
	}
	if got, _ := h.db.GetStore(context.Background(), storeID); got.InvoiceLimits != nil {
		t.Fatalf("limits not cleared: %+v", got.InvoiceLimits)
	}
	// Once the store has an invoice the key is shown but cannot change.
	if r := owner.submit(root+"/pos", root+"/pos", url.Values{"price": {"10"}, "currency": {"USD"}}); r.status != http.StatusSeeOther {
		t.Fatalf("pos invoice: %d\n%s", r.status, r.body)
	}
	page := owner.get(root + "/settings")
	mustContain(t, "locked key", page.body, `id="key-locked"`, newKey)
	form.Set("key", regtestKey(t, "third"))
	form.Set("name", "Third name")
	if r := owner.submit(root+"/settings", root+"/settings", form); r.status != http.StatusSeeOther {
		t.Fatalf("save with a locked key: %d", r.status)
	}
	st, _ = h.db.GetStore(context.Background(), storeID)
	if st.Name != "Third name" || !strings.Contains(st.Key, newKey) {
		t.Fatalf("a locked key changed, or the name did not: %+v", st)
	}
	// The owner may still give the locked key its origin (not one
	// address changes); one that does not fit it is refused.
	mustContain(t, "origin asked", owner.get(root+"/settings").body, `name="key_origin"`, "This key has none yet")
	master, err := hdkeychain.NewMaster([]byte("kassa dashboard test seed: replacement"), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	child, err := master.Derive(0)
	if err != nil {
		t.Fatal(err)
	}
	form.Set("key_origin", "[d34db33f/84h/1h/0h]")
	if r := owner.submit(root+"/settings", root+"/settings", form); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "Key origin") {
		t.Fatalf("an origin that does not fit the key: %d", r.status)
	}
	origin := fmt.Sprintf("[%08x]", child.ParentFingerprint())
	form.Set("key_origin", origin)
	if r := owner.submit(root+"/settings", root+"/settings", form); r.status != http.StatusSeeOther {
		t.Fatalf("save the key's origin: %d\n%s", r.status, r.body)
	}
	st, _ = h.db.GetStore(context.Background(), storeID)
	if !strings.Contains(st.Key, origin+newKey) {
		t.Fatalf("the key's origin was not stored: %s", st.Key)
	}
}

func TestPointOfSale(t *testing.T) {
	h := newHarness(t, options{})
	_, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	emp := h.addMember("emp@example.com", storeID, account.RoleEmployee)
	r := emp.submit(root+"/pos", root+"/pos", url.Values{"price": {"12.50"}, "currency": {"EUR"}, "description": {"Two coffees"}})
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(root) + `/pos\?invoice=(\w+)$`).FindStringSubmatch(r.loc)
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("pos: %d %s\n%s", r.status, r.loc, r.body)
	}
	inv, err := h.db.GetInvoice(context.Background(), m[1])
	if err != nil || inv.StoreID != storeID || inv.Currency != "EUR" || inv.Price.String() != "12.5" || inv.Fields.ItemDesc != "Two coffees" {
		t.Fatalf("pos invoice: %+v, %v", inv, err)
	}
	page := emp.get(r.loc)
	mustContain(t, "pos result", page.body, h.url+"/invoice?id="+inv.ID, "12.50 EUR", "Two coffees")
	// The checkout link is the hosted checkout's.
	for _, bad := range []url.Values{{"price": {"-1"}, "currency": {"USD"}}, {"price": {"abc"}}, {"price": {"1"}, "currency": {"ZZZ"}}, {"price": {""}}} {
		if r := emp.submit(root+"/pos", root+"/pos", bad); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("pos with %v: %d", bad, r.status)
		}
	}
	// Another store's invoice does not show on this store's page.
	owner := h.login(ownerEmail, ownerPassword)
	other := owner.createStore("Other", regtestKey(t, "other"))
	r = owner.submit("/dashboard/stores/"+other+"/pos", "/dashboard/stores/"+other+"/pos", url.Values{"price": {"1"}, "currency": {"USD"}})
	otherID := strings.TrimPrefix(r.loc, "/dashboard/stores/"+other+"/pos?invoice=")
	if r := emp.get(root + "/pos?invoice=" + otherID); r.status != http.StatusNotFound {
		t.Fatalf("another store's invoice: %d", r.status)
	}
}

func TestPasswordChangeAndLogoutEverywhere(t *testing.T) {
	h := newHarness(t, options{})
	a, _ := h.setup(regtestKey(t, "shop"))
	b := h.login(ownerEmail, ownerPassword)
	// A wrong current password changes nothing.
	r := a.submit("/dashboard/account", "/dashboard/account/password", url.Values{"password": {"not my password"},
		"new_password": {"brand new password"}, "new_password2": {"brand new password"}})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("wrong current password: %d", r.status)
	}
	if r := a.submit("/dashboard/account", "/dashboard/account/password", url.Values{"password": {ownerPassword},
		"new_password": {"too short"}, "new_password2": {"too short"}}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("short new password: %d", r.status)
	}
	old := a.cookie("kassa_session")
	r = a.submit("/dashboard/account", "/dashboard/account/password", url.Values{"password": {ownerPassword},
		"new_password": {"brand new password"}, "new_password2": {"brand new password"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("change password: %d\n%s", r.status, r.body)
	}
	if a.cookie("kassa_session") == old {
		t.Fatal("the session id did not change with the password")
	}
	if r := a.get("/dashboard/account"); r.status != http.StatusOK {
		t.Fatalf("the changing browser is signed out: %d", r.status)
	}
	if r := b.get("/dashboard/account"); r.status != http.StatusSeeOther {
		t.Fatalf("another session survived the password change: %d", r.status)
	}
	c := h.client()
	if r := c.submit("/dashboard/login", "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}}); r.status != http.StatusUnauthorized {
		t.Fatalf("old password: %d", r.status)
	}
	d := h.login(ownerEmail, "brand new password")
	if r := a.submit("/dashboard/account", "/dashboard/account/logout-all", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout everywhere: %d", r.status)
	}
	for i, x := range []*client{a, d} {
		if r := x.get("/dashboard/account"); r.status != http.StatusSeeOther {
			t.Fatalf("session %d after logout everywhere: %d", i, r.status)
		}
	}
}

func TestOpenRedirect(t *testing.T) {
	h := newHarness(t, options{})
	h.setup(regtestKey(t, "shop"))
	c := h.client()
	r := c.submit("/dashboard/login?next=https://evil.example/", "/dashboard/login", url.Values{"email": {ownerEmail},
		"password": {ownerPassword}, "next": {"https://evil.example/"}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard/" {
		t.Fatalf("login with an outside next: %d %s", r.status, r.loc)
	}
	// A dashboard page asked for before sign-in is where sign-in leads.
	c = h.client()
	r = c.get("/dashboard/account")
	if r.loc != "/dashboard/login?next=%2Fdashboard%2Faccount" {
		t.Fatalf("redirect to login: %s", r.loc)
	}
	r = c.submit(r.loc, "/dashboard/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}, "next": {"/dashboard/account"}})
	if r.loc != "/dashboard/account" {
		t.Fatalf("after login: %s", r.loc)
	}
}

func TestPageHook(t *testing.T) {
	var seen dashboard.Viewer
	h := newHarness(t, options{pages: func(d *dashboard.Server) {
		d.Handle(dashboard.InvoicesPattern, account.RoleEmployee, func(w http.ResponseWriter, r *http.Request, v dashboard.Viewer) {
			seen = v
			body := template.HTML(`<form method="post" action="x" id="hooked">` + string(v.CSRFField()) + `</form>`)
			d.Layout(w, r, "Invoices", body)
		})
		d.Handle("POST /dashboard/stores/{id}/invoices/{invoice}/resend", account.RoleManager, func(w http.ResponseWriter, r *http.Request, v dashboard.Viewer) {
			d.Error(w, r, http.StatusTeapot, "resent "+r.PathValue("invoice"))
		})
	}})
	owner, storeID := h.setup(regtestKey(t, "shop"))
	root := "/dashboard/stores/" + storeID
	r := owner.get(root + "/invoices")
	if r.status != http.StatusOK || seen.StoreID != storeID || seen.Role != account.RoleOwner || seen.User.Email != ownerEmail || !seen.User.Admin {
		t.Fatalf("hooked page: %d, viewer %+v", r.status, seen)
	}
	mustContain(t, "hooked page in the layout", r.body, `id="hooked"`, `name="csrf" value="`+seen.CSRF+`"`,
		`href="`+root+`/invoices" aria-current="page"`, "API tokens", `nonce="`+seen.Nonce+`"`)
	if !strings.Contains(r.header.Get("Content-Security-Policy"), seen.Nonce) {
		t.Fatal("the layout's CSP does not carry the viewer's nonce")
	}
	// The placeholder overview is still there.
	if r := owner.get(root); r.status != http.StatusOK || !strings.Contains(r.body, `id="overview"`) {
		t.Fatalf("overview placeholder: %d", r.status)
	}
	emp := h.addMember("emp@example.com", storeID, account.RoleEmployee)
	csrf := emp.csrf(root + "/invoices")
	if r := emp.post(root+"/invoices/abc/resend", url.Values{"csrf": {csrf}}); r.status != http.StatusForbidden {
		t.Fatalf("employee on a manager hook: %d", r.status)
	}
	if r := owner.post(root+"/invoices/abc/resend", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("hook POST without CSRF: %d", r.status)
	}
	r = owner.post(root+"/invoices/abc/resend", url.Values{"csrf": {owner.csrf(root + "/invoices")}})
	if r.status != http.StatusTeapot || !strings.Contains(r.body, "resent abc") {
		t.Fatalf("hook POST: %d\n%s", r.status, r.body)
	}
}

func TestUnknownStoreIs404(t *testing.T) {
	h := newHarness(t, options{})
	owner, _ := h.setup(regtestKey(t, "shop"))
	for _, p := range []string{"/dashboard/stores/nope/tokens", "/dashboard/stores/" + strings.Repeat("x", 100)} {
		if r := owner.get(p); r.status != http.StatusNotFound {
			t.Fatalf("GET %s: %d", p, r.status)
		}
	}
}
