package api_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// The event bus tests run kassa's whole payment path: a real store
// (SQLite, and PostgreSQL where the database matters), the gateway, the
// processor and node watcher on a real btcd regtest node, and the API on
// loopback; clients read the streams over HTTP like EventSource does. The
// tests that pay on the node are in events_node_test.go, built with the tag
// node; the ones here need no node.

// busWaitLimit bounds every wait for something the system must do; it only
// turns a hang into a failure, it measures nothing.
const busWaitLimit = 90 * time.Second

const busBuyerEmail = "buyer-secret@example.com"

// busEnv is kassa with the event bus on loopback.
type busEnv struct {
	t        *testing.T
	url      string
	dbURL    string
	db       *store.DB
	gw       *gateway.Gateway
	node     *regtest.Node
	api      *api.Server
	storeID  string
	merchant string // a bearer merchant token
	// client reads streams; it keeps no idle connections, so goroutine
	// counts come back to where they were.
	client *http.Client
	srv    *httptest.Server
}

type busOptions struct {
	dbURL  string        // "" means a fresh SQLite file
	node   *regtest.Node // nil means no chain (no payments)
	events api.EventConfig
	// hub tunes the event hub (its Store and Log are the env's).
	hub notify.HubConfig
	// listen wraps the server's listener (socket options).
	listen func(net.Listener) net.Listener
}

func newBusEnv(t *testing.T, o busOptions) *busEnv {
	t.Helper()
	ctx := context.Background()
	if o.dbURL == "" {
		o.dbURL = kassatest.Current().URL(t)
	}
	db, err := store.Open(ctx, o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: kassatest.Key(t, "event bus merchant"),
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 1000, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadeMerchant, Active: true, CreatedAt: time.Now()}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	rs := kassatest.Rates(t)
	quiet := slog.New(slog.DiscardHandler)
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest", Log: quiet})
	t.Cleanup(g.Close)
	tip := func() int32 { return 0 }
	if o.node != nil {
		proc := gateway.NewProcessor(g, gateway.ProcessorConfig{Store: db})
		cctx, cancel := context.WithCancel(ctx)
		backend, err := chain.Open(cctx, chain.Options{URL: o.node.RPCURL(), Network: "regtest", Sink: proc,
			PollInterval: 50 * time.Millisecond, Log: quiet})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		proc.Attach(backend)
		if err := proc.Load(cctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan struct{}, 2)
		go func() { _ = backend.Run(cctx); done <- struct{}{} }()
		go func() { _ = proc.Run(cctx, 50*time.Millisecond); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done })
		tip = proc.Tip
	}
	srv := httptest.NewUnstartedServer(nil)
	if o.listen != nil {
		srv.Listener = o.listen(srv.Listener)
	}
	e := &busEnv{t: t, url: "http://" + srv.Listener.Addr().String(), dbURL: o.dbURL, db: db, gw: g, node: o.node,
		storeID: st.ID, merchant: tok.Value, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, srv: srv}
	o.hub.Store, o.hub.Log = db, quiet
	hub, err := notify.NewHub(o.hub)
	if err != nil {
		t.Fatal(err)
	}
	e.api, err = api.New(api.Config{Store: db, Invoices: g, Rates: rs, PublicURL: e.url, Tip: tip, Log: quiet, Hub: hub, Events: o.events,
		InvoiceLimits: func(string) merchant.Limits { return merchant.Limits{Off: true} }})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = e.api
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(e.api.CloseEventStreams)
	return e
}

