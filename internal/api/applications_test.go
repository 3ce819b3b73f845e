package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
)

// Seed 002's merchant applications: refused unless sign-up is open,
// recorded for the operator, checked, and throttled per client address
// as the dashboard's sign-ups are.
func TestApplications(t *testing.T) {
	app := map[string]any{
		"users": []map[string]any{{"email": "sat@example.com", "firstName": "Satoshi", "lastName": "Nakamoto", "phone": "4041235678", "agreedToTOSandPP": "true"}},
		"orgs":  []map[string]any{{"name": "Satoshi Widgets", "address1": "123 Peachtree St", "city": "Atlanta", "country": "USA", "industry": "Accounting"}},
	}
	closed := newEnv(t)
	if status, body := closed.do(nil, "POST", "/applications", app); status != http.StatusForbidden || body["status"] != "error" {
		t.Fatalf("application when closed: %d %v", status, body)
	}

	clock := newFakeClock()
	e := newEnvWith(t, func(c *api.Config) {
		c.Applications = c.Store.(api.Applications)
		c.Clock = clock.Now
	})
	status, body := e.do(nil, "POST", "/applications", app)
	d := data(t, body)
	if status != http.StatusOK || d["accountName"] != "Satoshi Widgets" || d["contactEmail"] != "sat@example.com" || d["requiresReview"] != true {
		t.Fatalf("application: %d %v", status, body)
	}
	apps, _ := e.db.ListApplications(context.Background())
	if len(apps) != 1 || apps[0].Status != "pending" || apps[0].ID != d["id"] {
		t.Fatalf("stored applications: %+v", apps)
	}
	if apps[0].Address != "127.0.0.1/32" {
		t.Errorf("recorded client address %q", apps[0].Address)
	}
	bad := map[string]any{"users": []map[string]any{{"email": "x"}}, "orgs": []map[string]any{{"name": "A"}}}
	if status, _ := e.do(nil, "POST", "/applications", bad); status != http.StatusBadRequest {
		t.Fatalf("bad application: %d", status)
	}

	// Three applications from one address are free (a refused one does
	// not count); the next waits a second, the one after two.
	for _, path := range []string{"/applications/", "/applications"} {
		if status, body := e.do(nil, "POST", path, app); status != http.StatusOK {
			t.Fatalf("POST %s: %d %v", path, status, body)
		}
	}
	if status, body := e.do(nil, "POST", "/applications", app); status != http.StatusTooManyRequests || body["status"] != "error" {
		t.Fatalf("fourth application at once: %d %v", status, body)
	}
	clock.Add(time.Second)
	if status, body := e.do(nil, "POST", "/applications", app); status != http.StatusOK {
		t.Fatalf("fourth application a second later: %d %v", status, body)
	}
	clock.Add(time.Second)
	if status, _ := e.do(nil, "POST", "/applications", app); status != http.StatusTooManyRequests {
		t.Fatalf("fifth application a second later: %d", status)
	}
	if apps, _ := e.db.ListApplications(context.Background()); len(apps) != 4 {
		t.Fatalf("%d applications stored, want 4", len(apps))
	}
}
