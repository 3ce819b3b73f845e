package notify

// This file is the event hub, the live side of notify: where the Service
// delivers the outbox's events to merchants' endpoints and inboxes, the
// Hub hands them to the readers this process has open right now, the
// streams of BitPay's event bus (package api's GET /events, which the
// hosted checkout follows too).
//
// One hub goroutine per process follows the whole outbox by sequence number
// (woken by the store's commits, and polling for other processes' and
// nodes' commits) while some subscription is open, and hands each
// invoice's new events to its subscriptions. A subscription that falls
// Buffer batches behind is dropped rather than allowed to hold the hub or
// grow; its reader starts again from the Backlog.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// HubStore is what the event hub reads; *store.DB implements it.
type HubStore interface {
	// Committed returns a channel closed after this process's next commit.
	Committed() <-chan struct{}
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

var _ HubStore = (*store.DB)(nil)

// HubConfig wires a Hub. Store is required; every other field has a
// default.
type HubConfig struct {
	Store HubStore
	// Poll is how often the hub reads the outbox when this process has not
	// committed anything, to see other processes' and nodes' commits
	// (default 1 s).
	Poll time.Duration
	// Buffer is how many batches of events (one per invoice per outbox
	// read) a subscription may have waiting before the hub drops it
	// (default 32).
	Buffer int
	Log    *slog.Logger
}

// The defaults of HubConfig.
const (
	DefaultHubPoll   = time.Second
	DefaultHubBuffer = 32
)

// The reasons the hub ends a subscription (Subscription.Err).
var (
	// ErrDropped ends a subscription whose reader fell Buffer batches
	// behind.
	ErrDropped = errors.New("event hub: the subscription fell too far behind")
	// ErrHubClosed ends the subscriptions of a hub whose Run ended, and
	// refuses new ones.
	ErrHubClosed = errors.New("event hub: closed")
)

// The hub's reading of the outbox.
const (
	// hubPage bounds one read of the outbox.
	hubPage = 500
	// backlogPage bounds one read of an invoice's missed events.
	backlogPage = 500
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

// Hub follows the outbox for every subscription of this process. Its
// goroutine runs only while some subscription is open.
type Hub struct {
	cfg HubConfig

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{} // by invoice id
	run    *hubRun                               // nil when not running
	closed bool
	// kick wakes the hub when the last subscription leaves, so it stops.
	kick chan struct{}
}

// hubRun is one run of the hub goroutine; ready is closed once it knows
// where the outbox ends (err set if it could not), stopped when it ends.
type hubRun struct {
	ready   chan struct{}
	err     error
	stopped chan struct{}
}

// NewHub returns a Hub.
func NewHub(cfg HubConfig) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: HubConfig.Store is required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultHubPoll
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultHubBuffer
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Hub{cfg: cfg, subs: map[string]map[*Subscription]struct{}{}, kick: make(chan struct{}, 1)}, nil
}

// Run keeps the hub open until ctx ends, then closes it: every
// subscription ends with ErrHubClosed, new ones are refused, and Run
// returns once the hub has stopped reading the outbox, so the store may
// close after it. A hub works without Run; it is then never closed.
func (h *Hub) Run(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	h.closed = true
	for _, set := range h.subs {
		for sub := range set {
			h.unlink(sub)
			sub.end(ErrHubClosed)
		}
	}
	run := h.run
	h.wake()
	h.mu.Unlock()
	if run != nil {
		<-run.stopped
	}
	return nil
}

// Subscription is one reader of an invoice's events.
type Subscription struct {
	hub       *Hub
	invoiceID string
	// ch carries batches of the invoice's new events, in order.
	ch chan []*Event
	// done is closed, err set, when the hub ends the subscription.
	done chan struct{}
	err  error
}

// Events carries batches of the invoice's events committed after Subscribe
// returned, in outbox order. A batch may repeat events the Backlog read
// after Subscribe returned.
func (s *Subscription) Events() <-chan []*Event { return s.ch }

// Done is closed when the hub ends the subscription; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns ErrDropped or ErrHubClosed once Done is closed, nil before.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription; closing it again, or after the hub ended
// it, is harmless.
func (s *Subscription) Close() { s.hub.remove(s) }

// end records why the hub ended the subscription; h.mu must be held and
// s already unlinked.
func (s *Subscription) end(err error) {
	s.err = err
	close(s.done)
}

// Subscribe registers for an invoice's events, starting the hub if it is
// not running, and returns once the hub follows the outbox: every event
// of the invoice committed after Subscribe returns reaches the
// subscription. Subscribe before reading the Backlog: an event committed
// in between then reaches the reader twice instead of never.
func (h *Hub) Subscribe(ctx context.Context, invoiceID string) (*Subscription, error) {
	sub := &Subscription{hub: h, invoiceID: invoiceID, ch: make(chan []*Event, h.cfg.Buffer), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrHubClosed
	}
	set := h.subs[invoiceID]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.subs[invoiceID] = set
	}
	set[sub] = struct{}{}
	run := h.run
	if run == nil {
		run = &hubRun{ready: make(chan struct{}), stopped: make(chan struct{})}
		h.run = run
		go h.loop(run)
	}
	h.mu.Unlock()
	select {
	case <-run.ready:
	case <-ctx.Done():
		h.remove(sub)
		return nil, ctx.Err()
	}
	if run.err != nil {
		h.remove(sub)
		return nil, run.err
	}
	select {
	case <-sub.done:
		// The hub closed while it started.
		return nil, sub.err
	default:
	}
	return sub, nil
}