// invoice creates a $10 invoice (20,000 sats) with a buyer email, which
// only the merchant may see.
func (e *busEnv) invoice() *invoice.Invoice {
	e.t.Helper()
	inv, err := e.gw.CreateInvoice(context.Background(), e.storeID, gateway.NewInvoice{Price: "10", Currency: "USD",
		Fields: invoice.Fields{OrderID: "order-7", Buyer: invoice.Buyer{Email: busBuyerEmail}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// act applies a merchant action through the gateway (and so the outbox).
func (e *busEnv) act(id string, ev invoice.Event) {
	e.t.Helper()
	if _, err := e.gw.Act(context.Background(), id, ev); err != nil {
		e.t.Fatal(err)
	}
}

// outboxSeqs returns the invoice's outbox positions after seq whose code
// passes keep (nil keeps all).
func (e *busEnv) outboxSeqs(id string, after int64, keep func(invoice.Code) bool) []int64 {
	e.t.Helper()
	evs, err := e.db.Outbox(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []int64
	for _, ev := range evs {
		if ev.Seq > after && (keep == nil || keep(invoice.Code(ev.Code))) {
			out = append(out, ev.Seq)
		}
	}
	return out
}

// busWait polls cond until it holds, failing the test after busWaitLimit.
func busWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(busWaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get sends GET path with optional headers and returns the response.
func (e *busEnv) get(ctx context.Context, path string, header map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// sseEvent is one dispatched Server-Sent Event, or a comment line.
type sseEvent struct {
	ID, Event, Data string
	Comment         string
}

// busStream is an open event stream read in the background.
type busStream struct {
	t      *testing.T
	events chan sseEvent
	done   chan error // receives the read error (io.EOF at a clean end)
	cancel context.CancelFunc
	ended  bool
	err    error // why the stream ended: io.EOF when the server ended it
}

// subscribe opens path as an event stream and checks the stream headers.
func (e *busEnv) subscribe(path string, header map[string]string) *busStream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp := e.get(ctx, path, header)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			e.t.Errorf("GET %s: %s is %q, want %q", path, k, got, want)
		}
	}
	s := &busStream{t: e.t, events: make(chan sseEvent), done: make(chan error, 1), cancel: cancel}
	go s.read(ctx, resp.Body)
	e.t.Cleanup(s.close)
	return s
}

func (s *busStream) read(ctx context.Context, body io.ReadCloser) {
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	send := func(ev sseEvent) bool {
		select {
		case s.events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) && !send(ev) {
				s.done <- ctx.Err()
				return
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.Comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data += value
			}
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	s.done <- err
}

func (s *busStream) close() { s.cancel() }

// next returns the next event or comment; ok is false at the stream's
// end, whether the server ended it or the connection broke (s.err).
func (s *busStream) next() (ev sseEvent, ok bool) {
	s.t.Helper()
	if s.ended {
		return sseEvent{}, false
	}
	select {
	case ev := <-s.events:
		return ev, true
	case err := <-s.done:
		s.ended, s.err = true, err
		return sseEvent{}, false
	case <-time.After(busWaitLimit):
		s.t.Fatal("timed out waiting for an event")
		return sseEvent{}, false
	}
}

// event returns the next event, skipping comments; it fails at the end.
func (s *busStream) event() sseEvent {
	s.t.Helper()
	for {
		ev, ok := s.next()
		if !ok {
			s.t.Fatalf("the stream ended (%v); an event was expected", s.err)
		}
		if ev.Event != "" {
			return ev
		}
	}
}

// connect reads the connect event and checks its invoice id.
func (s *busStream) connect(invoiceID string) {
	s.t.Helper()
	ev := s.event()
	var d map[string]any
	if ev.Event != "connect" || json.Unmarshal([]byte(ev.Data), &d) != nil || d["invoiceId"] != invoiceID || ev.ID != "" {
		s.t.Fatalf("want connect for %s, have %+v", invoiceID, ev)
	}
}

// busState is a statechange event: its id and decoded invoice.
type busState struct {
	seq  int64
	inv  map[string]any
	data string
}

func (s *busStream) state() busState {
	s.t.Helper()
	ev := s.event()
	if ev.Event != "statechange" {
		s.t.Fatalf("want statechange, have %+v", ev)
	}
	seq, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		s.t.Fatalf("statechange without a numeric id: %+v", ev)
	}
	var inv map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &inv); err != nil {
		s.t.Fatalf("statechange data is not an invoice: %v: %s", err, ev.Data)
	}
	return busState{seq: seq, inv: inv, data: ev.Data}
}

// end reads to the end of the stream, failing on any further event.
func (s *busStream) end() {
	s.t.Helper()
	for {
		ev, ok := s.next()
		if !ok {
			if s.err != io.EOF {
				s.t.Fatalf("the stream broke instead of ending: %v", s.err)
			}
			return
		}
		if ev.Event != "" {
			s.t.Fatalf("the stream should have ended, have %+v", ev)
		}
	}
}

// smallBuffers makes every accepted connection's send buffer small, so a
// client that does not read blocks the server's writes after a few KiB.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestEventStreamSlowClient opens a stream whose client never reads beside
// one that does, and queues many events: the reader gets every one while
// the other is stuck, the stuck stream is dropped, and every goroutine
// the streams started goes away.
func TestEventStreamSlowClient(t *testing.T) {
	e := newBusEnv(t, busOptions{
		events: api.EventConfig{WriteTimeout: time.Second, Ping: time.Hour},
		hub:    notify.HubConfig{Buffer: 4},
		listen: func(l net.Listener) net.Listener { return smallBuffers{l} },
	})
	inv := e.invoice()
	path := "/events?token=" + url.QueryEscape(inv.Token)
	// Warm up: one stream opened and closed, so lazily started runtime
	// goroutines are in the baseline.
	warm := e.subscribe(path, nil)
	warm.connect(inv.ID)
	warm.state()
	warm.close()
	busWait(t, "the warm-up stream to close", func() bool { return e.api.EventStreams() == 0 })
	before := runtime.NumGoroutine()

	raw, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(raw, "GET %s HTTP/1.1\r\nHost: kassa\r\nAccept: text/event-stream\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	reader := e.subscribe(path, nil)
	busWait(t, "both streams to open", func() bool { return e.api.EventStreams() == 2 })
	reader.connect(inv.ID)
	last := reader.state().seq

	// The events come faster than one stream's buffer of four batches
	// holds, so the reader may be dropped too (or time out a write when
	// the machine is slow); like EventSource it then reconnects with
	// Last-Event-ID.
	const n = 300
	for range n {
		e.act(inv.ID, invoice.Resend{})
	}
	want := e.outboxSeqs(inv.ID, last, nil)
	var got []int64
	reconnects := 0
	for len(got) < n {
		ev, ok := reader.next()
		if !ok {
			reconnects++
			reader = e.subscribe(path, map[string]string{"Last-Event-ID": strconv.FormatInt(last, 10)})
			reader.connect(inv.ID)
			continue
		}
		if ev.Event != "statechange" {
			continue
		}
		last, _ = strconv.ParseInt(ev.ID, 10, 64)
		got = append(got, last)
	}
	t.Logf("the reading client reconnected %d times", reconnects)
	if !slices.Equal(got, want) {
		t.Fatalf("the reading client got %d events, not the %d in order, once each", len(got), len(want))
	}
	busWait(t, "the stuck stream to be dropped", func() bool { return e.api.EventStreams() <= 1 })
	reader.close()
	busWait(t, "every stream to close", func() bool { return e.api.EventStreams() == 0 })
	deadline := time.Now().Add(busWaitLimit)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the streams:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventStreamRefusals checks what is not a stream: bad tokens,
// unknown invoices, bad parameters, the unsubscribe ack, the stream cap.
func TestEventStreamRefusals(t *testing.T) {
	e := newBusEnv(t, busOptions{events: api.EventConfig{MaxStreams: 1, Ping: 20 * time.Millisecond}})
	inv := e.invoice()
	other := e.invoice()
	cases := []struct {
		name, path string
		header     map[string]string
		status     int
		msg        string
	}{
		{"unknown token", "/events?token=nope&action=subscribe", nil, 401, "Invalid token"},
		{"merchant token is not an invoice token", "/events?token=" + url.QueryEscape(e.merchant), nil, 401, "Invalid token"},
		{"unknown invoice", "/events?invoiceId=nope", nil, 404, "Object not found"},
		{"token of another invoice", "/events?token=" + url.QueryEscape(inv.Token) + "&invoiceId=" + other.ID, nil, 404, "Object not found"},
		{"neither", "/events", nil, 400, "token: missing required parameter"},
		{"unknown event class", "/events?token=" + url.QueryEscape(inv.Token) + "&events[]=gossip", nil, 400, ""},
		{"unknown action", "/events?token=" + url.QueryEscape(inv.Token) + "&action=listen", nil, 400, ""},
		{"bad Last-Event-ID", "/events?token=" + url.QueryEscape(inv.Token), map[string]string{"Last-Event-ID": "x"}, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.get(context.Background(), tc.path, tc.header)
			defer resp.Body.Close()
			var m map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatalf("not a JSON envelope: %v", err)
			}
			if resp.StatusCode != tc.status || m["status"] != "error" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("want %d in the error envelope, have %d %v", tc.status, resp.StatusCode, m)
			}
			if tc.msg != "" && m["error"] != tc.msg {
				t.Fatalf("error %q, want %q", m["error"], tc.msg)
			}
		})
	}

	resp := e.get(context.Background(), "/events?token="+url.QueryEscape(inv.Token)+"&action=unsubscribe", nil)
	var ack struct {
		Data map[string]string `json:"data"`
	}
	err := json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || ack.Data["action"] != "unsubscribe" || ack.Data["invoiceId"] != inv.ID {
		t.Fatalf("unsubscribe: %d %+v %v", resp.StatusCode, ack, err)
	}

	// One stream is the cap here: a second is refused until it closes.
	s := e.subscribe("/events?invoiceId="+inv.ID, nil)
	s.connect(inv.ID)
	s.state()
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatal("the stream ended")
		}
		if ev.Comment == "ping" {
			break
		}
	}
	resp = e.get(context.Background(), "/events?invoiceId="+other.ID, nil)
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || m["status"] != "error" {
		t.Fatalf("a stream over the cap: %d %v", resp.StatusCode, m)
	}
	s.close()
	busWait(t, "the stream to close", func() bool { return e.api.EventStreams() == 0 })
	again := e.subscribe("/events?invoiceId="+other.ID, nil)
	again.connect(other.ID)
	again.close()
}

