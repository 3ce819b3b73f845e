package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
)

// openSession opens an API session with body and returns its id.
func (e *env) openSession(body any) string {
	e.t.Helper()
	status, m := e.do(nil, "POST", "/sessions", body)
	id, _ := m["data"].(string)
	if status != 200 || len(id) < 20 {
		e.t.Fatalf("POST /sessions: %d %v", status, m)
	}
	return id
}

// errorText is the error field of an error envelope.
func errorText(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["status"] != "error" {
		t.Fatalf("not an error envelope: %s", b)
	}
	s, _ := m["error"].(string)
	return s
}

func TestSessionRequestNumbers(t *testing.T) {
	clock := newFakeClock()
	e := newEnvWith(t, func(c *api.Config) { c.Clock = clock.Now })
	sid := e.openSession(nil)
	create := func(n int64, price any) map[string]any {
		return map[string]any{"token": e.pos, "price": price, "currency": "USD", "sessionId": sid, "requestNumber": n}
	}
	_, _, first := e.raw("POST", "/invoices", create(1, "10"))
	status, _, second := e.raw("POST", "/invoices", create(2, "20"))
	if status != 200 || bytes.Equal(first, second) {
		t.Fatalf("request 2 must run: %d %s", status, second)
	}
	cases := []struct {
		name    string
		advance time.Duration
		n       int64
		status  int
		body    []byte // the exact answer, when it is a replay
		err     string // the error text, when refused
	}{
		{"replay of the last number", 0, 2, 200, second, ""},
		{"replay again, even with another body", time.Minute, 2, 200, second, ""},
		{"an older number", 0, 1, 409, nil, "requestNumber 1 is out of order: the next is 3"},
		{"a gap", 0, 4, 409, nil, "requestNumber 4 is out of order: the next is 3"},
		{"no number", 0, 0, 400, nil, "requestNumber: must be a positive integer"},
		{"the next number after 14m59s idle", 14*time.Minute + 59*time.Second, 3, 200, nil, ""},
		{"15 minutes idle", 15 * time.Minute, 4, 400, nil, api.MsgInvalidSession},
		{"and the session is gone", 0, 4, 400, nil, api.MsgInvalidSession},
	}
	for _, tc := range cases {
		clock.Add(tc.advance)
		status, _, b := e.raw("POST", "/invoices", create(tc.n, "99"))
		if status != tc.status {
			t.Fatalf("%s: have %d, want %d: %s", tc.name, status, tc.status, b)
		}
		if tc.body != nil && !bytes.Equal(b, tc.body) {
			t.Fatalf("%s: a replay must repeat the first answer byte for byte:\nhave %s\nwant %s", tc.name, b, tc.body)
		}
		if tc.err != "" && errorText(t, b) != tc.err {
			t.Fatalf("%s: error %q, want %q", tc.name, errorText(t, b), tc.err)
		}
	}
	// Requests 1, 2 and 3 ran; the replays and refusals created nothing.
	if n := e.invoiceCount(); n != 3 {
		t.Fatalf("%d invoices, want 3", n)
	}
}

