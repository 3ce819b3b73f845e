// Package notify delivers kassa's notifications: IPNs (BitPay's webhooks,
// spec §4) to an invoice's notificationURL and status mails to its
// notificationEmail, durably, from the outbox the payment path fills; and,
// live, the outbox's invoice events to the event streams open right now
// (Hub).
//
// # From event to delivery
//
// Every invoice change commits its events to the store's outbox in the
// same transaction. The Planner reads events not yet planned and, by the
// invoice's settings at the event (WantIPN, WantEmail), inserts a delivery
// per channel, marking the event planned in that transaction. Workers of
// the Service claim due deliveries under a lease (several processes or
// nodes share the table), send them, and record each attempt with the
// state it leaves: delivered, pending for a retry, or failed. An invoice's
// deliveries on a channel go out one at a time in event order; different
// invoices go out in parallel, at most Config.Workers at once and at most
// Config.HostLimit to one host, so a slow or failing endpoint holds up
// only its own invoices.
//
// # IPNs
//
// An IPN is a POST of the event's body (RenderIPN) with Content-Type and
// Accept application/json and X-Kassa-Event-Id, the event's id, the same on
// every attempt, so a receiver can drop duplicates: delivery is at least
// once. Any 2xx answer delivers it. Anything else, a redirect included
// (redirects are not followed), a refused or failed connection or no
// answer within Config.Timeout is retried with exponential backoff and
// jitter until Config.RetryWindow has passed since the event was planned;
// then the delivery fails. At most Config.MaxResponse bytes of an answer
// are read; a longer answer's connection is closed. Connections go through
// netguard, which refuses private and local addresses at connect time
// unless Config.AllowPrivate.
//
// # Signed IPNs
//
// BitPay's IPNs are unsigned (seed 003). A store may turn on signing
// (merchant.Store.SignIPN, `kassa ipn sign`): its IPNs then carry
// x-signature, base64 of HMAC-SHA256 of the body keyed with the value of
// one of the store's API tokens, a secret the merchant's integration
// already holds: the token that created the invoice, so a store with
// several integrations has each verify with its own token; for an invoice
// made without one (or whose token was revoked) the store's oldest active
// merchant token, else its oldest active pos token (SigningToken). A store
// with neither cannot sign, and its IPNs fail with that error until it
// has one.
//
// # The event hub
//
// A Hub follows the outbox for the streams of BitPay's event bus (package
// api serves them at GET /events; the hosted checkout follows one):
// readers subscribe to an invoice, read its backlog, then get its new
// events in batches as they commit, here or on another node. Nothing is
// stored or retried: a reader that falls behind is dropped and starts
// again from the backlog. The hub reads the outbox only while some
// subscription is open (hub.go).
package notify

import (
	"context"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/ctxwait"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/netguard"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
)

// Store is the persistence notify needs; *store.DB implements it.
type Store interface {
	// PlanDeliveries plans unplanned outbox events with plan, inserting
	// their deliveries and marking them planned in one transaction.
	PlanDeliveries(ctx context.Context, now time.Time, window time.Duration, limit int, plan store.PlanFunc) (store.PlanResult, error)
	// ClaimDeliveries leases due deliveries that are first in line for
	// their invoice, with their events.
	ClaimDeliveries(ctx context.Context, o store.ClaimOptions) ([]store.Claimed, error)
	// RecordAttempts stores attempts and their deliveries' new states in
	// one transaction.
	RecordAttempts(ctx context.Context, results []store.AttemptResult) error
	// ReleaseDeliveries ends leases without recording an attempt.
	ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error
	// NextDeliveryDue returns the earliest retry after now on a channel.
	NextDeliveryDue(ctx context.Context, channel string, now time.Time) (time.Time, bool, error)
	// PendingDeliveries counts a channel's pending deliveries.
	PendingDeliveries(ctx context.Context, channel string) (int, error)
	// GetStore loads a merchant store (for its SignIPN setting, and its
	// name in refund mails).
	GetStore(ctx context.Context, id string) (merchant.Store, error)
	// GetInvoice loads an invoice (a refund's, for whom its mails go to)
	// or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// ListTokens returns a store's API tokens, oldest first (SigningToken
	// picks the one that signs an IPN).
	ListTokens(ctx context.Context, storeID string) ([]auth.Token, error)
	// Committed returns a channel closed after this process's next commit.
	Committed() <-chan struct{}
}

