package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
)

// The tests run kassa's real pieces: a store on SQLite or PostgreSQL, the
// gateway creating invoices and committing their events, the notify
// Service, and receivers on loopback HTTP.

// backend is a database kind the tests run on (kassatest's).
type backend = kassatest.Backend

func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range kassatest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// publicURL is the base of invoice urls in the bodies.
const publicURL = "https://pay.example.com"

// fixture is a store with a merchant store and a gateway.
type fixture struct {
	t        testing.TB
	dbURL    string
	db       *store.DB
	g        *gateway.Gateway
	rs       *rates.Rates
	storeID  string
	merchant string // an active merchant token's value
	logs     *logBuffer
	log      *slog.Logger
}

func newFixture(tb testing.TB, dbURL string, speed invoice.Speed) *fixture {
	tb.Helper()
	f := &fixture{t: tb, dbURL: dbURL, logs: &logBuffer{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.rs = kassatest.Rates(tb)
	f.openDB()
	st := merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: kassatest.Key(tb, "notify merchant"), Speed: speed,
		Expiry: 15 * time.Minute, GapLimit: 1000, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := f.db.CreateStore(context.Background(), st); err != nil {
		tb.Fatal(err)
	}
	f.storeID = st.ID
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadeMerchant, Active: true,
		CreatedAt: time.Now().UTC()}
	if err := f.db.CreateToken(context.Background(), tok); err != nil {
		tb.Fatal(err)
	}
	f.merchant = tok.Value
	tb.Cleanup(f.closeDB)
	return f
}

func (f *fixture) openDB() {
	f.t.Helper()
	db, err := store.Open(context.Background(), f.dbURL)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.db = db
	f.g = gateway.New(gateway.Config{Store: db, Rates: f.rs, Network: "regtest", Log: f.log})
}

func (f *fixture) closeDB() {
	if f.db != nil {
		f.g.Close()
		f.db.Close()
		f.db = nil
	}
}

// start runs a notify Service with test defaults (private targets
// allowed, fast retries) changed by cfg; stop ends it and waits.
func (f *fixture) start(change func(*notify.Config)) (stop func()) {
	f.t.Helper()
	cfg := notify.Config{Store: f.db, PublicURL: publicURL, AllowPrivate: true, RetryBase: 20 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, Poll: 50 * time.Millisecond, Timeout: 5 * time.Second, Log: f.log}
	if change != nil {
		change(&cfg)
	}
	svc, err := notify.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil {
			f.t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// create makes an invoice with the given fields.
func (f *fixture) create(fields invoice.Fields) *invoice.Invoice {
	f.t.Helper()
	inv, err := f.g.CreateInvoice(context.Background(), f.storeID, gateway.NewInvoice{Price: "10", Currency: "USD", Fields: fields})
	if err != nil {
		f.t.Fatal(err)
	}
	return inv
}

// resend queues event 1012 for an invoice, as POST /invoices/:id/notifications does.
func (f *fixture) resend(id string) {
	f.t.Helper()
	if _, err := f.g.Act(context.Background(), id, invoice.Resend{}); err != nil {
		f.t.Fatal(err)
	}
}

// deliveries returns an invoice's deliveries of one channel.
func (f *fixture) deliveries(id, channel string) []store.Delivery {
	f.t.Helper()
	ds, err := f.db.Deliveries(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []store.Delivery
	for _, d := range ds {
		if d.Channel == channel {
			out = append(out, d)
		}
	}
	return out
}

// waitDeliveries polls until an invoice's IPN deliveries satisfy ok.
func (f *fixture) waitDeliveries(id, what string, ok func([]store.Delivery) bool) []store.Delivery {
	f.t.Helper()
	var ds []store.Delivery
	waitFor(f.t, what, func() bool {
		ds = f.deliveries(id, store.ChannelIPN)
		return ok(ds)
	})
	return ds
}

// allIn reports whether there are n deliveries, all in state.
func allIn(n int, state string) func([]store.Delivery) bool {
	return func(ds []store.Delivery) bool {
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.State != state {
				return false
			}
		}
		return true
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer collects log output safely.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ipn is one request a receiver got.
type ipn struct {
	invoiceID string
	eventID   string
	status    string
	code      int // the extended body's event code, 0 for a standard body
	header    http.Header
	body      []byte
}

// receiver is an IPN endpoint on loopback. respond, when set, answers the
// n-th request (1-based); by default it answers 200.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []ipn
	respond func(w http.ResponseWriter, r *http.Request, n int)
	arrived chan ipn
}

func newReceiver(tb testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	rc := &receiver{respond: respond, arrived: make(chan ipn, 100_000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	in := parseIPN(body)
	in.header = r.Header.Clone()
	in.eventID = r.Header.Get(notify.EventIDHeader)
	rc.mu.Lock()
	rc.got = append(rc.got, in)
	n := len(rc.got)
	respond := rc.respond
	rc.mu.Unlock()
	if respond != nil {
		respond(w, r, n)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	rc.arrived <- in
}

// parseIPN reads the invoice id, status and event code of a body.
func parseIPN(body []byte) ipn {
	var ext notify.Extended
	var flat notify.IPN
	in := ipn{body: body}
	if json.Unmarshal(body, &ext) == nil && ext.Event.Code != 0 {
		in.invoiceID, in.status, in.code = ext.Data.ID, string(ext.Data.Status), int(ext.Event.Code)
	} else if json.Unmarshal(body, &flat) == nil {
		in.invoiceID, in.status = flat.ID, string(flat.Status)
	}
	return in
}

// received returns the requests so far, for one invoice when id is set.
func (rc *receiver) received(id string) []ipn {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []ipn
	for _, in := range rc.got {
		if id == "" || in.invoiceID == id {
			out = append(out, in)
		}
	}
	return out
}

// eventIDs returns the event ids of an invoice's outbox events that have
// an IPN delivery, in outbox order.
func (f *fixture) eventIDs(id string) []string {
	var out []string
	for _, d := range f.deliveries(id, store.ChannelIPN) {
		out = append(out, d.EventID)
	}
	return out
}

// firstArrivals returns the event ids in the order they first arrived.
func firstArrivals(got []ipn) []string {
	var out []string
	for _, in := range got {
		if !slices.Contains(out, in.eventID) {
			out = append(out, in.eventID)
		}
	}
	return out
}

// switchable is a receiver that can be taken down (connections refused)
// and brought back up on the same port.
type switchable struct {
	tb   testing.TB
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func newSwitchable(tb testing.TB, h http.Handler) *switchable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &switchable{tb: tb, addr: ln.Addr().String(), h: h}
	ln.Close() // down until up
	tb.Cleanup(s.down)
	return s
}

func (s *switchable) url(path string) string { return "http://" + s.addr + path }

func (s *switchable) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ln net.Listener
	var err error
	waitFor(s.tb, "the receiver's port to be free", func() bool {
		ln, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	s.srv = &http.Server{Handler: s.h}
	s.done = make(chan struct{})
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
}

func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		<-s.done
		s.srv = nil
	}
}

// attempts returns an invoice's attempts.
func (f *fixture) attempts(id string) []store.DeliveryAttempt {
	f.t.Helper()
	as, err := f.db.DeliveryAttempts(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func describe(ds []store.Delivery) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "[%d %s attempts=%d err=%q] ", d.Code, d.State, d.Attempts, d.LastError)
	}
	return b.String()
}
