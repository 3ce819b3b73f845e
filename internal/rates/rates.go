package rates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// Sentinel errors returned by Rate, matched with errors.Is.
var (
	// ErrUnknownCurrency means no provider has ever quoted the currency.
	ErrUnknownCurrency = errors.New("no provider quotes this currency")
	// ErrNoFreshRate means the currency was quoted, but every quote is older
	// than the staleness limit.
	ErrNoFreshRate = errors.New("no fresh rate for this currency")
)

// Defaults for the zero values of Config.
const (
	DefaultRefreshInterval = 60 * time.Second
	DefaultStaleAfter      = 10 * time.Minute
	DefaultFetchTimeout    = 15 * time.Second
)

// Config configures a Rates service.
type Config struct {
	// Providers are asked for rates on every refresh; at least one, each
	// with a distinct name.
	Providers []Provider
	// RefreshInterval is the time between two rounds of Run; zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// StaleAfter is how old a provider's answer may be and still be used;
	// zero means DefaultStaleAfter. It must exceed RefreshInterval.
	StaleAfter time.Duration
	// FetchTimeout bounds each provider's fetch; zero means
	// DefaultFetchTimeout, or RefreshInterval if that is shorter.
	FetchTimeout time.Duration
	// Clock returns the current time; nil means time.Now. It dates answers
	// and decides which are fresh.
	Clock func() time.Time
	// Logger receives fetch failures and recoveries; nil means
	// slog.Default().
	Logger *slog.Logger
}

// SourceStatus is what the service knows about one provider, for the
// dashboard and health checks.
type SourceStatus struct {
	// Name is the provider's name.
	Name string
	// LastAttempt is when the last fetch finished, successfully or not.
	LastAttempt time.Time
	// LastSuccess is when the provider last answered; zero if never.
	LastSuccess time.Time
	// LastError is the error of the last fetch, nil if it succeeded.
	LastError error
	// Currencies is the number of currencies in the last good answer.
	Currencies int
	// Fresh reports whether the last good answer is still used.
	Fresh bool
}

// Rates serves exchange rates from memory and refreshes them from its
// providers. Its methods are safe for concurrent use; readers never wait for
// a fetch.
type Rates struct {
	cfg     Config
	log     *slog.Logger
	running atomic.Bool
	rounds  atomic.Int64

	// mu serialises writers: it guards sources and the publication of view.
	mu      sync.Mutex
	sources []*source
	// view is an immutable snapshot that readers load without locking.
	view atomic.Pointer[view]
}

// source is the mutable state of one provider, guarded by Rates.mu.
type source struct {
	provider Provider
	status   SourceStatus
	rates    map[string]decimal.Decimal // last good answer
	busy     bool                       // a Fetch has not returned yet
}

// view is the published state: for each currency, the quotes of the
// providers that have answered for it.
type view struct {
	currencies map[string]*entry
	sources    []SourceStatus
}

// entry holds one currency's quotes, sorted by rate, and their median, which
// stays the answer as long as none of the quotes is stale (until "until").
type entry struct {
	quotes []quote
	median decimal.Decimal
	until  time.Time
}

// quote is one provider's rate for a currency and when it arrived.
type quote struct {
	rate decimal.Decimal
	at   time.Time
}

