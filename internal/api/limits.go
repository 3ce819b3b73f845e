package api

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// Unlimited is a Config.InvoiceLimits that limits no store, for
// benchmarks and deployments that limit in front of kassa.
func Unlimited(string) merchant.Limits { return merchant.Limits{Off: true} }

// limitRates is l as the limiter's buckets.
func limitRates(l merchant.Limits) [3]rate {
	return [3]rate{{l.PerHour, time.Hour}, {l.PerMinute, time.Minute}, {l.PerSecond, time.Second}}
}

// Budgets draws invoice budgets that every node of a deployment shares;
// *store.DB implements it.
type Budgets interface {
	DrawInvoiceBudget(ctx context.Context, storeID string, take func(store.InvoiceBudget) (store.InvoiceBudget, bool)) (bool, error)
}

// The pairing-code guess limit: a client address whose claims name this
// many unknown pairing codes within the window gets 429 until the window
// lets it try again. A code has 7 characters from about 57, so an address
// would need aeons to find one; the limit keeps the database out of it.
const (
	PairingGuessLimit  = 10
	PairingGuessWindow = 10 * time.Minute
)

// limiterMaxKeys bounds each limiter's memory: beyond it, keys whose
// buckets are full again are dropped and, if that is not enough, arbitrary
// ones, so a flood of fresh keys cannot grow the map.
const limiterMaxKeys = 10000

// rate is a token bucket of n tokens refilling n per period; n <= 0 means
// no bucket.
type rate struct {
	n      int
	period time.Duration
}

// keyedLimiter is a set of token buckets per key, up to three per key. Each
// bucket is kept as the time it will be full again (the "theoretical
// arrival time" of the generic cell rate algorithm): taking a token moves
// that time one interval (period/n) later, and the bucket is empty when it
// lies a whole period ahead. This is exactly a token bucket, in integer
// nanoseconds, so a fake clock gives exact answers; a key whose times have
// all passed holds full buckets and can be forgotten without changing any
// answer.
type keyedLimiter struct {
	mu        sync.Mutex
	full      map[string][3]time.Time
	maxKeys   int
	lastSweep time.Time
}

func newKeyedLimiter(maxKeys int) *keyedLimiter {
	return &keyedLimiter{full: make(map[string][3]time.Time), maxKeys: maxKeys}
}

// take takes one token from each of key's buckets if every one has a
// token, and reports the wait until that would be so otherwise. With
// commit false it only looks.
func (l *keyedLimiter) take(key string, rs [3]rate, now time.Time, commit bool) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, wait := draw(l.full[key], rs, now)
	if wait > 0 || !commit {
		return wait == 0, wait
	}
	if _, known := l.full[key]; !known {
		l.makeRoom(now)
	}
	l.full[key] = next
	return true, 0
}

// draw takes one token from each of the buckets whose full-again times
// are cur, and returns their new times; or, when one of them is empty,
// the wait until none is.
func draw(cur [3]time.Time, rs [3]rate, now time.Time) (next [3]time.Time, wait time.Duration) {
	next = cur
	for i, r := range rs {
		if r.n <= 0 || r.period <= 0 {
			continue
		}
		interval := r.period / time.Duration(r.n)
		t := cur[i]
		if t.Before(now) {
			t = now
		}
		t = t.Add(interval)
		if over := t.Sub(now) - r.period; over > 0 {
			wait = max(wait, over)
		}
		next[i] = t
	}
	return next, wait
}

// makeRoom keeps the map under maxKeys before a new key goes in, and
// forgets idle keys once a minute so an idle server holds nothing.
func (l *keyedLimiter) makeRoom(now time.Time) {
	if len(l.full) < l.maxKeys && now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for k, ts := range l.full {
		if idle(ts, now) {
			delete(l.full, k)
		}
	}
	for k := range l.full {
		if len(l.full) < l.maxKeys {
			break
		}
		delete(l.full, k)
	}
}

// idle reports whether every bucket is full again at now.
func idle(ts [3]time.Time, now time.Time) bool {
	for _, t := range ts {
		if t.After(now) {
			return false
		}
	}
	return true
}