// Mailer sends a status mail about an invoice; package notify/email
// implements it over SMTP. inv is the invoice at the event, with the
// status the event reports. A nil error means the mail was accepted for
// delivery; any error is retried like a failed IPN.
type Mailer interface {
	Mail(ctx context.Context, to string, inv invoice.Invoice, ev store.OutboxEvent) error
	// MailRefund sends a mail about a refund event to its buyer or its
	// merchant, with the same error contract.
	MailRefund(ctx context.Context, m email.RefundMail) error
}

// Config wires a Service. Store is required; every other field has a
// default.
type Config struct {
	Store Store
	// Settings is the node's cache of stores' settings (whether a store
	// signs its IPNs); nil makes one over Store.
	Settings *merchant.Settings
	// PublicURL is the base URL invoice urls in IPN bodies are built on.
	PublicURL string
	// AllowPrivate lets IPNs reach loopback, private and link-local
	// addresses over http (KASSA_IPN_ALLOW_PRIVATE): for development only.
	AllowPrivate bool
	// RetryWindow is how long a delivery is retried after its event is
	// planned (KASSA_IPN_RETRY_WINDOW, default 72 h). Events older than
	// the window when first planned are not sent at all.
	RetryWindow time.Duration
	// RetryBase is the delay before the first retry (default 10 s); each
	// further retry waits twice as long, up to RetryMax (default 1 h), and
	// every delay is jittered down by up to half.
	RetryBase, RetryMax time.Duration
	// Timeout bounds one IPN request, connection to last byte read
	// (default 10 s).
	Timeout time.Duration
	// MaxResponse is how much of an IPN answer is read (default 64 KiB).
	MaxResponse int64
	// Workers is how many IPNs are in flight at once (default 16), and
	// HostLimit how many of them may go to one host (default 8).
	Workers, HostLimit int
	// Mailer sends status mails; while it is nil, mail deliveries wait.
	Mailer Mailer
	// MailWorkers is how many mails are sent at once (default 2).
	MailWorkers int
	// Poll is how often the store is checked for work this process was not
	// woken for: other processes' events, leases that ran out (default 1 s).
	Poll time.Duration
	// Lease is how long a claimed delivery stays leased (default
	// 2×Timeout + 30 s): longer than an attempt and its recording take.
	Lease time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Jitter returns a random number in [0, n) (default math/rand/v2).
	Jitter func(n int64) int64
	// Transport sends the IPNs (default a netguard transport honouring
	// AllowPrivate). Tests leave it nil.
	Transport http.RoundTripper
	// UserAgent is sent with every IPN (default "kassa-ipn").
	UserAgent string
	// Plans reports whether this process plans notifications (turns new
	// outbox events into deliveries); nil means always. Several nodes on
	// one database let only the leader plan, so new events are read once,
	// not by every node racing for the planning lock; every node still
	// delivers.
	Plans func() bool
	Log   *slog.Logger
}

// The defaults of Config.
const (
	DefaultRetryWindow = 72 * time.Hour
	DefaultRetryBase   = 10 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultTimeout     = 10 * time.Second
	DefaultMaxResponse = 64 << 10
	DefaultWorkers     = 16
	DefaultHostLimit   = 8
	DefaultMailWorkers = 2
	DefaultPoll        = time.Second
)

// EventIDHeader carries the event's stable id on every IPN attempt.
const EventIDHeader = "X-Kassa-Event-Id"

// SignatureHeader carries the HMAC of a signed IPN.
const SignatureHeader = "X-Signature"

// Service plans and delivers notifications until its Run ends.
type Service struct {
	cfg     Config
	planner *Planner
	client  *http.Client
	owner   string
	running atomic.Bool

	tokens tokenCache

	// noMailer is set once the missing mailer has been logged.
	noMailer bool
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is required")
	}
	if cfg.Settings == nil {
		cfg.Settings = merchant.NewSettings(cfg.Store.GetStore, 0)
	}
	if cfg.RetryWindow <= 0 {
		cfg.RetryWindow = DefaultRetryWindow
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryBase)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = DefaultMaxResponse
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.HostLimit <= 0 {
		cfg.HostLimit = DefaultHostLimit
	}
	if cfg.MailWorkers <= 0 {
		cfg.MailWorkers = DefaultMailWorkers
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2*cfg.Timeout + 30*time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Int64N
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kassa-ipn"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Transport == nil {
		cfg.Transport = netguard.NewTransport(cfg.AllowPrivate, cfg.Timeout)
	}
	s := &Service{
		cfg:     cfg,
		planner: NewPlanner(cfg.Store, cfg.RetryWindow, cfg.Clock, cfg.Log),
		client: &http.Client{
			Transport: cfg.Transport,
			Timeout:   cfg.Timeout,
			// Redirects are not followed: the answer is the 3xx, a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		owner:  newOwner(),
		tokens: tokenCache{entries: map[string]tokenEntry{}},
	}
	return s, nil
}

