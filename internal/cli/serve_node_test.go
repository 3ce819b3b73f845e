//go:build node

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// The tests here run kassa serve against a btcd regtest node, so they are
// built only with the tag node; the helpers they share with the node-less
// serve tests (startServe, newVars, waitFor, get) are in ops_test.go.

// metricValue returns a sample's value from /metrics, or -1 if absent.
func metricValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	_, body, _ := get(t, http.DefaultClient, "http://"+addr+"/metrics", nil)
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("bad sample %q", line)
			}
			return v
		}
	}
	return -1
}

// TestServeAnswersHealthz starts kassa serve against a real regtest node
// and checks /healthz answers, then that the watcher is running.
func TestServeAnswersHealthz(t *testing.T) {
	node, err := regtest.Start(context.Background(), regtest.Options{RPCPass: "n0t-in-the-logs-please"})
	if err != nil {
		t.Fatalf("start btcd (run scripts/install-btcd.sh): %v", err)
	}
	defer node.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest", "KASSA_LISTEN": addr,
		"KASSA_CHAIN": node.RPCURL(), "KASSA_RATES": "fixed:BTC_USD=50000", "KASSA_LOG_FORMAT": "json"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errb syncBuffer
	go func() {
		done <- Run(ctx, []string{"serve"}, Env{Stdout: &bytes.Buffer{}, Stderr: &errb, Getenv: func(k string) string { return vars[k] }})
	}()
	var body map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if body["chain"] == "watching" {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	if body["status"] != "ok" || body["chain"] != "watching" || body["network"] != "regtest" {
		t.Fatalf("healthz: %v\n%s", body, errb.String())
	}
	if strings.Contains(errb.String(), node.RPCPass()) {
		t.Fatal("the node's RPC password must never be logged")
	}
}

func TestServeRefusesWrongNetwork(t *testing.T) {
	node, err := regtest.Start(context.Background(), regtest.Options{})
	if err != nil {
		t.Fatalf("start btcd: %v", err)
	}
	defer node.Stop()
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "testnet", "KASSA_LISTEN": "127.0.0.1:0",
		"KASSA_CHAIN": node.RPCURL(), "KASSA_RATES": "fixed:BTC_USD=50000"}
	_, errs, code := run(t, vars, "serve")
	if code == 0 || !strings.Contains(errs, "regtest") || !strings.Contains(errs, "testnet") {
		t.Fatalf("want a clear wrong-network error naming both, have %d %s", code, errs)
	}
}

