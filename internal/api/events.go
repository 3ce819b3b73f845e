package api

// This file serves BitPay's invoice event bus (spec §3.1, seed 002):
// GET /events, a Server-Sent Events stream of one invoice's state changes,
// for holders of the invoice's resource token (the pass GET
// /invoices/:id/events hands out) and, in the public view, for the hosted
// checkout page.
//
// A stream answers text/event-stream: first "event: connect" with
// {"invoiceId": …}, then each event of the invoice's outbox as "id: <outbox
// seq>", "event: statechange", "data: <the invoice JSON at that event>". A
// client resumes after the id of the last event it saw (the Last-Event-ID
// header EventSource sends on reconnection, or ?lastEventId=); without one
// it gets the invoice's current state once (its latest event) and then the
// events that follow, without gaps. The stream ends after an event that
// leaves the invoice in a state the stream considers final (streamEnds);
// a client that reconnects after that point is answered 204 No Content,
// which tells EventSource to stop.
//
// One hub goroutine per process follows the whole outbox by sequence number
// (woken by the store's commits, and polling for other processes' and
// nodes' commits) and hands each invoice's new events to its streams. A
// stream that falls Buffer batches behind is dropped rather than allowed to
// hold the hub or grow; its client reconnects with Last-Event-ID.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// EventConfig tunes the invoice event stream (GET /events); zero fields
// take the defaults.
type EventConfig struct {
	// Ping is how often a stream gets a ": ping" comment line, so proxies
	// and clients keep an idle stream open (default 15 s).
	Ping time.Duration
	// Poll is how often the hub reads the outbox when this process has not
	// committed anything, to see other processes' and nodes' commits
	// (default 1 s).
	Poll time.Duration
	// MaxStreams caps the concurrent streams; beyond it a subscription is
	// answered 503 (default 10,000).
	MaxStreams int
	// Buffer is how many batches of events (one per invoice per outbox
	// read) a stream may have waiting before the hub drops it (default 32).
	Buffer int
	// WriteTimeout bounds each write to a client (default 10 s): a client
	// that does not read for that long loses its stream.
	WriteTimeout time.Duration
}

// The EventConfig defaults.
const (
	DefaultEventPing         = 15 * time.Second
	DefaultEventPoll         = time.Second
	DefaultMaxEventStreams   = 10_000
	DefaultEventBuffer       = 32
	DefaultEventWriteTimeout = 10 * time.Second
)

func (c EventConfig) withDefaults() EventConfig {
	if c.Ping <= 0 {
		c.Ping = DefaultEventPing
	}
	if c.Poll <= 0 {
		c.Poll = DefaultEventPoll
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxEventStreams
	}
	if c.Buffer <= 0 {
		c.Buffer = DefaultEventBuffer
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultEventWriteTimeout
	}
	return c
}

// eventStore is what the event stream reads. The API's Store must also
// implement it for GET /events to work; *store.DB does.
type eventStore interface {
	// Committed returns a channel closed after this process's next commit.
	Committed() <-chan struct{}
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// InvoiceByToken loads the invoice of a resource token or fails with
	// store.ErrNotFound.
	InvoiceByToken(ctx context.Context, token string) (invoice.Invoice, error)
	// LatestOutboxSeqs returns the n highest outbox positions, ascending.
	LatestOutboxSeqs(ctx context.Context, n int) ([]int64, error)
	// OutboxAfter returns up to limit events after a position, in order.
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.OutboxEvent, error)
	// OutboxSeqs returns the committed events at the given positions.
	OutboxSeqs(ctx context.Context, seqs []int64) ([]store.OutboxEvent, error)
	// InvoiceOutboxAfter returns up to limit of an invoice's events after a
	// position, in order.
	InvoiceOutboxAfter(ctx context.Context, invoiceID string, seq int64, limit int) ([]store.OutboxEvent, error)
	// LatestInvoiceEvent returns an invoice's latest event or fails with
	// store.ErrNotFound.
	LatestInvoiceEvent(ctx context.Context, invoiceID string) (store.OutboxEvent, error)
}

var _ eventStore = (*store.DB)(nil)

