package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/store"
)

// withStdin runs fn with s as the commands' stdin.
func withStdin(t *testing.T, s string, fn func()) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	defer func() { stdin = old }()
	fn()
}

func TestUserAndApplicationCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_PUBLIC_URL": "https://pay.example.com"}
	var out, errs string
	var code int
	// The headless first run: the owner account, then a store.
	withStdin(t, "owner password 123\n", func() {
		out, errs, code = run(t, vars, "user", "create", "--email", "Owner@Example.com", "--password-stdin", "--owner")
	})
	if code != 0 || !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{22}\n$`).MatchString(out) {
		t.Fatalf("user create: %d %q %s", code, out, errs)
	}
	ownerID := strings.TrimSpace(out)
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)

	// Refused: no --password-stdin, a short password, a taken email, an
	// unknown role.
	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"user", "create", "--email", "a@example.com"}},
		{"short\n", []string{"user", "create", "--email", "a@example.com", "--password-stdin"}},
		{"long enough password\n", []string{"user", "create", "--email", "owner@example.com", "--password-stdin"}},
		{"long enough password\n", []string{"user", "create", "--email", "a@example.com", "--password-stdin", "--store", storeID, "--role", "boss"}},
	} {
		withStdin(t, tc.stdin, func() { _, errs, code = run(t, vars, tc.args...) })
		if code == 0 {
			t.Fatalf("%v must fail", tc.args)
		}
	}
	withStdin(t, "employee password\n", func() {
		out, errs, code = run(t, vars, "user", "create", "--email", "emp@example.com", "--password-stdin", "--store", storeID, "--role", "employee")
	})
	if code != 0 {
		t.Fatalf("user create employee: %d %s", code, errs)
	}
	out, errs, code = run(t, vars, "user", "list")
	var users []struct {
		ID, Email, Kind string
		Stores          []map[string]string
	}
	if code != 0 || json.Unmarshal([]byte(out), &users) != nil || len(users) != 2 {
		t.Fatalf("user list: %d %s %s", code, out, errs)
	}
	if users[0].ID != ownerID || users[0].Email != "owner@example.com" || users[0].Kind != "admin" ||
		users[1].Kind != "member" || len(users[1].Stores) != 1 || users[1].Stores[0]["role"] != "employee" {
		t.Fatalf("user list: %+v", users)
	}
	// The stored password is an argon2id hash that verifies.
	db, err := store.Open(context.Background(), dir+"/kassa.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.GetUserByEmail(context.Background(), "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := account.VerifyPassword(u.PasswordHash, "owner password 123"); !ok || err != nil {
		t.Fatalf("stored hash %q does not verify: %v", u.PasswordHash, err)
	}
	withStdin(t, "a new password here\n", func() {
		_, errs, code = run(t, vars, "user", "password", "--email", "owner@example.com", "--password-stdin")
	})
	if code != 0 {
		t.Fatalf("user password: %d %s", code, errs)
	}
	u, _ = db.GetUserByEmail(context.Background(), "owner@example.com")
	if ok, _, _ := account.VerifyPassword(u.PasswordHash, "a new password here"); !ok {
		t.Fatal("the new password does not verify")
	}
	if _, errs, code = run(t, vars, "user", "disable-2fa", "--email", "nobody@example.com"); code == 0 {
		t.Fatal("disable-2fa of an unknown account must fail")
	}

	// Merchant applications: listed, approved once into a one-time link.
	err = db.CreateApplication(context.Background(), store.Application{ID: "app1", Email: "sat@example.com", OrgName: "Widgets",
		Body: "{}", Status: "pending", CreatedAt: u.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	out, _, code = run(t, vars, "application", "list")
	if code != 0 || !strings.Contains(out, `"status": "pending"`) || !strings.Contains(out, "sat@example.com") {
		t.Fatalf("application list: %d %s", code, out)
	}
	out, errs, code = run(t, vars, "application", "approve", "app1")
	if code != 0 || !regexp.MustCompile(`^https://pay\.example\.com/dashboard/invite/[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("application approve: %d %q %s", code, out, errs)
	}
	if _, _, code = run(t, vars, "application", "approve", "app1"); code == 0 {
		t.Fatal("approving twice must fail")
	}
}

// kassa serve takes merchant applications (the API's POST /applications)
// when KASSA_SIGNUP opens merchant sign-up, as the dashboard's sign-up
// page, and refuses them otherwise.
func TestServeApplicationsFollowSignup(t *testing.T) {
	app := `{"users":[{"email":"sat@example.com","agreedToTOSandPP":true}],"orgs":[{"name":"Satoshi Widgets"}]}`
	for _, tc := range []struct {
		signup string
		status int
	}{{"", http.StatusForbidden}, {"true", http.StatusOK}} {
		vars := newVars(t, "rpc://u:p@"+freeAddr(t))
		vars["KASSA_SIGNUP"] = tc.signup
		s := startServe(t, vars)
		waitStarted(t, s)
		resp, err := http.Post("http://"+s.addr+"/applications", "application/json", strings.NewReader(app))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.stop(t)
		if resp.StatusCode != tc.status {
			t.Fatalf("KASSA_SIGNUP=%q: POST /applications %d, want %d", tc.signup, resp.StatusCode, tc.status)
		}
		out, errs, code := run(t, vars, "application", "list")
		if code != 0 || strings.Contains(out, "sat@example.com") != (tc.status == http.StatusOK) {
			t.Fatalf("KASSA_SIGNUP=%q: application list: %d %s %s", tc.signup, code, out, errs)
		}
	}
}