// TestServeOpsOnRegtest runs kassa serve against a real btcd node and
// checks /readyz, /metrics (who may read it, and what it says as a payment
// arrives and confirms), request ids and the JSON logs.
func TestServeOpsOnRegtest(t *testing.T) {
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	vars := newVars(t, node.RPCURL())
	storeID := createStore(t, vars, "medium")
	invID := createInvoice(t, vars, storeID)
	s := startServe(t, vars)
	waitFor(t, "ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	_, r := readyz(t, s.addr)
	if r.Tip != 101 || r.NodeHeight != 101 || r.Lag != 0 || r.Chain != "ok" || r.Database != "ok" {
		t.Fatalf("readyz: %+v", r)
	}

	// Request ids: a proxy's is kept and echoed.
	_, _, h := get(t, http.DefaultClient, "http://"+s.addr+"/healthz", map[string]string{"X-Request-Id": "edge-42"})
	if h.Get("X-Request-Id") != "edge-42" {
		t.Fatalf("request id not echoed: %v", h)
	}
	// /metrics is for local clients that did not come through a proxy.
	if code, _, _ := get(t, http.DefaultClient, "http://"+s.addr+"/metrics", map[string]string{"X-Forwarded-For": "203.0.113.9"}); code != 403 {
		t.Fatalf("a proxied /metrics request must be refused, got %d", code)
	}

	db := openTestDB(t, vars)
	inv, err := db.GetInvoice(context.Background(), invID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mempool payment's detection to be measured", func() bool {
		return metricValue(t, s.addr, `kassa_payment_detection_seconds_count{stage="mempool"}`) == 1
	})
	if _, err := node.Mine(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the confirmation's detection to be measured", func() bool {
		return metricValue(t, s.addr, `kassa_payment_detection_seconds_count{stage="block"}`) == 1
	})
	waitFor(t, "the invoice count by status", func() bool {
		return metricValue(t, s.addr, `kassa_invoices{status="confirmed"}`) == 1
	})
	for series, want := range map[string]float64{
		"kassa_chain_height": 102, "kassa_chain_node_height": 102, "kassa_chain_lag_blocks": 0, "kassa_chain_up": 1,
		`kassa_rate_source_fresh{source="fixed"}`: 1, "kassa_invoices_watched": 1,
		`kassa_build_info{version="dev",network="regtest"}`: 1, "kassa_ipn_backlog": 0,
	} {
		if got := metricValue(t, s.addr, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	_, body, _ := get(t, http.DefaultClient, "http://"+s.addr+"/metrics", nil)
	for _, want := range []string{
		`kassa_http_request_duration_seconds_count{route="GET /healthz",method="GET",code="200"}`,
		`kassa_http_request_duration_seconds_count{route="GET /readyz",method="GET",code="200"}`,
		"# TYPE kassa_ipn_attempts_total counter", "# TYPE kassa_ipn_requests_total counter",
		`kassa_rate_source_age_seconds{source="fixed"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s.stop(t)
	// Every log line is JSON (the format asked for).
	for line := range strings.Lines(s.logs.String()) {
		if !json.Valid([]byte(line)) {
			t.Fatalf("not a JSON log line: %q", line)
		}
	}
}

// TestRescanOnRegtest proves kassa rescan against a real btcd node:
// payments kassa already counted are not counted again (their invoices
// are not even rewritten), a payment kassa missed because its cursor had
// moved past the block is found and applied, an invoice paid long ago with
// a payment confirmed above the rescanned range is not judged at the old
// heights (it would turn invalid), the cursor serve resumes from is left
// alone, and running the rescan twice changes nothing.
func TestRescanOnRegtest(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	vars := newVars(t, node.RPCURL())
	storeID := createStore(t, vars, "medium")
	db := openTestDB(t, vars)
	status := func(id string) invoice.Invoice {
		inv, err := db.GetInvoice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	pay := func(id string) {
		inv := status(id)
		if _, err := node.Wallet().Pay(ctx, inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
			t.Fatal(err)
		}
	}
	mine := func(n int) {
		if _, err := node.Mine(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	// A is paid and completed while kassa watches: blocks 102 to 107.
	a := createInvoice(t, vars, storeID)
	s := startServe(t, vars)
	waitFor(t, "serve ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	pay(a)
	waitFor(t, "A paid", func() bool { return status(a).Status == invoice.StatusPaid })
	mine(6)
	waitFor(t, "A complete", func() bool { return status(a).Status == invoice.StatusComplete })
	s.stop(t)

	// B is paid while kassa is down, in block 108; then kassa's cursor is
	// moved to 115 without it seeing 108 to 115, as if it had followed
	// another node meanwhile.
	b := createInvoice(t, vars, storeID)
	pay(b)
	mine(8)
	tip, err := node.BestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(ctx, nil, &store.ChainUpdate{Rewind: store.NoRewind, Blocks: []store.ChainBlock{{Height: 115, Hash: tip.String()}}}); err != nil {
		t.Fatal(err)
	}

	// kassa runs again and does not find B's payment by itself: it is
	// deeper than the late-watch rescan looks. C (low speed) is paid and
	// confirmed once in block 117: paid, waiting for six confirmations.
	s = startServe(t, vars)
	waitFor(t, "serve ready again", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	mine(1)
	waitFor(t, "block 116 processed", func() bool { _, r := readyz(t, s.addr); return r.Tip == 116 })
	if st := status(b).Status; st != invoice.StatusNew || len(status(b).Payments) != 0 {
		t.Fatalf("B's payment must have been missed for this test to mean anything; B is %s", st)
	}
	c := createInvoice(t, vars, storeID, "--speed", "low")
	waitFor(t, "C watched", func() bool {
		_, r := readyz(t, s.addr)
		return r.Tip == 116 && metricValue(t, s.addr, "kassa_invoices_watched") >= 3
	})
	pay(c)
	waitFor(t, "C paid", func() bool { return status(c).Status == invoice.StatusPaid })
	mine(1)
	waitFor(t, "C confirmed once", func() bool { p := status(c).Payments; return len(p) == 1 && p[0].Height == 117 })

	// The rescan refuses to run beside the server.
	if _, errs, code := run(t, vars, "rescan", "--from", "102"); code == 0 || !strings.Contains(errs, "stop it") {
		t.Fatalf("rescan beside serve must refuse: %d %s", code, errs)
	}
	s.stop(t)

	// C was paid more than an hour ago (the invalid window) as far as the
	// store knows: judged at a height below 117 its payment would count as
	// unconfirmed and C would turn invalid.
	cInv := status(c)
	cInv.PaidAt = cInv.PaidAt.Add(-2 * time.Hour)
	if err := db.UpdateInvoice(ctx, &cInv, nil); err != nil {
		t.Fatal(err)
	}

	before := map[string]invoice.Invoice{a: status(a), c: status(c)}
	events := func(id string) int {
		evs, err := db.Outbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	eventsBefore := map[string]int{a: events(a), c: events(c), b: events(b)}
	cursor, err := db.RecentBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out, errs, code := run(t, vars, "rescan", "--from", "102")
	if code != 0 || out != "" {
		t.Fatalf("rescan: %d %q %s", code, out, errs)
	}
	if !strings.Contains(errs, "rescanning blocks 102 to 117") || !strings.Contains(errs, "rescan: block 117 of 117 (100%)") ||
		!regexp.MustCompile(`rescanned blocks 102 to 117 \(16 blocks, \d+ invoices watched\): 1 invoice updates`).MatchString(errs) {
		t.Fatalf("rescan progress and summary:\n%s", errs)
	}

	// B: found, counted once, judged at the tip (10 confirmations).
	bInv := status(b)
	if bInv.Status != invoice.StatusComplete || len(bInv.Payments) != 1 || bInv.Payments[0].Height != 108 || bInv.Paid() != bInv.Due() {
		t.Fatalf("B after the rescan: %s %+v", bInv.Status, bInv.Payments)
	}
	if events(b) <= eventsBefore[b] {
		t.Fatal("B's payment must have produced notifications")
	}
	// A and C: untouched, not a single write.
	for id, inv := range before {
		now := status(id)
		if now.Version != inv.Version || now.Status != inv.Status || len(now.Payments) != 1 || events(id) != eventsBefore[id] {
			t.Fatalf("invoice %s changed: %s v%d → %s v%d", id, inv.Status, inv.Version, now.Status, now.Version)
		}
	}
	if status(c).Status != invoice.StatusPaid {
		t.Fatalf("C must still be paid, is %s", status(c).Status)
	}
	after, err := db.RecentBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(cursor) {
		t.Fatalf("the processed-chain cursor must be left alone:\n%v\n%v", cursor, after)
	}

	// Again: nothing at all changes.
	snapshot := map[string]invoice.Invoice{a: status(a), b: status(b), c: status(c)}
	_, errs, code = run(t, vars, "rescan", "--from", "102")
	if code != 0 || !strings.Contains(errs, ": 0 invoice updates, 0 notifications") {
		t.Fatalf("second rescan: %d %s", code, errs)
	}
	for id, inv := range snapshot {
		if status(id).Version != inv.Version {
			t.Fatalf("the second rescan rewrote invoice %s", id)
		}
	}

	// Bad input.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rescan"}, "--from HEIGHT is required"},
		{[]string{"rescan", "--from", "999"}, "above the node's tip 117"},
	} {
		if _, errs, code := run(t, vars, tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Fatalf("%v: %d %s", tc.args, code, errs)
		}
	}
	esplora := map[string]string{}
	for k, v := range vars {
		esplora[k] = v
	}
	esplora["KASSA_CHAIN"] = "esplora+https://blockstream.info/api"
	if _, errs, code := run(t, esplora, "rescan", "--from", "5"); code == 0 || !strings.Contains(errs, "Esplora") {
		t.Fatalf("an Esplora backend has nothing to rescan: %d %s", code, errs)
	}
}