// len is the number of keys held, for tests.
func (l *keyedLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.full)
}

// invoiceLimiter limits invoice creation per store: in this process's
// memory, or in budgets every node shares.
type invoiceLimiter struct {
	limits  func(storeID string) merchant.Limits
	buckets *keyedLimiter
	shared  Budgets
}

// newInvoiceLimiter limits each store to limits(storeID); nil means
// merchant.DefaultLimits for every store. With shared set, the budgets
// live there instead of in memory.
func newInvoiceLimiter(limits func(storeID string) merchant.Limits, shared Budgets) *invoiceLimiter {
	if limits == nil {
		limits = func(string) merchant.Limits { return merchant.DefaultLimits }
	}
	return &invoiceLimiter{limits: limits, buckets: newKeyedLimiter(limiterMaxKeys), shared: shared}
}

// allow takes one invoice from the store's budget, or reports how long to
// wait for one.
func (l *invoiceLimiter) allow(ctx context.Context, storeID string, now time.Time) (bool, time.Duration, error) {
	lim := l.limits(storeID)
	if lim.Unlimited() {
		return true, 0, nil
	}
	rs := limitRates(lim)
	if l.shared == nil {
		ok, wait := l.buckets.take(storeID, rs, now, true)
		return ok, wait, nil
	}
	var wait time.Duration
	ok, err := l.shared.DrawInvoiceBudget(ctx, storeID, func(cur store.InvoiceBudget) (store.InvoiceBudget, bool) {
		var next [3]time.Time
		next, wait = draw(cur, rs, now)
		return next, wait == 0
	})
	return ok, wait, err
}

// guessLimiter limits failed pairing-code claims per client address.
type guessLimiter struct {
	buckets *keyedLimiter
}

func newGuessLimiter() *guessLimiter {
	return &guessLimiter{buckets: newKeyedLimiter(limiterMaxKeys)}
}

var guessRates = [3]rate{{PairingGuessLimit, PairingGuessWindow}}

// blocked reports how long addr must wait before its next claim, zero if
// it may claim now.
func (g *guessLimiter) blocked(addr string, now time.Time) time.Duration {
	_, wait := g.buckets.take(addr, guessRates, now, false)
	return wait
}

// failed counts a claim of an unknown code against addr.
func (g *guessLimiter) failed(addr string, now time.Time) {
	g.buckets.take(addr, guessRates, now, true)
}

// allowInvoice charges one invoice to the store, or answers 429 with
// Retry-After (or the error that kept the budget from being read) and
// reports false.
func (s *Server) allowInvoice(w http.ResponseWriter, r *http.Request, storeID string) bool {
	ok, wait, err := s.limits.allow(r.Context(), storeID, s.cfg.Clock())
	if err != nil {
		WriteError(w, r, err)
		return false
	}
	if !ok {
		writeRateLimited(w, r, wait)
	}
	return ok
}

// pairingBlocked answers 429 and reports true when the client address has
// guessed too many pairing codes lately.
func (s *Server) pairingBlocked(w http.ResponseWriter, r *http.Request) bool {
	wait := s.guesses.blocked(clientAddr(r), s.cfg.Clock())
	if wait > 0 {
		writeRateLimited(w, r, wait)
	}
	return wait > 0
}

// pairingFailed counts a claim of an unknown pairing code against the
// client address.
func (s *Server) pairingFailed(r *http.Request) {
	s.guesses.failed(clientAddr(r), s.cfg.Clock())
}

// writeRateLimited answers 429 in the error envelope with Retry-After in
// whole seconds, rounded up so a client that waits that long gets through.
func writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
	WriteError(w, r, bitpay.RateLimited())
}

// retryAfterSeconds rounds wait up to whole seconds, at least one.
func retryAfterSeconds(wait time.Duration) int64 {
	return max(1, int64((wait+time.Second-1)/time.Second))
}

// clientAddr keys a request by the address it came from: the connection's
// host, never a forwarding header a client could set. IPv6 addresses are
// keyed by their /64, which one host commonly owns whole. Behind a reverse
// proxy every client shares the proxy's address, and so its budget.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
