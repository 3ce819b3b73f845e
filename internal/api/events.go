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
// leaves the invoice in a state the stream considers final (notify.StreamEnds);
// a client that reconnects after that point is answered 204 No Content,
// which tells EventSource to stop.
//
// The events come from the event hub (notify.Hub, Config.Hub), which
// follows the outbox for every stream of the process. A stream the hub
// drops for falling behind closes its connection; its client reconnects
// with Last-Event-ID.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
)

// EventConfig tunes the invoice event stream (GET /events); zero fields
// take the defaults. How the hub reads the outbox and how far a stream
// may fall behind are the hub's (notify.HubConfig).
type EventConfig struct {
	// Ping is how often a stream gets a ": ping" comment line, so proxies
	// and clients keep an idle stream open (default 15 s).
	Ping time.Duration
	// MaxStreams caps the concurrent streams; beyond it a subscription is
	// answered 503 (default 10,000).
	MaxStreams int
	// WriteTimeout bounds each write to a client (default 10 s): a client
	// that does not read for that long loses its stream.
	WriteTimeout time.Duration
}

// The EventConfig defaults.
const (
	DefaultEventPing         = 15 * time.Second
	DefaultMaxEventStreams   = 10_000
	DefaultEventWriteTimeout = 10 * time.Second
)

func (c EventConfig) withDefaults() EventConfig {
	if c.Ping <= 0 {
		c.Ping = DefaultEventPing
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxEventStreams
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultEventWriteTimeout
	}
	return c
}

// EventHub follows the outbox for the event streams; *notify.Hub
// implements it.
type EventHub interface {
	// Subscribe registers for an invoice's events and returns once every
	// event of it committed from then on reaches the subscription, which
	// the caller closes. It fails with notify.ErrHubClosed once the hub
	// has closed.
	Subscribe(ctx context.Context, invoiceID string) (*notify.Subscription, error)
	// Backlog returns an invoice's events after position after, or when
	// after is negative its latest event alone.
	Backlog(ctx context.Context, invoiceID string, after int64) ([]*notify.Event, error)
}

var _ EventHub = (*notify.Hub)(nil)

// eventStore is what the event stream reads beyond Store. The API's Store
// must also implement it for GET /events to work; *store.DB does.
type eventStore interface {
	// InvoiceByToken loads the invoice of a resource token or fails with
	// store.ErrNotFound.
	InvoiceByToken(ctx context.Context, token string) (invoice.Invoice, error)
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

// eventBus serves GET /events.
type eventBus struct {
	srv   *Server
	cfg   EventConfig
	store eventStore // nil when the API's Store cannot stream
	hub   EventHub   // nil when the API has no hub

	streams   atomic.Int64
	closing   chan struct{}
	closeOnce sync.Once
}

func newEventBus(s *Server) *eventBus {
	b := &eventBus{srv: s, cfg: s.cfg.Events.withDefaults(), hub: s.cfg.Hub, closing: make(chan struct{})}
	if es, ok := s.cfg.Store.(eventStore); ok {
		b.store = es
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
	if b.hub == nil {
		WriteError(w, r, errors.New("event stream: the API has no event hub"))
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
		inv, err := b.srv.cfg.Store.GetInvoice(ctx, id)
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
	sub, err := b.hub.Subscribe(ctx, inv.ID)
	if errors.Is(err, notify.ErrHubClosed) {
		WriteError(w, r, bitpay.Unavailable())
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	defer sub.Close()
	backlog, err := b.hub.Backlog(ctx, inv.ID, resume)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if resume >= 0 && len(backlog) == 0 && notify.StreamEnds(inv) {
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
		case <-sub.Done():
			if errors.Is(sub.Err(), notify.ErrDropped) {
				// The client may not be reading at all: close the
				// connection (the write deadline makes the response's last
				// write fail) rather than keep it for another request.
				log.Debug("event stream dropped: the client is not reading")
				out.abort()
			}
			return
		case <-ping.C:
			out.comment("ping")
		case batch := <-sub.Events():
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
func (b *eventBus) appendEvents(out *sseWriter, batch []*notify.Event, view bitpay.View, filter eventFilter, all bool, last int64) (bool, int64) {
	ended := false
	for _, ev := range batch {
		if ev.Seq <= last {
			continue // already sent from the backlog or an earlier batch
		}
		last = ev.Seq
		if all || ev.Ends || filter.wants(ev.Code) {
			out.event(ev.Seq, "statechange", ev.Render(view, b.render))
		}
		ended = ev.Ends
	}
	return ended, last
}

// render is an event's data line in a view: its invoice as GET
// /invoices/:id renders it now.
func (b *eventBus) render(ev *notify.Event, view bitpay.View) []byte {
	s := b.srv
	j := bitpay.RenderInvoice(&ev.Invoice, view, s.cfg.PublicURL, s.cfg.Tip(), s.cfg.Clock())
	data, err := bitpay.Marshal(j)
	if err != nil {
		// An invoice that cannot be encoded is a bug in kassa.
		s.cfg.Log.Error("encode invoice event", "invoice", ev.Invoice.ID, "seq", ev.Seq, "err", err)
		data = []byte(`{"id":` + strconv.Quote(ev.Invoice.ID) + `}`)
	}
	return bytes.TrimRight(data, "\n")
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