// remove unregisters a subscription; removing it twice is harmless.
func (h *Hub) remove(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unlink(sub)
	if len(h.subs) == 0 {
		h.wake()
	}
}

// wake kicks the hub goroutine; h.mu must be held.
func (h *Hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// unlink removes sub from the map; h.mu must be held.
func (h *Hub) unlink(sub *Subscription) {
	set := h.subs[sub.invoiceID]
	delete(set, sub)
	if len(set) == 0 {
		delete(h.subs, sub.invoiceID)
	}
}

// Backlog returns the invoice's events a reader starts with: every event
// after position after, or when after is negative the latest alone (the
// invoice's current state), none when the invoice has no event.
func (h *Hub) Backlog(ctx context.Context, invoiceID string, after int64) ([]*Event, error) {
	var raw []store.OutboxEvent
	if after < 0 {
		e, err := h.cfg.Store.LatestInvoiceEvent(ctx, invoiceID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		raw = append(raw, e)
	} else {
		for {
			page, err := h.cfg.Store.InvoiceOutboxAfter(ctx, invoiceID, after, backlogPage)
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
	out := make([]*Event, 0, len(raw))
	for _, e := range raw {
		ev, err := decodeEvent(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Event is an invoice's outbox event, decoded once for every subscription
// that gets it.
type Event struct {
	Seq  int64 // the outbox position
	Code invoice.Code
	// Invoice is the event's snapshot.
	Invoice invoice.Invoice
	// Ends is StreamEnds of the snapshot: nothing follows this event.
	Ends bool

	once [bitpay.ViewMerchant + 1]sync.Once
	data [bitpay.ViewMerchant + 1][]byte
}

// Render returns the event in a view as render writes it, calling render
// once per view: every reader of the event in that view gets the bytes of
// the first.
func (e *Event) Render(view bitpay.View, render func(*Event, bitpay.View) []byte) []byte {
	e.once[view].Do(func() { e.data[view] = render(e, view) })
	return e.data[view]
}

func decodeEvent(e store.OutboxEvent) (*Event, error) {
	ev := &Event{Seq: e.Seq, Code: invoice.Code(e.Code)}
	if err := json.Unmarshal(e.Snapshot, &ev.Invoice); err != nil {
		return nil, fmt.Errorf("decode snapshot of event %d of invoice %s: %w", e.Seq, e.SubjectID, err)
	}
	ev.Ends = StreamEnds(&ev.Invoice)
	return ev, nil
}

// StreamEnds reports whether an invoice in this state has nothing more to
// follow: complete, invalid or declined, or expired without any payment.
// A stream ends after such an event, which it sends whatever events it
// was asked for.
func StreamEnds(inv *invoice.Invoice) bool {
	switch inv.Status {
	case invoice.StatusComplete, invoice.StatusInvalid, invoice.StatusDeclined:
		return true
	case invoice.StatusExpired:
		return inv.Received() == 0
	}
	return false
}

// loop is the hub goroutine: it reads the outbox after every local commit
// and every poll interval, until no subscription is left.
func (h *Hub) loop(run *hubRun) {
	defer close(run.stopped)
	wake := h.cfg.Store.Committed()
	f := &follower{gaps: map[int64]time.Time{}}
	err := h.query(func(ctx context.Context) error {
		seqs, err := h.cfg.Store.LatestOutboxSeqs(ctx, startWindow)
		if err != nil {
			return err
		}
		f.start(seqs, time.Now())
		return nil
	})
	if err != nil {
		h.cfg.Log.Error("event hub cannot read the outbox", "err", err)
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
	tick := time.NewTicker(h.cfg.Poll)
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
		wake = h.cfg.Store.Committed()
		h.read(f)
	}
}

// query runs fn with the hub's query timeout.
func (h *Hub) query(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), hubQueryTimeout)
	defer cancel()
	return fn(ctx)
}

// read takes the outbox's new events and the awaited missing ones and
// hands them to the subscriptions.
func (h *Hub) read(f *follower) {
	for {
		var evs []store.OutboxEvent
		err := h.query(func(ctx context.Context) (err error) {
			evs, err = h.cfg.Store.OutboxAfter(ctx, f.cursor, hubPage)
			return err
		})
		if err != nil {
			h.cfg.Log.Warn("event hub: read outbox", "after", f.cursor, "err", err)
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
		evs, err = h.cfg.Store.OutboxSeqs(ctx, missing)
		return err
	})
	if err != nil {
		h.cfg.Log.Warn("event hub: read outbox positions", "count", len(missing), "err", err)
		return
	}
	for _, e := range evs {
		delete(f.gaps, e.Seq)
	}
	h.dispatch(evs)
}

// dispatch decodes the invoice events some subscription follows and
// queues each invoice's as one batch on its subscriptions, dropping a
// subscription whose queue is full. Events of other subjects are not the
// hub's.
func (h *Hub) dispatch(evs []store.OutboxEvent) {
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
	batches := map[string][]*Event{}
	for _, e := range wanted {
		ev, err := decodeEvent(e)
		if err != nil {
			h.cfg.Log.Error("event hub: skip event", "err", err)
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
				sub.end(ErrDropped)
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