// newOwner names this Service's leases: unique across processes and nodes.
func newOwner() string {
	var b [8]byte
	_, _ = cryptorand.Read(b[:])
	return "notify-" + hex.EncodeToString(b[:])
}

// Planner turns unplanned outbox events into deliveries.
type Planner struct {
	store  Store
	window time.Duration
	clock  func() time.Time
	log    *slog.Logger
}

// NewPlanner returns a Planner; window is the retry window (events older
// than it are not sent).
func NewPlanner(st Store, window time.Duration, clock func() time.Time, log *slog.Logger) *Planner {
	return &Planner{store: st, window: window, clock: clock, log: log}
}

// planBatch is how many events one planning transaction takes.
const planBatch = 256

// Plan plans every event waiting, in batches, and returns how many
// deliveries it queued per channel.
func (p *Planner) Plan(ctx context.Context) (map[string]int, error) {
	total := map[string]int{}
	for {
		now := p.clock()
		stale := 0
		res, err := p.store.PlanDeliveries(ctx, now, p.window, planBatch,
			func(ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error) {
				if now.Sub(ev.CreatedAt) > p.window {
					stale++
					return nil, nil
				}
				return p.plan(ctx, ev, earlier)
			})
		if err != nil {
			return total, err
		}
		for ch, n := range res.Deliveries {
			total[ch] += n
		}
		if stale > 0 {
			p.log.Info("notifications not sent: events older than the retry window", "events", stale, "window", p.window)
		}
		if res.Events < planBatch {
			return total, nil
		}
	}
}

// plan decides one event's deliveries by the rules of its subject; an
// event of a subject kassa does not know is logged and not sent.
func (p *Planner) plan(ctx context.Context, ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error) {
	sub, err := subjectOf(ev)
	if err != nil {
		p.log.Warn("notification not sent", "subject", ev.Subject, "id", ev.SubjectID, "err", err)
		return nil, nil
	}
	return sub.plan(ctx, p, ev, earlier)
}

// Run plans and delivers until ctx ends, then stops its workers, records
// what they finished, releases what they did not, and returns. It wakes on
// every commit of this process and polls every Config.Poll for other
// processes' work. Run may be called once.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("notify: Run called twice")
	}
	defer s.closeIdle()
	results := make(chan store.AttemptResult, 4*s.cfg.Workers)
	var recorder sync.WaitGroup
	recorder.Go(func() { s.record(results) })

	workCtx, stopWork := context.WithCancel(context.Background())
	ipn := newLane(store.ChannelIPN, s.cfg.Workers, s.cfg.HostLimit)
	mail := newLane(store.ChannelEmail, s.cfg.MailWorkers, s.cfg.MailWorkers)
	var workers sync.WaitGroup
	for range ipn.workers {
		workers.Go(func() { s.work(workCtx, ipn, results, s.sendIPN) })
	}
	if s.cfg.Mailer != nil {
		for range mail.workers {
			workers.Go(func() { s.work(workCtx, mail, results, s.sendMail) })
		}
	}

	s.loop(ctx, ipn, mail)

	// Stop: in-flight attempts are abandoned (the receiver may have got
	// them; delivery is at least once) and their deliveries released.
	close(ipn.jobs)
	close(mail.jobs)
	stopWork()
	workers.Wait()
	close(results)
	recorder.Wait()
	return nil
}

// wakeGap is the least time between two plans that commits woke: an
// idle dispatcher plans at once, a busy one batches what commits in
// wakeGap.
const wakeGap = 10 * time.Millisecond