func TestSessionReplaysErrorsAndChecksOwner(t *testing.T) {
	e := newEnv(t)
	sid := e.openSession(map[string]any{"guid": "g"})
	bad := map[string]any{"token": e.pos, "price": -1, "currency": "USD", "sessionId": sid, "requestNumber": 1}
	status, _, first := e.raw("POST", "/invoices", bad)
	if status != 400 {
		t.Fatalf("a bad request in a session: %d %s", status, first)
	}
	// The answer to number 1 is kept even when it was an error: a retry
	// with a corrected body is number 2.
	ok := map[string]any{"token": e.pos, "price": 1, "currency": "USD", "sessionId": sid, "requestNumber": 1}
	if status, _, b := e.raw("POST", "/invoices", ok); status != 400 || !bytes.Equal(b, first) {
		t.Fatalf("replay of a refused request: %d %s", status, b)
	}
	ok["requestNumber"] = 2
	if status, _, b := e.raw("POST", "/invoices", ok); status != 200 {
		t.Fatalf("number 2: %d %s", status, b)
	}
	// Another token cannot read the session's answers.
	other := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadePOS, Active: true, CreatedAt: time.Now()}
	if err := e.db.CreateToken(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	status, _, b := e.raw("POST", "/invoices", map[string]any{"token": other.Value, "price": 1, "currency": "USD", "sessionId": sid, "requestNumber": 2})
	if status != 400 || errorText(t, b) != api.MsgInvalidSession {
		t.Fatalf("another token's request in the session: %d %s", status, b)
	}
	// An unknown session id, and a session opened with a token (bound to
	// it at once).
	status, _, b = e.raw("POST", "/invoices", map[string]any{"token": e.pos, "price": 1, "currency": "USD", "sessionId": "nope", "requestNumber": 1})
	if status != 400 || errorText(t, b) != api.MsgInvalidSession {
		t.Fatalf("unknown session: %d %s", status, b)
	}
	bound := e.openSession(map[string]any{"token": e.pos})
	status, _, b = e.raw("POST", "/invoices", map[string]any{"token": other.Value, "price": 1, "currency": "USD", "sessionId": bound, "requestNumber": 1})
	if status != 400 || errorText(t, b) != api.MsgInvalidSession {
		t.Fatalf("a session opened by one token, used by another: %d %s", status, b)
	}
	if n := e.invoiceCount(); n != 1 {
		t.Fatalf("%d invoices, want 1", n)
	}
}

func TestOpenSession(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		body   any
		status int
	}{
		{"no body", nil, 200},
		{"guid only", map[string]any{"guid": "x"}, 200},
		{"pos token", map[string]any{"token": e.pos}, 200},
		{"unknown token", map[string]any{"token": "nope"}, 401},
		{"not an object", []int{1}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, m := e.do(nil, "POST", "/sessions", tc.body); status != tc.status {
				t.Fatalf("have %d, want %d: %v", status, tc.status, m)
			}
		})
	}
	// Tokenless sessions are limited per client address.
	refused := false
	for range 40 {
		status, h, _ := e.raw("POST", "/sessions", nil)
		if status == 429 {
			refused = h.Get("Retry-After") != ""
			break
		}
	}
	if !refused {
		t.Fatal("opening tokenless sessions without end must be limited, with Retry-After")
	}
	// With a token there is no address limit.
	if status, m := e.do(nil, "POST", "/sessions", map[string]any{"token": e.pos}); status != 200 {
		t.Fatalf("a token's session: %d %v", status, m)
	}
}

// TestSessionOnQueryRequests: GET and DELETE carry sessionId and
// requestNumber in the query string, inside the signed request-target.
func TestSessionOnQueryRequests(t *testing.T) {
	e := newEnv(t)
	c := newClient(t)
	now := time.Now().UTC()
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	if err := e.db.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if status, m := e.do(nil, "POST", "/tokens", map[string]any{"id": c.sin, "pairingCode": tok.PairingCode}); status != 200 {
		t.Fatalf("claim: %d %v", status, m)
	}
	sid := e.openSession(nil)
	list := func(n int) (int, map[string]any) {
		return e.do(&c, "GET", fmt.Sprintf("/invoices?token=%s&sessionId=%s&requestNumber=%d", tok.Value, sid, n), nil)
	}
	if status, m := list(1); status != 200 {
		t.Fatalf("request 1: %d %v", status, m)
	}
	if status, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": "5", "currency": "USD"}); status != 200 {
		t.Fatalf("create: %d %v", status, m)
	}
	// A retry of number 1 replays the empty list, though an invoice exists now.
	status, m := list(1)
	if items, _ := m["data"].([]any); status != 200 || len(items) != 0 {
		t.Fatalf("replay of request 1 must repeat its answer: %d %v", status, m)
	}
	if status, m := list(3); status != 409 {
		t.Fatalf("a gap must be refused: %d %v", status, m)
	}
	status, m = list(2)
	if items, _ := m["data"].([]any); status != 200 || len(items) != 1 {
		t.Fatalf("request 2 must run: %d %v", status, m)
	}
}
