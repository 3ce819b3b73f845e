package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	wildcard  = regexp.MustCompile(`\{[^}]+\}`)
	sessionID = regexp.MustCompile(`"data":"[A-Za-z0-9]{22}"`)
)

// Every route the API serves answers the same with and without a
// trailing slash, and is routed (never the not-served fallback), over the
// whole route list rather than one case per route.
func TestEveryRouteIgnoresTrailingSlash(t *testing.T) {
	e := newEnv(t)
	patterns := e.api.Patterns()
	if len(patterns) < 20 {
		t.Fatalf("only %d routes listed", len(patterns))
	}
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		path = wildcard.ReplaceAllString(path, "x1")
		// Creating calls get no token, so they fail the same way twice
		// and change nothing; GET /events without a token is refused.
		var body any
		if method == http.MethodPost || method == http.MethodPut {
			body = map[string]any{}
		}
		for _, query := range []string{"", "?token=nope"} {
			s1, h1, b1 := e.raw(method, path+query, body)
			s2, h2, b2 := e.raw(method, path+"/"+query, body)
			ct1, ct2 := h1.Get("Content-Type"), h2.Get("Content-Type")
			// A new session's id is random each time; nothing else is.
			b1, b2 = sessionID.ReplaceAll(b1, []byte(`"data":"ID"`)), sessionID.ReplaceAll(b2, []byte(`"data":"ID"`))
			if s1 != s2 || ct1 != ct2 || !bytes.Equal(b1, b2) {
				t.Errorf("%s %s%s: %d %s %s\nwith a slash: %d %s %s", method, path, query, s1, ct1, b1, s2, ct2, b2)
			}
			if bytes.Contains(b1, []byte("kassa does not serve")) || bytes.Contains(b1, []byte("is not allowed on")) {
				t.Errorf("%s %s%s is not routed: %s", method, path, query, b1)
			}
			if !strings.HasPrefix(ct1, "application/json") {
				t.Errorf("%s %s%s: Content-Type %q", method, path, query, ct1)
			}
		}
	}
}

// Paths kassa does not serve, and methods a path is not served with,
// answer in BitPay's error envelope (v0.3's under /api/), never in
// ServeMux's plain text.
func TestUnservedRoutesAnswerTheEnvelope(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, msg    string
		allow        string
	}{
		{"GET", "/ledgers", 404, "020001", "kassa does not serve GET /ledgers", ""},
		{"GET", "/ledgers/BTC/", 404, "020001", "kassa does not serve GET /ledgers/BTC", ""},
		{"POST", "/payouts/", 404, "010001", "kassa does not serve POST /payouts", ""},
		{"POST", "/refunds/a/b/c", 404, "010201", "kassa does not serve POST /refunds/a/b/c", ""},
		{"GET", "/", 404, "020001", "kassa does not serve GET /", ""},
		{"GET", "/invoices/a/b/c", 404, "020101", "kassa does not serve GET /invoices/a/b/c", ""},
		{"DELETE", "/rates/", 405, "040000", "DELETE is not allowed on /rates; allowed: GET", "GET"},
		{"POST", "/healthz", 404, "010001", "kassa does not serve POST /healthz", ""},
		{"PUT", "/tokens", 405, "030000", "PUT is not allowed on /tokens; allowed: GET, POST", "GET, POST"},
	} {
		req, _ := http.NewRequest(tc.method, e.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", tc.method, tc.path, b)
		}
		if resp.StatusCode != tc.status || m["status"] != "error" || m["code"] != tc.code || m["error"] != tc.msg || m["message"] != tc.msg {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, b)
		}
		if got := resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	// Other handlers still serve their own paths, with or without a slash.
	for _, p := range []string{"/healthz", "/healthz/"} {
		if status, _, b := e.raw("GET", p, nil); status != 200 || string(b) != "ok" {
			t.Errorf("GET %s: %d %s", p, status, b)
		}
	}
	// v0.3 clients read {"error":{"type","message"}}.
	status, _, b := e.raw("GET", "/api/nothing", nil)
	var legacy struct {
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(b, &legacy); err != nil || status != 404 || legacy.Error.Type != "notFound" ||
		legacy.Error.Message != "kassa does not serve GET /api/nothing" {
		t.Errorf("GET /api/nothing: %d %s", status, b)
	}
}