// loop is the dispatcher: plan, claim for free workers, sleep until
// woken by a commit, a worker finishing, the next retry or the poll.
func (s *Service) loop(ctx context.Context, ipn, mail *lane) {
	lanes := []*lane{ipn}
	if s.cfg.Mailer != nil {
		lanes = append(lanes, mail)
	} else {
		s.warnNoMailer(ctx)
	}
	var planned time.Time
	for {
		wake := s.cfg.Store.Committed()
		planned = time.Now() // real time: the pacing spares real CPU, whatever Config.Clock says
		var n map[string]int
		if s.cfg.Plans == nil || s.cfg.Plans() {
			var err error
			if n, err = s.planner.Plan(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Log.Error("plan notifications", "err", err)
			}
		}
		if n[store.ChannelEmail] > 0 {
			s.warnNoMailer(ctx)
		}
		for _, l := range lanes {
			l.reap()
			s.dispatch(ctx, l)
		}
		timer := time.NewTimer(s.sleep(ctx, lanes))
		select {
		case <-ctx.Done():
		case <-wake:
			// Commits in quick succession are planned together: a
			// burst of invoice creations (each waking every node of a
			// cluster) costs one plan per wakeGap, not one per commit.
			if d := wakeGap - time.Since(planned); d > 0 {
				ctxwait.Sleep(ctx, d)
			}
		case <-timer.C:
		case h := <-ipn.done:
			ipn.finish(h)
		case h := <-mail.done:
			mail.finish(h)
		}
		timer.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// warnNoMailer logs once that mails wait for a mailer.
func (s *Service) warnNoMailer(ctx context.Context) {
	if s.cfg.Mailer != nil || s.noMailer {
		return
	}
	n, err := s.cfg.Store.PendingDeliveries(ctx, store.ChannelEmail)
	if err != nil || n == 0 {
		return
	}
	s.noMailer = true
	s.cfg.Log.Warn("status mails are waiting: no mailer is configured (set KASSA_SMTP_URL); they are kept and sent once one is",
		"pending", n)
}

// sleep returns how long the dispatcher may sleep: until the next retry
// falls due, at most Config.Poll.
func (s *Service) sleep(ctx context.Context, lanes []*lane) time.Duration {
	now := s.cfg.Clock()
	d := s.cfg.Poll
	for _, l := range lanes {
		next, ok, err := s.cfg.Store.NextDeliveryDue(ctx, l.channel, now)
		if err != nil || !ok {
			continue
		}
		d = min(d, max(next.Sub(now), time.Millisecond))
	}
	return d
}

// dispatch claims work for a lane's free workers and hands it over.
func (s *Service) dispatch(ctx context.Context, l *lane) {
	for {
		free := l.workers - l.inFlight
		if free <= 0 || ctx.Err() != nil {
			return
		}
		cs, err := s.cfg.Store.ClaimDeliveries(ctx, store.ClaimOptions{
			Channel: l.channel, Owner: s.owner, Now: s.cfg.Clock(), Lease: s.cfg.Lease, Limit: free,
			SkipHosts: l.busyHosts(),
		})
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Error("claim notifications", "channel", l.channel, "err", err)
			}
			return
		}
		// A claim may bring more for one host than its limit allows; the
		// excess goes back at once, and that host is skipped from now on.
		var excess []int64
		for _, c := range cs {
			if c.Host != "" && l.hosts[c.Host] >= l.hostLimit {
				excess = append(excess, c.ID)
				continue
			}
			l.start(c.Host)
			l.jobs <- c
		}
		if len(excess) > 0 {
			if err := s.cfg.Store.ReleaseDeliveries(ctx, s.owner, excess); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("release notifications over the host limit", "err", err)
			}
		}
		if len(cs) < free {
			return
		}
	}
}

// work runs a lane's jobs until the lane closes.
func (s *Service) work(ctx context.Context, l *lane, results chan<- store.AttemptResult,
	send func(context.Context, store.Claimed) attempt) {
	for c := range l.jobs {
		start := s.cfg.Clock()
		t0 := time.Now()
		a := send(ctx, c)
		latency := time.Since(t0)
		if a.err != nil && ctx.Err() != nil {
			// Stopping: the attempt was cut short; try it again later.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if rerr := s.cfg.Store.ReleaseDeliveries(rctx, s.owner, []int64{c.ID}); rerr != nil {
				s.cfg.Log.Warn("release notification", "delivery", c.ID, "err", rerr)
			}
			cancel()
		} else {
			results <- s.outcome(c, start, latency, a)
		}
		l.done <- c.Host
	}
}

// outcome turns an attempt into the delivery's next state.
func (s *Service) outcome(c store.Claimed, at time.Time, latency time.Duration, a attempt) store.AttemptResult {
	r := store.AttemptResult{DeliveryID: c.ID, Owner: s.owner, At: at, StatusCode: a.status, Latency: latency}
	if a.err == nil {
		r.State = store.DeliveryDelivered
		return r
	}
	r.Error = truncate(a.err.Error(), 500)
	next := at.Add(s.backoff(c.Attempts + 1))
	switch {
	case a.permanent:
		r.State = store.DeliveryFailed
	case next.After(c.Deadline):
		r.State = store.DeliveryFailed
	default:
		r.State = store.DeliveryPending
		r.NextAttemptAt = next
	}
	log := s.cfg.Log.With("invoice", c.SubjectID, "event", c.EventID, "channel", c.Channel, "attempt", c.Attempts+1, "err", r.Error)
	if r.State == store.DeliveryFailed {
		log.Warn("notification failed; giving up")
	} else {
		log.Info("notification failed; will retry", "retry_at", next)
	}
	return r
}