// New checks cfg, fills in its defaults and returns a service with no rates
// yet: call Refresh, then Run.
func New(cfg Config) (*Rates, error) {
	if len(cfg.Providers) == 0 {
		return nil, errors.New("rates: no providers configured")
	}
	if cfg.RefreshInterval < 0 || cfg.StaleAfter < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("rates: durations must not be negative")
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.StaleAfter <= cfg.RefreshInterval {
		return nil, fmt.Errorf("rates: staleness limit %s must exceed refresh interval %s", cfg.StaleAfter, cfg.RefreshInterval)
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = min(DefaultFetchTimeout, cfg.RefreshInterval)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	r := &Rates{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	seen := make(map[string]bool)
	for _, p := range cfg.Providers {
		if p == nil {
			return nil, errors.New("rates: nil provider")
		}
		if seen[p.Name()] {
			return nil, fmt.Errorf("rates: provider %s configured twice", p.Name())
		}
		seen[p.Name()] = true
		r.sources = append(r.sources, &source{provider: p, status: SourceStatus{Name: p.Name()}})
	}
	r.publish()
	return r, nil
}

// Rate returns the fiat-per-BTC rate for currency ("USD"): the median of the
// fresh quotes. It returns ErrUnknownCurrency if no provider has ever quoted
// the currency and ErrNoFreshRate if every quote is stale.
func (r *Rates) Rate(currency string) (decimal.Decimal, error) {
	code := strings.ToUpper(currency)
	e, ok := r.view.Load().currencies[code]
	if !ok {
		return decimal.Zero, fmt.Errorf("rate for %q: %w", currency, ErrUnknownCurrency)
	}
	rate, ok := r.rate(e, r.cfg.Clock())
	if !ok {
		return decimal.Zero, fmt.Errorf("rate for %q: %w", currency, ErrNoFreshRate)
	}
	return rate, nil
}

// rate returns the median of e's quotes that are fresh at now, and false if
// none is.
func (r *Rates) rate(e *entry, now time.Time) (decimal.Decimal, bool) {
	if !now.After(e.until) {
		return e.median, true // the common case: every quote is fresh
	}
	var buf [8]decimal.Decimal
	fresh := r.fresh(e.quotes, now, buf[:0])
	if len(fresh) == 0 {
		return decimal.Zero, false
	}
	return median(fresh), true
}

// All returns the current rate of every currency that has a fresh quote.
func (r *Rates) All() map[string]decimal.Decimal {
	v := r.view.Load()
	now := r.cfg.Clock()
	all := make(map[string]decimal.Decimal, len(v.currencies))
	for code, e := range v.currencies {
		if rate, ok := r.rate(e, now); ok {
			all[code] = rate
		}
	}
	return all
}

// Sources reports each provider's state, in configuration order.
func (r *Rates) Sources() []SourceStatus {
	v := r.view.Load()
	now := r.cfg.Clock()
	out := slices.Clone(v.sources)
	for i := range out {
		out[i].Fresh = !out[i].LastSuccess.IsZero() && r.isFresh(out[i].LastSuccess, now)
	}
	return out
}

// fresh appends to dst the rates of the quotes that are fresh at now,
// keeping their ascending order.
func (r *Rates) fresh(quotes []quote, now time.Time, dst []decimal.Decimal) []decimal.Decimal {
	for _, q := range quotes {
		if r.isFresh(q.at, now) {
			dst = append(dst, q.rate)
		}
	}
	return dst
}

// isFresh reports whether an answer that arrived at "at" may be used at now.
func (r *Rates) isFresh(at, now time.Time) bool {
	return now.Sub(at) <= r.cfg.StaleAfter
}

// Run refreshes the rates every RefreshInterval until ctx is done, then
// returns ctx's error. It fetches at once if no round has run yet. Only one
// Run may be active at a time.
func (r *Rates) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("rates: Run is already running")
	}
	defer r.running.Store(false)
	if r.rounds.Load() == 0 {
		r.refreshLogged(ctx)
	}
	ticker := time.NewTicker(r.cfg.RefreshInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			r.refreshLogged(ctx)
		}
	}
}

// refreshLogged runs one round for Run, which has no caller to report to.
func (r *Rates) refreshLogged(ctx context.Context) {
	if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("no rate provider answered", "err", err)
	}
}

