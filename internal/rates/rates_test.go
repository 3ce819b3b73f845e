package rates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// fakeClock is a settable clock for the staleness rules.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeProvider answers with whatever the test last set.
type fakeProvider struct {
	name string

	mu    sync.Mutex
	rates map[string]decimal.Decimal
	err   error
	calls int
}

func newFake(name string, rates map[string]string) *fakeProvider {
	p := &fakeProvider{name: name}
	p.set(rates)
	return p
}

func (p *fakeProvider) Name() string { return p.name }

func (p *fakeProvider) Fetch(context.Context) (map[string]decimal.Decimal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return nil, p.err
	}
	out := make(map[string]decimal.Decimal, len(p.rates))
	for k, v := range p.rates {
		out[k] = v
	}
	return out, nil
}

// set makes the provider answer with rates from now on.
func (p *fakeProvider) set(rates map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = nil
	p.rates = make(map[string]decimal.Decimal, len(rates))
	for k, v := range rates {
		p.rates[k] = decimal.RequireFromString(v)
	}
}

// fail makes the provider fail from now on.
func (p *fakeProvider) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// blockingProvider signals when a fetch starts and answers only when
// released (one send per fetch, or close for all); if honourCtx is false it ignores its context, like a broken
// client without timeouts.
type blockingProvider struct {
	name      string
	honourCtx bool
	started   chan struct{}
	release   chan struct{}
}

func newBlocking(name string, honourCtx bool) *blockingProvider {
	return &blockingProvider{name: name, honourCtx: honourCtx, started: make(chan struct{}, 8), release: make(chan struct{}, 8)}
}

func (p *blockingProvider) Name() string { return p.name }

func (p *blockingProvider) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	p.started <- struct{}{}
	if p.honourCtx {
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	} else {
		<-p.release
	}
	return map[string]decimal.Decimal{"USD": decimal.NewFromInt(1)}, nil
}