// The event classes a subscription may ask for with events[] (the pass
// offers "payment" and "confirmation"); without events[] a stream carries
// every event.
var eventClasses = map[string][]invoice.Code{
	"payment": {invoice.CodeReceivedPayment, invoice.CodePaidInFull, invoice.CodePaidAfterExpiry,
		invoice.CodeExpiredPartial, invoice.CodeAdjustmentComplete, invoice.CodePaymentReversed},
	"confirmation": {invoice.CodeConfirmed, invoice.CodeCompleted, invoice.CodeFailedToConfirm,
		invoice.CodeConfirmationsLost},
}

// eventFilter is the set of codes a stream sends; nil sends every event.
type eventFilter map[invoice.Code]bool

func (f eventFilter) wants(c invoice.Code) bool { return f == nil || f[c] }

// parseEventFilter reads events[]=a&events[]=b (also events=a,b).
func parseEventFilter(q url.Values) (eventFilter, error) {
	var f eventFilter
	for _, key := range []string{"events[]", "events"} {
		for _, v := range q[key] {
			for name := range strings.SplitSeq(v, ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				codes, ok := eventClasses[name]
				if !ok {
					return nil, bitpay.FieldError("events", "unknown event "+strconv.Quote(name)+"; known: payment, confirmation")
				}
				if f == nil {
					f = eventFilter{}
				}
				for _, c := range codes {
					f[c] = true
				}
			}
		}
	}
	return f, nil
}

// streamEnds reports whether a stream ends after an event that leaves the
// invoice in this state: complete, invalid or declined, or expired without
// any payment. Such an event is sent whatever the stream's events[] ask.
func streamEnds(inv *invoice.Invoice) bool {
	switch inv.Status {
	case invoice.StatusComplete, invoice.StatusInvalid, invoice.StatusDeclined:
		return true
	case invoice.StatusExpired:
		return inv.Received() == 0
	}
	return false
}

// eventBus serves GET /events.
type eventBus struct {
	srv   *Server
	cfg   EventConfig
	store eventStore // nil when the API's Store cannot stream
	hub   *eventHub

	streams   atomic.Int64
	closing   chan struct{}
	closeOnce sync.Once
}

func newEventBus(s *Server) *eventBus {
	b := &eventBus{srv: s, cfg: s.cfg.Events.withDefaults(), closing: make(chan struct{})}
	if es, ok := s.cfg.Store.(eventStore); ok {
		b.store = es
		b.hub = newEventHub(es, b.cfg.Poll, s.cfg.Log)
	}
	return b
}

// CloseEventStreams ends every open event stream and refuses new ones, for
// a graceful shutdown (http.Server.Shutdown waits for open streams):
// register it with http.Server.RegisterOnShutdown.
func (s *Server) CloseEventStreams() {
	s.bus.closeOnce.Do(func() { close(s.bus.closing) })
}

// EventStreams returns how many event streams are open.
func (s *Server) EventStreams() int { return int(s.bus.streams.Load()) }

// tooManyStreams is the 503 beyond EventConfig.MaxStreams.
func tooManyStreams() *bitpay.Error {
	return &bitpay.Error{Status: http.StatusServiceUnavailable, Code: bitpay.CodeGeneric,
		Msg: "too many event streams open, retry later"}
}

// ServeHTTP serves GET /events?token=T (the invoice resource token) or
// ?invoiceId=ID (the public view), with action=subscribe (the default) or
// unsubscribe, events[] and a resume point.
func (b *eventBus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	action := q.Get("action")
	if action != "" && action != "subscribe" && action != "unsubscribe" {
		WriteError(w, r, bitpay.FieldError("action", "action must be subscribe or unsubscribe"))
		return
	}
	filter, err := parseEventFilter(q)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if b.store == nil {
		WriteError(w, r, fmt.Errorf("event stream: the store %T cannot stream events", b.srv.cfg.Store))
		return
	}
	inv, view, err := b.access(r.Context(), q)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if action == "unsubscribe" {
		// A stream ends when its client closes it; there is nothing to
		// undo, but BitPay's pass lists the action.
		bitpay.WriteData(w, http.StatusOK, "", map[string]string{"action": "unsubscribe", "invoiceId": inv.ID})
		return
	}
	resume, err := resumePoint(r, q)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	b.stream(w, r, &inv, view, filter, resume)
}