// Refresh asks every provider once, concurrently, each under FetchTimeout,
// and returns when all have answered or timed out. A provider whose previous
// fetch has not returned yet is skipped. Each answer is published as soon as
// it arrives. Refresh returns an error only if no provider answered; the
// details of each failure are in Sources.
func (r *Rates) Refresh(ctx context.Context) error {
	r.rounds.Add(1)
	errs := make([]error, len(r.sources))
	var wg sync.WaitGroup
	for i := range r.sources {
		wg.Go(func() { errs[i] = r.fetch(ctx, i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("refresh rates: %w", errors.Join(errs...))
}

// fetchResult is one Fetch's outcome.
type fetchResult struct {
	rates map[string]decimal.Decimal
	err   error
}

// fetch runs one provider's Fetch under the timeout and records the outcome.
// The Fetch runs in its own goroutine so that one ignoring its context
// delays neither Refresh nor the next rounds, which skip it until it returns.
func (r *Rates) fetch(ctx context.Context, i int) error {
	s := r.sources[i]
	name := s.provider.Name()
	r.mu.Lock()
	if s.busy {
		r.mu.Unlock()
		err := fmt.Errorf("%s: previous fetch still running", name)
		r.record(i, nil, err)
		return err
	}
	s.busy = true
	r.mu.Unlock()

	fctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	done := make(chan fetchResult, 1)
	go func() {
		rates, err := s.provider.Fetch(fctx)
		r.mu.Lock()
		s.busy = false
		r.mu.Unlock()
		done <- fetchResult{rates, err}
	}()
	var res fetchResult
	select {
	case res = <-done:
	case <-fctx.Done():
		res.err = fmt.Errorf("%s: fetch abandoned: %w", name, fctx.Err())
	}
	if res.err != nil && ctx.Err() != nil {
		// The caller is shutting down: the provider did nothing wrong.
		return res.err
	}
	rates, err := checkRates(name, res)
	r.record(i, rates, err)
	return err
}

// checkRates validates a provider's answer: at least one rate, codes of
// three letters, every rate positive.
func checkRates(name string, res fetchResult) (map[string]decimal.Decimal, error) {
	if res.err != nil {
		return nil, res.err
	}
	if len(res.rates) == 0 {
		return nil, fmt.Errorf("%s: answered no rates", name)
	}
	rates := make(map[string]decimal.Decimal, len(res.rates))
	for code, rate := range res.rates {
		code = strings.ToUpper(code)
		if !validCode(code) {
			return nil, fmt.Errorf("%s: bad currency code %q", name, code)
		}
		if !rate.IsPositive() {
			return nil, fmt.Errorf("%s: %s: %w: %s", name, code, errBadRate, rate)
		}
		rates[code] = rate
	}
	return rates, nil
}

// record stores one fetch outcome for source i and publishes a new view.
// A failure keeps the previous good answer, which ages until it is stale.
func (r *Rates) record(i int, rates map[string]decimal.Decimal, err error) {
	now := r.cfg.Clock()
	r.mu.Lock()
	s := r.sources[i]
	hadError := s.status.LastError != nil
	s.status.LastAttempt = now
	s.status.LastError = err
	if err == nil {
		s.rates = rates
		s.status.LastSuccess = now
		s.status.Currencies = len(rates)
	}
	r.publish()
	r.mu.Unlock()

	switch {
	case err != nil:
		r.log.Warn("rate provider failed", "provider", s.status.Name, "err", err)
	case hadError:
		r.log.Info("rate provider recovered", "provider", s.status.Name, "currencies", len(rates))
	}
}

// publish builds a new view from the sources; r.mu must be held (or the
// service not yet shared).
func (r *Rates) publish() {
	v := &view{currencies: make(map[string]*entry), sources: make([]SourceStatus, len(r.sources))}
	for i, s := range r.sources {
		v.sources[i] = s.status
		for code, rate := range s.rates {
			e := v.currencies[code]
			if e == nil {
				e = &entry{}
				v.currencies[code] = e
			}
			e.quotes = append(e.quotes, quote{rate: rate, at: s.status.LastSuccess})
		}
	}
	for _, e := range v.currencies {
		slices.SortFunc(e.quotes, func(a, b quote) int { return a.rate.Cmp(b.rate) })
		rates := make([]decimal.Decimal, len(e.quotes))
		oldest := e.quotes[0].at
		for i, q := range e.quotes {
			rates[i] = q.rate
			if q.at.Before(oldest) {
				oldest = q.at
			}
		}
		e.median = median(rates)
		e.until = oldest.Add(r.cfg.StaleAfter)
	}
	r.view.Store(v)
}
