//go:build node

package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// These event bus tests pay invoices on a btcd regtest node (busEnv and the
// tests that need no node are in events_test.go); the helpers here are
// theirs alone.

// pass fetches the invoice's event-bus pass (GET /invoices/:id/events).
func (e *busEnv) pass(id string) (busURL, token string) {
	e.t.Helper()
	resp, err := e.client.Get(e.url + "/invoices/" + id + "/events?token=" + url.QueryEscape(e.merchant))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Data struct {
			URL     string   `json:"url"`
			Token   string   `json:"token"`
			Events  []string `json:"events"`
			Actions []string `json:"actions"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 || m.Data.Token == "" {
		e.t.Fatalf("pass: %d %+v %v", resp.StatusCode, m, err)
	}
	return m.Data.URL, m.Data.Token
}

func (e *busEnv) pay(inv *invoice.Invoice) {
	e.t.Helper()
	if _, err := e.node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *busEnv) mine(n int) {
	e.t.Helper()
	if _, err := e.node.Mine(context.Background(), n); err != nil {
		e.t.Fatal(err)
	}
}

// waitStatus polls the store until the invoice has status.
func (e *busEnv) waitStatus(id string, status invoice.Status) {
	e.t.Helper()
	busWait(e.t, "invoice "+id+" "+string(status), func() bool {
		inv, err := e.db.GetInvoice(context.Background(), id)
		return err == nil && inv.Status == status
	})
}

// until reads statechanges up to and including the first with status.
func (s *busStream) until(status string) []busState {
	s.t.Helper()
	var out []busState
	for {
		st := s.state()
		out = append(out, st)
		if st.inv["status"] == status {
			return out
		}
	}
}

func stateSeqs(states []busState) []int64 {
	out := make([]int64, len(states))
	for i, st := range states {
		out[i] = st.seq
	}
	return out
}

// busNode starts a regtest node with spendable coins for the test.
func busNode(t *testing.T) *regtest.Node {
	t.Helper()
	return regtest.MustStart(t, regtest.Options{Mature: true})
}

// classCodes are the codes of events[]=payment&events[]=confirmation.
func classCodes(c invoice.Code) bool {
	switch c {
	case invoice.CodeReceivedPayment, invoice.CodePaidInFull, invoice.CodePaidAfterExpiry, invoice.CodeExpiredPartial,
		invoice.CodeAdjustmentComplete, invoice.CodePaymentReversed,
		invoice.CodeConfirmed, invoice.CodeCompleted, invoice.CodeFailedToConfirm, invoice.CodeConfirmationsLost:
		return true
	}
	return false
}

// TestEventStreamFollowsAPayment subscribes with the pass's token and in
// the public view, pays the invoice on the node and mines: both streams
// carry paid, confirmed and complete, the token stream only the payment
// and confirmation events it asked for, each once and in outbox order,
// and end after complete; a reconnection after the end gets 204.
func TestEventStreamFollowsAPayment(t *testing.T) {
	node := busNode(t)
	backends := []struct {
		name  string
		dbURL func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return testpg.Schema(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newBusEnv(t, busOptions{dbURL: b.dbURL(t), node: node})
			inv := e.invoice()
			busURL, token := e.pass(inv.ID)
			if busURL != e.url+"/events" || token != inv.Token {
				t.Fatalf("pass: url %q token %q, want %q and the invoice token", busURL, token, e.url+"/events")
			}
			priv := e.subscribe("/events?token="+url.QueryEscape(token)+"&action=subscribe&events[]=payment&events[]=confirmation", nil)
			pub := e.subscribe("/events?invoiceId="+inv.ID, nil)
			created := e.outboxSeqs(inv.ID, 0, nil)[0]
			for _, s := range []*busStream{priv, pub} {
				s.connect(inv.ID)
				if st := s.state(); st.seq != created || st.inv["status"] != "new" || st.inv["id"] != inv.ID {
					t.Fatalf("current state: %d %v", st.seq, st.inv["status"])
				}
			}

			e.pay(inv)
			privStates := priv.until("paid")
			pubStates := pub.until("paid")
			e.mine(1)
			privStates = append(privStates, priv.until("confirmed")...)
			pubStates = append(pubStates, pub.until("confirmed")...)
			e.mine(5)
			privStates = append(privStates, priv.until("complete")...)
			pubStates = append(pubStates, pub.until("complete")...)
			priv.end()
			pub.end()

			if want := e.outboxSeqs(inv.ID, created, classCodes); !slices.Equal(stateSeqs(privStates), want) {
				t.Errorf("token stream ids %v, want the payment and confirmation events %v", stateSeqs(privStates), want)
			}
			if want := e.outboxSeqs(inv.ID, created, nil); !slices.Equal(stateSeqs(pubStates), want) {
				t.Errorf("public stream ids %v, want every event %v", stateSeqs(pubStates), want)
			}
			for _, st := range privStates {
				if st.inv["token"] != inv.Token || st.inv["buyer"] != nil || strings.Contains(st.data, busBuyerEmail) {
					t.Fatalf("the invoice-token view must carry the token and no buyer: %s", st.data)
				}
			}
			for _, st := range pubStates {
				if _, ok := st.inv["token"]; ok || st.inv["buyer"] != nil || strings.Contains(st.data, busBuyerEmail) ||
					strings.Contains(st.data, inv.Token) {
					t.Fatalf("the public view leaks private fields: %s", st.data)
				}
			}
			last := privStates[len(privStates)-1]
			if last.inv["amountPaid"] != float64(inv.Due()) || last.inv["id"] != inv.ID {
				t.Errorf("complete invoice: %s", last.data)
			}

			// EventSource reconnects after the end with Last-Event-ID: 204
			// tells it to stop.
			resp := e.get(context.Background(), "/events?token="+url.QueryEscape(token),
				map[string]string{"Last-Event-ID": strconv.FormatInt(last.seq, 10)})
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("reconnection after the final event: %d, want 204", resp.StatusCode)
			}
			busWait(t, "streams to close", func() bool { return e.api.EventStreams() == 0 })
		})
	}
}

// TestEventStreamResumes disconnects after paid, lets events happen, and
// reconnects with Last-Event-ID (and with ?lastEventId=): the new stream
// carries exactly the missed events, then live ones, no duplicates.
func TestEventStreamResumes(t *testing.T) {
	node := busNode(t)
	e := newBusEnv(t, busOptions{node: node})
	inv := e.invoice()
	path := "/events?token=" + url.QueryEscape(inv.Token)
	first := e.subscribe(path, nil)
	first.connect(inv.ID)
	seen := []busState{first.state()}
	e.pay(inv)
	seen = append(seen, first.until("paid")...)
	first.close()
	lastSeen := seen[len(seen)-1].seq

	// Missed while disconnected: a confirmation and a resent notification.
	e.mine(1)
	e.waitStatus(inv.ID, invoice.StatusConfirmed)
	e.act(inv.ID, invoice.Resend{})
	missed := e.outboxSeqs(inv.ID, lastSeen, nil)
	if len(missed) < 2 {
		t.Fatalf("want at least two events after %d, have %v", lastSeen, missed)
	}

	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			var s *busStream
			if how == "header" {
				s = e.subscribe(path, map[string]string{"Last-Event-ID": strconv.FormatInt(lastSeen, 10)})
			} else {
				s = e.subscribe(path+"&lastEventId="+strconv.FormatInt(lastSeen, 10), nil)
			}
			s.connect(inv.ID)
			var got []busState
			for range missed {
				got = append(got, s.state())
			}
			if !slices.Equal(stateSeqs(got), missed) {
				t.Fatalf("resumed stream ids %v, want exactly the missed %v", stateSeqs(got), missed)
			}
			if got[len(got)-1].inv["status"] != "confirmed" {
				t.Fatalf("last missed event: status %v", got[len(got)-1].inv["status"])
			}
			// The next event is the next live one: nothing was repeated.
			e.act(inv.ID, invoice.Resend{})
			next := e.outboxSeqs(inv.ID, missed[len(missed)-1], nil)
			if st := s.state(); len(next) != 1 || st.seq != next[0] {
				t.Fatalf("after the missed events: id %d, want the new event %v", st.seq, next)
			}
			missed = append(missed, next...)
			s.close()
		})
	}
	busWait(t, "streams to close", func() bool { return e.api.EventStreams() == 0 })
}

// TestEventSourceClient runs a real EventSource client (the eventsource
// package, test/sdk/eventsource.test.mjs) through a payment: it subscribes
// with the pass as seed 002 does, sees connect and statechange paid, is
// disconnected by the server and reconnects by itself with Last-Event-ID,
// sees confirmed, resumes again with ?lastEventId=, sees complete and is
// stopped by the 204 after the stream's end; no event is repeated.
func TestEventSourceClient(t *testing.T) {
	dir := sdkDir(t)
	nodeJS, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the EventSource test needs Node.js")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "eventsource")); err != nil {
		t.Fatalf("eventsource is not installed in %s: run make tools (npm ci)", dir)
	}
	e := newBusEnv(t, busOptions{node: busNode(t)})
	inv := e.invoice()
	busURL, token := e.pass(inv.ID)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeJS, "eventsource.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KASSA_EVENTS_URL="+busURL, "KASSA_EVENT_TOKEN="+token, "KASSA_INVOICE_ID="+inv.ID)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var output []string
	fail := func(format string, args ...any) {
		t.Helper()
		cancel()
		_ = cmd.Wait()
		t.Fatalf("%s\nscript output:\n%s\n%s", fmt.Sprintf(format, args...), strings.Join(output, "\n"), stderr.String())
	}
	expect := func(word string) string {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				fail("the script ended before %s", word)
			}
			output = append(output, line)
			if !strings.HasPrefix(line, word) {
				fail("the script said %q, want %s", line, word)
			}
			return line
		case <-time.After(busWaitLimit):
			fail("timed out waiting for %s", word)
		}
		return ""
	}

	expect("READY")
	e.pay(inv)
	expect("PAID")
	e.srv.CloseClientConnections()
	expect("RECONNECTED")
	e.mine(1)
	expect("CONFIRMED")
	expect("RESUMING")
	e.mine(5)
	result := strings.TrimPrefix(expect("RESULT "), "RESULT ")
	for line := range lines {
		output = append(output, line)
	}
	if err := cmd.Wait(); err != nil {
		fail("the script failed: %v", err)
	}

	var r struct {
		Connects     int `json:"connects"`
		Statechanges []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"statechanges"`
		Headers []*string `json:"lastEventIdHeaders"`
	}
	if err := json.Unmarshal([]byte(result), &r); err != nil {
		t.Fatalf("result %s: %v", result, err)
	}
	t.Logf("EventSource saw: %s", result)
	var statuses []string
	var ids []int64
	for _, sc := range r.Statechanges {
		statuses = append(statuses, sc.Status)
		ids = append(ids, sc.ID)
	}
	for _, want := range []string{"new", "paid", "confirmed", "complete"} {
		if !slices.Contains(statuses, want) {
			t.Errorf("EventSource never saw status %s: %v", want, statuses)
		}
	}
	// What it saw is exactly the current state, then the invoice's payment
	// and confirmation events, once each.
	created := e.outboxSeqs(inv.ID, 0, nil)[0]
	if want := append([]int64{created}, e.outboxSeqs(inv.ID, created, classCodes)...); !slices.Equal(ids, want) {
		t.Errorf("EventSource ids %v, want %v", ids, want)
	}
	if r.Connects != 3 {
		t.Errorf("connect events: %d, want 3 (first, automatic reconnection, resumption)", r.Connects)
	}
	// Connections: the first without Last-Event-ID, the automatic
	// reconnection with it, the resumption by query (none), the
	// reconnection after the end with it (answered 204).
	if len(r.Headers) != 4 || r.Headers[0] != nil || r.Headers[1] == nil || r.Headers[2] != nil || r.Headers[3] == nil {
		t.Errorf("Last-Event-ID headers sent: %s", result)
	}
}