// access resolves the invoice a request may follow and the view it gets:
// the invoice-token view for the resource token, the public view for a
// bare invoice id.
func (b *eventBus) access(ctx context.Context, q url.Values) (invoice.Invoice, bitpay.View, error) {
	token, id := q.Get("token"), q.Get("invoiceId")
	switch {
	case token != "":
		inv, err := b.store.InvoiceByToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !(auth.Token{Value: inv.Token}).Matches(token)) {
			return invoice.Invoice{}, 0, bitpay.Unauthorized("Invalid token")
		}
		if err != nil {
			return invoice.Invoice{}, 0, err
		}
		if id != "" && id != inv.ID {
			return invoice.Invoice{}, 0, bitpay.NotFound()
		}
		return inv, bitpay.ViewPOS, nil
	case id != "":
		inv, err := b.store.GetInvoice(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return invoice.Invoice{}, 0, bitpay.NotFound()
		}
		return inv, bitpay.ViewPublic, err
	}
	return invoice.Invoice{}, 0, bitpay.MissingParam("token")
}

// resumePoint reads the Last-Event-ID header, else the lastEventId query
// parameter; -1 means neither.
func resumePoint(r *http.Request, q url.Values) (int64, error) {
	v, param := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, param = q.Get("lastEventId"), "lastEventId"
	}
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, bitpay.FieldError(param, "the last event id must be an event id this stream sent")
	}
	return n, nil
}

// stream answers one subscription: the backlog, then live events until
// the invoice reaches a final state, the client leaves, the stream falls
// too far behind or the server shuts down.
func (b *eventBus) stream(w http.ResponseWriter, r *http.Request, inv *invoice.Invoice, view bitpay.View, filter eventFilter, resume int64) {
	ctx := r.Context()
	log := Logger(ctx).With("invoice", inv.ID)
	if n := b.streams.Add(1); n > int64(b.cfg.MaxStreams) {
		b.streams.Add(-1)
		WriteError(w, r, tooManyStreams())
		return
	}
	defer b.streams.Add(-1)
	select {
	case <-b.closing:
		WriteError(w, r, bitpay.Unavailable())
		return
	default:
	}

	// Subscribe before reading the backlog: an event committed in between
	// then reaches the stream twice (and is sent once) instead of never.
	sub := &subscriber{invoiceID: inv.ID, ch: make(chan []*busEvent, b.cfg.Buffer), dropped: make(chan struct{})}
	if err := b.hub.add(ctx, sub); err != nil {
		WriteError(w, r, err)
		return
	}
	defer b.hub.remove(sub)
	backlog, err := b.backlog(ctx, inv.ID, resume)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if resume >= 0 && len(backlog) == 0 && streamEnds(inv) {
		// Nothing after the client's last event and nothing to come:
		// EventSource stops reconnecting on a 204.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}

	setStreamHeaders(w.Header())
	out := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: b.cfg.WriteTimeout}
	// A stream outlives any read deadline the server sets for requests.
	_ = out.rc.SetReadDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)

	connect, err := bitpay.Marshal(map[string]string{"invoiceId": inv.ID})
	if err != nil {
		log.Error("encode connect event", "err", err)
		return
	}
	out.event(0, "connect", connect)
	last := max(resume, 0)
	// Without a resume point the latest event is the current state: it is
	// sent whatever events[] asks.
	all := resume < 0
	ended, last := b.appendEvents(out, backlog, view, filter, all, last)
	if err := out.flush(); err != nil || ended {
		return
	}

	ping := time.NewTicker(b.cfg.Ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.closing:
			return
		case <-sub.dropped:
			// The client may not be reading at all: close the connection
			// (the write deadline makes the response's last write fail)
			// rather than keep it for another request.
			log.Debug("event stream dropped: the client is not reading")
			out.abort()
			return
		case <-ping.C:
			out.comment("ping")
		case batch := <-sub.ch:
			ended, last = b.appendEvents(out, batch, view, filter, false, last)
		}
		if err := out.flush(); err != nil {
			log.Debug("event stream write failed", "err", err)
			return
		}
		if ended {
			return
		}
	}
}