// backoff returns the delay after the n-th failed attempt: RetryBase
// doubled n-1 times, at most RetryMax, minus a random part of up to half.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	half := int64(d / 2)
	if half > 0 {
		d -= time.Duration(s.cfg.Jitter(half + 1))
	}
	return d
}

// record stores attempt results in batches until results closes.
func (s *Service) record(results <-chan store.AttemptResult) {
	batch := make([]store.AttemptResult, 0, 256)
	for r := range results {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-results:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		var err error
		for try := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = s.cfg.Store.RecordAttempts(ctx, batch)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if err != nil {
			// The leases run out and the deliveries are tried again.
			s.cfg.Log.Error("record notification attempts", "attempts", len(batch), "err", err)
		}
	}
}

// closeIdle drops the IPN client's idle connections.
func (s *Service) closeIdle() { s.client.CloseIdleConnections() }

// signature returns the x-signature of a body under a key.
func signature(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the x-signature value of a signed IPN body: base64 of
// HMAC-SHA256 of the body keyed with the token value. Receivers compute
// it over the raw body and compare in constant time.
func Sign(body []byte, token string) string { return signature(body, token) }

// tokenCache keeps stores' API tokens for a few seconds, so a burst of
// signed IPNs does not load them once per attempt.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	tokens  []auth.Token // the store's tokens, oldest first
	fetched time.Time
}

// tokenCacheTTL is how long a store's token list is reused.
const tokenCacheTTL = 5 * time.Second

// clockSkew bounds how far the clocks of the nodes sharing a database
// may disagree; a token list fetched less than this after an invoice was
// created may predate the token that created it.
const clockSkew = time.Minute

// signingKey returns the key to sign an IPN of a store's invoice with, ""
// when the store does not sign. createdBy and created are the invoice's
// CreatedBy and CreatedAt: a creating token missing from a cached list
// that may predate it sends the list to be loaded again.
func (s *Service) signingKey(ctx context.Context, storeID, createdBy string, created time.Time) (string, error) {
	st, err := s.cfg.Settings.Get(ctx, storeID)
	if err != nil {
		return "", fmt.Errorf("load store %s: %w", storeID, err)
	}
	if !st.SignIPN {
		return "", nil
	}
	s.tokens.mu.Lock()
	e, ok := s.tokens.entries[storeID]
	s.tokens.mu.Unlock()
	if ok && time.Since(e.fetched) < tokenCacheTTL {
		if tok, found := SigningToken(e.tokens, createdBy); found || createdBy == "" || e.fetched.After(created.Add(clockSkew)) {
			return signingValue(tok)
		}
	}
	e = tokenEntry{fetched: time.Now()}
	if e.tokens, err = s.cfg.Store.ListTokens(ctx, storeID); err != nil {
		return "", err
	}
	s.tokens.mu.Lock()
	s.tokens.entries[storeID] = e
	s.tokens.mu.Unlock()
	tok, _ := SigningToken(e.tokens, createdBy)
	return signingValue(tok)
}

// errNoSigningToken is why a signing store's IPNs fail when it has no
// token to sign with.
var errNoSigningToken = errors.New("the store signs IPNs but has no active merchant or pos token to sign with")

func signingValue(tok auth.Token) (string, error) {
	if tok.Value == "" {
		return "", errNoSigningToken
	}
	return tok.Value, nil
}

// SigningToken picks, from a store's tokens (oldest first), the one whose
// value keys a signed IPN of an invoice created by the token with Ref
// createdBy: that token while it is usable, so each integration verifies
// its own invoices' IPNs with the token it holds; otherwise (an invoice
// made without a token, or before kassa recorded its creator, or whose
// token was revoked since) the store's oldest usable merchant token, else
// its oldest usable pos token. found reports that the creating token is
// in the list, usable or not; tok is the zero Token when none can sign.
func SigningToken(tokens []auth.Token, createdBy string) (tok auth.Token, found bool) {
	var fallback auth.Token
	for _, t := range tokens {
		if createdBy != "" && t.Ref() == createdBy {
			found = true
			if t.Usable() && (t.Facade == auth.FacadeMerchant || t.Facade == auth.FacadePOS) {
				return t, true
			}
		}
		if !t.Usable() {
			continue
		}
		if t.Facade == auth.FacadeMerchant && fallback.Facade != auth.FacadeMerchant ||
			t.Facade == auth.FacadePOS && fallback.Value == "" {
			fallback = t
		}
	}
	return fallback, found
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