// newRates builds a service over providers with a fake clock and a logger
// that writes to the returned buffer.
func newRates(t *testing.T, clock *fakeClock, providers ...Provider) (*Rates, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	r, err := New(Config{
		Providers:    providers,
		Clock:        clock.Now,
		FetchTimeout: time.Minute,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, logs
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustRate(t *testing.T, r *Rates, currency string) decimal.Decimal {
	t.Helper()
	rate, err := r.Rate(currency)
	if err != nil {
		t.Fatalf("Rate(%s): %v", currency, err)
	}
	return rate
}

func assertRate(t *testing.T, r *Rates, currency, want string) {
	t.Helper()
	if got := mustRate(t, r, currency); !got.Equal(decimal.RequireFromString(want)) {
		t.Errorf("Rate(%s) = %s, want %s", currency, got, want)
	}
}

func TestRateMedian(t *testing.T) {
	tests := []struct {
		name  string
		rates []string
		want  string
	}{
		{"one source", []string{"50000.5"}, "50000.5"},
		{"two sources: mean", []string{"50000", "50001"}, "50000.5"},
		{"two sources: mean rounded to 8 places", []string{"50000.123456789", "50000.123456788"}, "50000.12345679"},
		{"two sources: mean exact below 8 places", []string{"0.00000001", "0.00000002"}, "0.00000002"},
		{"three sources: middle", []string{"50500", "49000", "51000"}, "50500"},
		{"three sources: outlier ignored", []string{"50000", "50010", "1"}, "50000"},
		{"four sources: mean of middle two", []string{"51000", "49000", "50000", "50003"}, "50001.5"},
		{"four sources: equal middle", []string{"10", "20", "20", "90"}, "20"},
		{"five sources", []string{"5", "1", "4", "2", "3"}, "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var providers []Provider
			for i, rate := range tc.rates {
				providers = append(providers, newFake(fmt.Sprintf("p%d", i), map[string]string{"USD": rate}))
			}
			r, _ := newRates(t, newFakeClock(), providers...)
			if err := r.Refresh(t.Context()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			assertRate(t, r, "USD", tc.want)
			assertRate(t, r, "usd", tc.want)
			if got := r.All()["USD"]; !got.Equal(decimal.RequireFromString(tc.want)) {
				t.Errorf("All()[USD] = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRatePerCurrencySources(t *testing.T) {
	// Only kraken quotes JPY; both quote USD.
	kraken := newFake("kraken", map[string]string{"USD": "100", "JPY": "15000"})
	bitstamp := newFake("bitstamp", map[string]string{"USD": "102"})
	r, _ := newRates(t, newFakeClock(), kraken, bitstamp)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertRate(t, r, "USD", "101")
	assertRate(t, r, "JPY", "15000")
	if _, err := r.Rate("CHF"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("Rate(CHF) err = %v, want ErrUnknownCurrency", err)
	}
	all := r.All()
	if len(all) != 2 {
		t.Errorf("All() = %v, want USD and JPY", all)
	}
}

func TestStaleSourceIgnored(t *testing.T) {
	clock := newFakeClock()
	a := newFake("a", map[string]string{"USD": "100"})
	b := newFake("b", map[string]string{"USD": "200"})
	c := newFake("c", map[string]string{"USD": "300"})
	r, _ := newRates(t, clock, a, b, c)
	start := clock.Now()
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertRate(t, r, "USD", "200")

	// c goes down; its last answer is 6 minutes old and still used.
	clock.Advance(6 * time.Minute)
	a.set(map[string]string{"USD": "110"})
	b.set(map[string]string{"USD": "210"})
	c.fail(errors.New("connection refused"))
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh with one failing provider: %v", err)
	}
	assertRate(t, r, "USD", "210")

	// 11 minutes after c's last answer it is stale: median of a and b.
	clock.Advance(5 * time.Minute)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertRate(t, r, "USD", "160")

	sources := r.Sources()
	if len(sources) != 3 || sources[2].Name != "c" {
		t.Fatalf("Sources() = %+v, want a, b, c", sources)
	}
	sc := sources[2]
	if sc.Fresh || !sc.LastSuccess.Equal(start) || sc.LastError == nil || !strings.Contains(sc.LastError.Error(), "connection refused") {
		t.Errorf("Sources()[c] = %+v, want stale, last success at start, connection refused", sc)
	}
	if !sc.LastAttempt.Equal(clock.Now()) {
		t.Errorf("Sources()[c].LastAttempt = %v, want %v", sc.LastAttempt, clock.Now())
	}
	if sa := sources[0]; !sa.Fresh || sa.LastError != nil || sa.Currencies != 1 || !sa.LastSuccess.Equal(clock.Now()) {
		t.Errorf("Sources()[a] = %+v, want fresh, no error, one currency", sa)
	}

	// c comes back and counts again.
	c.set(map[string]string{"USD": "310"})
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertRate(t, r, "USD", "210")
}

func TestAllStale(t *testing.T) {
	clock := newFakeClock()
	a := newFake("a", map[string]string{"USD": "100", "EUR": "90"})
	b := newFake("b", map[string]string{"USD": "102"})
	r, _ := newRates(t, clock, a, b)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Exactly at the limit the rates are still used.
	clock.Advance(DefaultStaleAfter)
	assertRate(t, r, "USD", "101")

	clock.Advance(time.Nanosecond)
	for _, code := range []string{"USD", "EUR"} {
		if rate, err := r.Rate(code); !errors.Is(err, ErrNoFreshRate) {
			t.Errorf("Rate(%s) = %s, %v; want ErrNoFreshRate", code, rate, err)
		}
	}
	if _, err := r.Rate("GBP"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("Rate(GBP) err = %v, want ErrUnknownCurrency", err)
	}
	if all := r.All(); len(all) != 0 {
		t.Errorf("All() = %v, want empty", all)
	}
	for _, s := range r.Sources() {
		if s.Fresh {
			t.Errorf("source %s reported fresh", s.Name)
		}
	}

	// Every provider failing keeps the rates stale and Refresh reports it.
	a.fail(errors.New("HTTP 500"))
	b.fail(errors.New("HTTP 502"))
	err := r.Refresh(t.Context())
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("Refresh with all providers failing = %v, want both errors", err)
	}
	if _, err := r.Rate("USD"); !errors.Is(err, ErrNoFreshRate) {
		t.Errorf("Rate(USD) err = %v, want ErrNoFreshRate", err)
	}
}

func TestNoRefreshYet(t *testing.T) {
	r, _ := newRates(t, newFakeClock(), newFake("a", map[string]string{"USD": "1"}))
	if _, err := r.Rate("USD"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("Rate before any refresh: err = %v, want ErrUnknownCurrency", err)
	}
	if s := r.Sources(); len(s) != 1 || s[0].Name != "a" || !s[0].LastSuccess.IsZero() || s[0].Fresh {
		t.Errorf("Sources() before refresh = %+v", s)
	}
}

func TestBadAnswersRejected(t *testing.T) {
	tests := []struct {
		name    string
		rates   map[string]string
		wantErr string
	}{
		{"zero rate", map[string]string{"USD": "0"}, "not a positive decimal"},
		{"negative rate", map[string]string{"USD": "100", "EUR": "-1"}, "not a positive decimal"},
		{"no rates", map[string]string{}, "answered no rates"},
		{"bad code", map[string]string{"US": "100"}, "bad currency code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := newFake("good", map[string]string{"USD": "100"})
			bad := newFake("bad", tc.rates)
			r, logs := newRates(t, newFakeClock(), good, bad)
			if err := r.Refresh(t.Context()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			assertRate(t, r, "USD", "100")
			if _, err := r.Rate("EUR"); !errors.Is(err, ErrUnknownCurrency) {
				t.Errorf("Rate(EUR) err = %v, want ErrUnknownCurrency (the bad answer is dropped whole)", err)
			}
			s := r.Sources()[1]
			if s.LastError == nil || !strings.Contains(s.LastError.Error(), tc.wantErr) {
				t.Errorf("Sources()[bad].LastError = %v, want %q", s.LastError, tc.wantErr)
			}
			// Bad input from outside is a warning, never an error log.
			if out := logs.String(); !strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
				t.Errorf("logs = %q, want a warning and no error", out)
			}
		})
	}
}

func TestHangingProviderDoesNotBlock(t *testing.T) {
	clock := newFakeClock()
	good := newFake("good", map[string]string{"USD": "100"})
	hung := newBlocking("hung", false)
	t.Cleanup(func() { close(hung.release) })
	r, err := New(Config{
		Providers:    []Provider{good, hung},
		Clock:        clock.Now,
		FetchTimeout: 10 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	assertRate(t, r, "USD", "100")
	if s := r.Sources()[1]; !errors.Is(s.LastError, context.DeadlineExceeded) {
		t.Errorf("hung source error = %v, want deadline exceeded", s.LastError)
	}

	// The next round does not start a second fetch while the first hangs.
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	if s := r.Sources()[1]; s.LastError == nil || !strings.Contains(s.LastError.Error(), "still running") {
		t.Errorf("hung source error = %v, want previous fetch still running", s.LastError)
	}
	if n := len(hung.started); n != 1 {
		t.Errorf("hung provider fetched %d times, want 1", n)
	}
}

func TestReadersDoNotWaitForFetch(t *testing.T) {
	fast := newFake("fast", map[string]string{"USD": "100"})
	slow := newBlocking("slow", true)
	r, _ := newRates(t, newFakeClock(), fast, slow)

	// Round one: slow is let through at once.
	slow.release <- struct{}{}
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertRate(t, r, "USD", "50.5")

	// Round two: slow hangs inside Fetch while readers keep reading.
	fast.set(map[string]string{"USD": "102"})
	done := make(chan error, 1)
	go func() { done <- r.Refresh(t.Context()) }()
	<-slow.started
	<-slow.started
	if _, err := r.Rate("USD"); err != nil {
		t.Fatalf("Rate while a fetch hangs: %v", err)
	}
	if len(r.All()) != 1 || len(r.Sources()) != 2 {
		t.Errorf("All() = %v, Sources() = %v during refresh", r.All(), r.Sources())
	}
	slow.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	assertRate(t, r, "USD", "51.5")
}

func TestConcurrentReadersDuringRefresh(t *testing.T) {
	clock := newFakeClock()
	var fakes []*fakeProvider
	var providers []Provider
	for i := range 4 {
		p := newFake(fmt.Sprintf("p%d", i), map[string]string{"USD": "100", "EUR": "90"})
		fakes = append(fakes, p)
		providers = append(providers, p)
	}
	r, _ := newRates(t, clock, providers...)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	errs := make(chan error, 8)
	low, high := decimal.NewFromInt(90), decimal.NewFromInt(200)
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rate, err := r.Rate("USD")
				if err != nil {
					errs <- err
					return
				}
				if rate.LessThan(low) || rate.GreaterThan(high) {
					errs <- fmt.Errorf("rate %s out of range", rate)
					return
				}
				_ = r.All()
				_ = r.Sources()
			}
		})
	}
	for round := range 50 {
		for i, p := range fakes {
			if (round+i)%5 == 0 {
				p.fail(errors.New("flaky"))
				continue
			}
			p.set(map[string]string{"USD": decimal.NewFromInt(int64(100 + round + i)).String(), "EUR": "90"})
		}
		if err := r.Refresh(t.Context()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clock.Advance(time.Second)
	}
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRun(t *testing.T) {
	p := newFake("p", map[string]string{"USD": "100"})
	fetched := make(chan struct{})
	r, _ := newRates(t, newFakeClock(), notifying{p, fetched})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-fetched // Run fetches at once when no round has run yet.

	if err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v, want already running", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	assertRate(t, r, "USD", "100")
}

// notifying wraps a provider and signals after each fetch.
type notifying struct {
	Provider
	fetched chan struct{}
}

func (n notifying) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	defer func() {
		select {
		case n.fetched <- struct{}{}:
		default:
		}
	}()
	return n.Provider.Fetch(ctx)
}

func TestNew(t *testing.T) {
	a := newFake("a", nil)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no providers", Config{}, "no providers"},
		{"duplicate names", Config{Providers: []Provider{a, newFake("a", nil)}}, "configured twice"},
		{"nil provider", Config{Providers: []Provider{nil}}, "nil provider"},
		{"negative interval", Config{Providers: []Provider{a}, RefreshInterval: -time.Second}, "negative"},
		{"stale limit below interval", Config{Providers: []Provider{a}, RefreshInterval: time.Hour}, "must exceed refresh interval"},
		{"defaults", Config{Providers: []Provider{a}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.cfg.RefreshInterval != DefaultRefreshInterval || r.cfg.StaleAfter != DefaultStaleAfter || r.cfg.FetchTimeout != DefaultFetchTimeout {
				t.Errorf("defaults = %s, %s, %s", r.cfg.RefreshInterval, r.cfg.StaleAfter, r.cfg.FetchTimeout)
			}
		})
	}
}