// setStreamHeaders sets an event stream's headers: not cached, not
// buffered by a proxy (nginx reads X-Accel-Buffering).
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
}

// appendEvents appends the events of a batch above last that the stream sends (all
// of them when all is set) to out, and reports whether the stream ends
// after them and the last position seen.
func (b *eventBus) appendEvents(out *sseWriter, batch []*busEvent, view bitpay.View, filter eventFilter, all bool, last int64) (bool, int64) {
	ended := false
	for _, ev := range batch {
		if ev.seq <= last {
			continue // already sent from the backlog or an earlier batch
		}
		last = ev.seq
		if all || ev.ends || filter.wants(ev.code) {
			out.event(ev.seq, "statechange", ev.render(view, b.srv))
		}
		ended = ev.ends
	}
	return ended, last
}

// backlogPage bounds one read of an invoice's missed events.
const backlogPage = 500

// backlog returns the events a new stream starts with: every event after
// resume, or without one (resume < 0) the latest.
func (b *eventBus) backlog(ctx context.Context, invoiceID string, resume int64) ([]*busEvent, error) {
	var raw []store.OutboxEvent
	if resume < 0 {
		e, err := b.store.LatestInvoiceEvent(ctx, invoiceID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		raw = append(raw, e)
	} else {
		for after := resume; ; {
			page, err := b.store.InvoiceOutboxAfter(ctx, invoiceID, after, backlogPage)
			if err != nil {
				return nil, err
			}
			raw = append(raw, page...)
			if len(page) < backlogPage {
				break
			}
			after = page[len(page)-1].Seq
		}
	}
	out := make([]*busEvent, 0, len(raw))
	for _, e := range raw {
		ev, err := decodeEvent(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// busEvent is an outbox event decoded once for every stream that sends it.
type busEvent struct {
	seq  int64
	code invoice.Code
	inv  invoice.Invoice // the snapshot
	ends bool

	once [bitpay.ViewMerchant + 1]sync.Once
	data [bitpay.ViewMerchant + 1][]byte
}

func decodeEvent(e store.OutboxEvent) (*busEvent, error) {
	ev := &busEvent{seq: e.Seq, code: e.Code}
	if err := json.Unmarshal(e.Snapshot, &ev.inv); err != nil {
		return nil, fmt.Errorf("decode snapshot of event %d of invoice %s: %w", e.Seq, e.SubjectID, err)
	}
	ev.ends = streamEnds(&ev.inv)
	return ev, nil
}

// render returns the event's data line in a view, encoding it once.
func (ev *busEvent) render(view bitpay.View, s *Server) []byte {
	ev.once[view].Do(func() {
		j := bitpay.RenderInvoice(&ev.inv, view, s.cfg.PublicURL, s.cfg.Tip(), s.cfg.Clock())
		b, err := bitpay.Marshal(j)
		if err != nil {
			// An invoice that cannot be encoded is a bug in kassa.
			s.cfg.Log.Error("encode invoice event", "invoice", ev.inv.ID, "seq", ev.seq, "err", err)
			b = []byte(`{"id":` + strconv.Quote(ev.inv.ID) + `}`)
		}
		ev.data[view] = bytes.TrimRight(b, "\n")
	})
	return ev.data[view]
}

// sseWriter buffers Server-Sent Events and writes them with a deadline.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
}

// event appends an event; id 0 sends none.
func (s *sseWriter) event(id int64, name string, data []byte) {
	if id > 0 {
		s.buf.WriteString("id: ")
		s.buf.WriteString(strconv.FormatInt(id, 10))
		s.buf.WriteByte('\n')
	}
	s.buf.WriteString("event: ")
	s.buf.WriteString(name)
	s.buf.WriteString("\ndata: ")
	s.buf.Write(data) // JSON: no raw line breaks
	s.buf.WriteString("\n\n")
}

// comment appends a comment line, which clients ignore.
func (s *sseWriter) comment(text string) {
	s.buf.WriteString(": ")
	s.buf.WriteString(text)
	s.buf.WriteString("\n\n")
}

// flush writes what was appended and pushes it to the client. A client
// that takes longer than the timeout to accept it fails the write.
func (s *sseWriter) flush() error {
	if s.buf.Len() == 0 {
		return nil
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// abort makes every further write fail, so the server closes the
// connection instead of finishing the response.
func (s *sseWriter) abort() { _ = s.rc.SetWriteDeadline(time.Now()) }

// subscriber is one stream as the hub sees it.
type subscriber struct {
	invoiceID string
	// ch carries batches of the invoice's new events, in order.
	ch chan []*busEvent
	// dropped is closed when the hub gives up on the stream because ch
	// was full.
	dropped chan struct{}
}

// The hub's reading of the outbox.
const (
	// hubPage bounds one read of the outbox.
	hubPage = 500
	// hubQueryTimeout bounds one outbox query.
	hubQueryTimeout = 10 * time.Second
	// startWindow is how many of the latest positions a starting hub
	// checks for numbers that may still be in flight.
	startWindow = 256
	// gapTimeout is how long a missing position is awaited: long enough
	// for any transaction that took it to commit, after which it was
	// rolled back.
	gapTimeout = 30 * time.Second
	// gapRecheck is the least time between two reads of missing positions.
	gapRecheck = 200 * time.Millisecond
	// maxGaps bounds the missing positions awaited; the oldest go first.
	maxGaps = 1024
)

// eventHub follows the outbox for every stream of this process. It runs
// only while some stream is open.
type eventHub struct {
	store eventStore
	poll  time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{} // by invoice id
	run  *hubRun                             // nil when not running
	// kick wakes the hub when the last stream leaves, so it stops.
	kick chan struct{}
}

// hubRun is one run of the hub goroutine; ready is closed once it knows
// where the outbox ends (err set if it could not).
type hubRun struct {
	ready chan struct{}
	err   error
}

func newEventHub(es eventStore, poll time.Duration, log *slog.Logger) *eventHub {
	return &eventHub{store: es, poll: poll, log: log, subs: map[string]map[*subscriber]struct{}{},
		kick: make(chan struct{}, 1)}
}

// add registers a stream, starting the hub if it is not running, and
// returns once the hub follows the outbox: every event committed after
// add returns reaches the stream.
func (h *eventHub) add(ctx context.Context, sub *subscriber) error {
	h.mu.Lock()
	set := h.subs[sub.invoiceID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[sub.invoiceID] = set
	}
	set[sub] = struct{}{}
	run := h.run
	if run == nil {
		run = &hubRun{ready: make(chan struct{})}
		h.run = run
		go h.loop(run)
	}
	h.mu.Unlock()
	select {
	case <-run.ready:
	case <-ctx.Done():
		h.remove(sub)
		return ctx.Err()
	}
	if run.err != nil {
		h.remove(sub)
		return run.err
	}
	return nil
}

// remove unregisters a stream; removing it twice is harmless.
func (h *eventHub) remove(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unlink(sub)
	if len(h.subs) == 0 {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// unlink removes sub from the map; h.mu must be held.
func (h *eventHub) unlink(sub *subscriber) {
	set := h.subs[sub.invoiceID]
	delete(set, sub)
	if len(set) == 0 {
		delete(h.subs, sub.invoiceID)
	}
}

// loop is the hub goroutine: it reads the outbox after every local commit
// and every poll interval, until no stream is left.
func (h *eventHub) loop(run *hubRun) {
	wake := h.store.Committed()
	f := &follower{gaps: map[int64]time.Time{}}
	err := h.query(func(ctx context.Context) error {
		seqs, err := h.store.LatestOutboxSeqs(ctx, startWindow)
		if err != nil {
			return err
		}
		f.start(seqs, time.Now())
		return nil
	})
	if err != nil {
		h.log.Error("event hub cannot read the outbox", "err", err)
		h.mu.Lock()
		if h.run == run {
			h.run = nil
		}
		h.mu.Unlock()
		run.err = fmt.Errorf("event hub: %w", err)
		close(run.ready)
		return
	}
	close(run.ready)
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	for {
		select {
		case <-wake:
		case <-tick.C:
		case <-h.kick:
		}
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.run = nil
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		wake = h.store.Committed()
		h.read(f)
	}
}

// query runs fn with the hub's query timeout.
func (h *eventHub) query(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), hubQueryTimeout)
	defer cancel()
	return fn(ctx)
}

// read takes the outbox's new events and the awaited missing ones and
// hands them to the streams.
func (h *eventHub) read(f *follower) {
	for {
		var evs []store.OutboxEvent
		err := h.query(func(ctx context.Context) (err error) {
			evs, err = h.store.OutboxAfter(ctx, f.cursor, hubPage)
			return err
		})
		if err != nil {
			h.log.Warn("event hub: read outbox", "after", f.cursor, "err", err)
			return
		}
		now := time.Now()
		for _, e := range evs {
			f.see(e.Seq, now)
		}
		h.dispatch(evs)
		if len(evs) < hubPage {
			break
		}
	}
	now := time.Now()
	missing := f.due(now)
	if len(missing) == 0 {
		return
	}
	var evs []store.OutboxEvent
	err := h.query(func(ctx context.Context) (err error) {
		evs, err = h.store.OutboxSeqs(ctx, missing)
		return err
	})
	if err != nil {
		h.log.Warn("event hub: read outbox positions", "count", len(missing), "err", err)
		return
	}
	for _, e := range evs {
		delete(f.gaps, e.Seq)
	}
	h.dispatch(evs)
}

// dispatch decodes the events some stream follows and queues each
// invoice's as one batch on its streams, dropping a stream whose queue is
// full.
func (h *eventHub) dispatch(evs []store.OutboxEvent) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	var wanted []store.OutboxEvent
	for _, e := range evs {
		if e.Subject == store.SubjectInvoice && len(h.subs[e.SubjectID]) > 0 {
			wanted = append(wanted, e)
		}
	}
	h.mu.Unlock()
	if len(wanted) == 0 {
		return
	}
	batches := map[string][]*busEvent{}
	for _, e := range wanted {
		ev, err := decodeEvent(e)
		if err != nil {
			h.log.Error("event hub: skip event", "err", err)
			continue
		}
		batches[e.SubjectID] = append(batches[e.SubjectID], ev)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, batch := range batches {
		for sub := range h.subs[id] {
			select {
			case sub.ch <- batch:
			default:
				h.unlink(sub)
				close(sub.dropped)
			}
		}
	}
}

// follower is the hub's position in the outbox: every event up to cursor
// has been read, except the positions in gaps, which were missing when
// read past (on PostgreSQL a transaction still committing, or one rolled
// back) and are read again until they appear or gapTimeout passes.
type follower struct {
	cursor      int64
	gaps        map[int64]time.Time // position → when it was found missing
	lastRecheck time.Time
}

// start places the follower after the latest positions seqs (ascending),
// awaiting the numbers missing among them.
func (f *follower) start(seqs []int64, now time.Time) {
	if len(seqs) == 0 {
		return
	}
	f.cursor = seqs[0]
	for _, s := range seqs[1:] {
		f.see(s, now)
	}
}

// see moves the cursor to seq, awaiting any number skipped on the way.
func (f *follower) see(seq int64, now time.Time) {
	if seq <= f.cursor {
		return
	}
	for s := max(f.cursor+1, seq-maxGaps); s < seq; s++ {
		f.gaps[s] = now
	}
	f.cursor = seq
	if len(f.gaps) > maxGaps {
		keys := slices.Sorted(func(yield func(int64) bool) {
			for k := range f.gaps {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys[:len(keys)-maxGaps] {
			delete(f.gaps, k)
		}
	}
}

// due forgets positions awaited longer than gapTimeout and returns the
// others when it is time to read them again (nil otherwise).
func (f *follower) due(now time.Time) []int64 {
	if len(f.gaps) == 0 || now.Sub(f.lastRecheck) < gapRecheck {
		return nil
	}
	f.lastRecheck = now
	var out []int64
	for s, at := range f.gaps {
		if now.Sub(at) > gapTimeout {
			delete(f.gaps, s)
			continue
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