// TestEventStreamFinalState subscribes to an invoice the merchant
// cancelled: the stream sends its state and ends, and a reconnection with
// the last id gets 204; a live cancellation ends an open stream too.
func TestEventStreamFinalState(t *testing.T) {
	e := newBusEnv(t, busOptions{})
	live := e.invoice()
	s := e.subscribe("/events?invoiceId="+live.ID+"&events[]=payment", nil)
	s.connect(live.ID)
	s.state()
	e.act(live.ID, invoice.Cancel{})
	// The expiry is not a payment event, but the final state is always sent.
	if st := s.state(); st.inv["status"] != "expired" || st.inv["isCancelled"] != true {
		t.Fatalf("cancelled: %v", st.inv)
	}
	s.end()

	s = e.subscribe("/events?invoiceId="+live.ID, nil)
	s.connect(live.ID)
	st := s.state()
	if st.inv["status"] != "expired" {
		t.Fatalf("current state: %v", st.inv["status"])
	}
	s.end()
	resp := e.get(context.Background(), "/events?invoiceId="+live.ID, map[string]string{"Last-Event-ID": strconv.FormatInt(st.seq, 10)})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume after the final event: %d, want 204", resp.StatusCode)
	}
}

// TestEventStreamSeesOtherProcesses commits an event through a second
// store handle on the same SQLite file, as a CLI command beside kassa
// serve does: no local commit wakes the hub, its poll finds the event.
func TestEventStreamSeesOtherProcesses(t *testing.T) {
	e := newBusEnv(t, busOptions{hub: notify.HubConfig{Poll: 100 * time.Millisecond}})
	inv := e.invoice()
	s := e.subscribe("/events?token="+url.QueryEscape(inv.Token), nil)
	s.connect(inv.ID)
	s.state()

	db2, err := store.Open(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	fixed, _ := rates.ParseFixed("BTC_USD=50000")
	rs, _ := rates.New(rates.Config{Providers: []rates.Provider{fixed}})
	g2 := gateway.New(gateway.Config{Store: db2, Rates: rs, Network: "regtest", Log: slog.New(slog.DiscardHandler)})
	defer g2.Close()
	if _, err := g2.Act(context.Background(), inv.ID, invoice.Resend{}); err != nil {
		t.Fatal(err)
	}
	want := e.outboxSeqs(inv.ID, 0, nil)
	if st := s.state(); st.seq != want[len(want)-1] {
		t.Fatalf("event of the other process: id %d, want %d", st.seq, want[len(want)-1])
	}
}

// TestEventStreamLateCommitOnPostgres commits an event whose position was
// taken before another invoice's event that commits first, which only
// PostgreSQL does: the hub, having read past the missing position, reads
// it again and the stream still gets the event.
func TestEventStreamLateCommitOnPostgres(t *testing.T) {
	dbURL := testpg.Schema(t)
	e := newBusEnv(t, busOptions{dbURL: dbURL, hub: notify.HubConfig{Poll: 100 * time.Millisecond}})
	a, b := e.invoice(), e.invoice()
	sa := e.subscribe("/events?token="+url.QueryEscape(a.Token), nil)
	sb := e.subscribe("/events?token="+url.QueryEscape(b.Token), nil)
	sa.connect(a.ID)
	sa.state()
	sb.connect(b.ID)
	sb.state()

	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var late int64
	err = tx.QueryRowContext(ctx, `INSERT INTO outbox (id, subject, subject_id, store_id, code, name, status, exception, created_at, snapshot)
		SELECT $1, subject, subject_id, store_id, 1012, 'invoice_manuallyNotified', status, exception, created_at, snapshot
		FROM outbox WHERE subject_id = $2 ORDER BY seq DESC LIMIT 1 RETURNING seq`, auth.NewID(), a.ID).Scan(&late)
	if err != nil {
		t.Fatal(err)
	}
	// b's event takes a later position and commits first; the hub reads it.
	e.act(b.ID, invoice.Resend{})
	if st := sb.state(); st.seq <= late {
		t.Fatalf("b's event at %d, want after %d", st.seq, late)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if st := sa.state(); st.seq != late {
		t.Fatalf("a's late event: id %d, want %d", st.seq, late)
	}
}
