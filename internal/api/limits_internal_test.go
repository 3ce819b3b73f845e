package api

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// budgetKinds are the places a limiter keeps its budgets: this process's
// memory, and a database every node shares (SQLite and PostgreSQL), which
// must give the same answers.
func budgetKinds() []struct {
	name   string
	shared func(t testing.TB) Budgets
} {
	open := func(url func(t testing.TB) string) func(t testing.TB) Budgets {
		return func(t testing.TB) Budgets {
			db, err := store.Open(context.Background(), url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return db
		}
	}
	return []struct {
		name   string
		shared func(t testing.TB) Budgets
	}{
		{"memory", func(testing.TB) Budgets { return nil }},
		{"sqlite", open(func(t testing.TB) string { return filepath.Join(t.TempDir(), "kassa.db") })},
		{"postgres", open(func(t testing.TB) string { return testpg.Schema(t) })},
	}
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// limitStep advances the clock by after and then asks for one invoice.
type limitStep struct {
	after time.Duration
	ok    bool
	wait  time.Duration // when refused
}

// repeat is n steps asking at the same instant, all granted.
func repeat(n int) []limitStep {
	s := make([]limitStep, n)
	for i := range s {
		s[i].ok = true
	}
	return s
}

func steps(parts ...[]limitStep) []limitStep {
	var out []limitStep
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestInvoiceLimiter(t *testing.T) {
	cases := []struct {
		name   string
		limits merchant.Limits
		steps  []limitStep
	}{
		{"per second", merchant.Limits{PerSecond: 4}, steps(repeat(4), []limitStep{
			{ok: false, wait: 250 * time.Millisecond},
			{after: 249 * time.Millisecond, ok: false, wait: time.Millisecond},
			{after: time.Millisecond, ok: true},
			{ok: false, wait: 250 * time.Millisecond},
		})},
		{"per minute", merchant.Limits{PerMinute: 5}, steps(repeat(5), []limitStep{
			{ok: false, wait: 12 * time.Second},
			{after: 12 * time.Second, ok: true},
			{after: time.Minute, ok: true},
		}, repeat(4), []limitStep{{ok: false, wait: 12 * time.Second}})},
		{"per hour", merchant.Limits{PerHour: 100}, steps(repeat(100), []limitStep{
			{ok: false, wait: 36 * time.Second},
			{after: 35 * time.Second, ok: false, wait: time.Second},
			{after: time.Second, ok: true},
			{ok: false, wait: 36 * time.Second},
		})},
		{"defaults: the second bucket bounds a burst", merchant.DefaultLimits, steps(repeat(10), []limitStep{
			{ok: false, wait: 100 * time.Millisecond},
			{after: 100 * time.Millisecond, ok: true},
		})},
		{"defaults: the minute bucket bounds a longer burst", merchant.DefaultLimits, steps(
			// 10 a second, the most the second bucket allows: after 6 s
			// 66 were taken, the minute's 60 plus the 6 it refilled, and
			// the 67th waits a second for the minute bucket.
			repeat(10),
			[]limitStep{{after: time.Second, ok: true}}, repeat(9),
			[]limitStep{{after: time.Second, ok: true}}, repeat(9),
			[]limitStep{{after: time.Second, ok: true}}, repeat(9),
			[]limitStep{{after: time.Second, ok: true}}, repeat(9),
			[]limitStep{{after: time.Second, ok: true}}, repeat(9),
			[]limitStep{{after: time.Second, ok: true}}, repeat(5),
			[]limitStep{{ok: false, wait: time.Second}},
		)},
		{"defaults: the hour bucket bounds the day", merchant.DefaultLimits, steps(
			// One a second passes both burst buckets; after 100 the hour's
			// budget is spent except what refilled in the meantime.
			func() []limitStep {
				s := []limitStep{{ok: true}}
				for range 99 {
					s = append(s, limitStep{after: time.Second, ok: true})
				}
				// At 101 s two more refilled (one per 36 s) and were taken;
				// the third refills at 108 s.
				s = append(s, limitStep{after: time.Second, ok: true}, limitStep{after: time.Second, ok: true},
					limitStep{after: time.Second, ok: false, wait: 6 * time.Second})
				return s
			}(),
		)},
		{"disabled", merchant.Limits{PerSecond: 1, Off: true}, repeat(1000)},
		{"zero limits set none", merchant.Limits{}, repeat(1000)},
	}
	for _, kind := range budgetKinds() {
		t.Run(kind.name, func(t *testing.T) {
			shared := kind.shared(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					l := newInvoiceLimiter(func(string) merchant.Limits { return tc.limits }, shared)
					now := t0
					for i, s := range tc.steps {
						now = now.Add(s.after)
						ok, wait, err := l.allow(context.Background(), "store "+tc.name, now)
						if err != nil {
							t.Fatal(err)
						}
						if ok != s.ok || (!ok && wait != s.wait) {
							t.Fatalf("step %d at +%v: have ok=%v wait=%v, want ok=%v wait=%v", i, now.Sub(t0), ok, wait, s.ok, s.wait)
						}
					}
				})
			}
		})
	}
}

func TestInvoiceLimiterDefaultsAndStores(t *testing.T) {
	for _, kind := range budgetKinds() {
		t.Run(kind.name, func(t *testing.T) {
			shared := kind.shared(t)
			now := t0
			allow := func(l *invoiceLimiter, id string) bool {
				ok, _, err := l.allow(context.Background(), id, now)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			per := map[string]merchant.Limits{"small": {PerSecond: 1}, "off": {Off: true}}
			l := newInvoiceLimiter(func(id string) merchant.Limits {
				if lim, ok := per[id]; ok {
					return lim
				}
				return merchant.DefaultLimits
			}, shared)
			if !allow(l, "small") {
				t.Fatal("first invoice refused")
			}
			if allow(l, "small") {
				t.Fatal("a store over its own limit must be refused")
			}
			// Another store's budget is its own.
			for i := range merchant.DefaultLimits.PerSecond {
				if !allow(l, "other") {
					t.Fatalf("store other refused at invoice %d", i+1)
				}
			}
			for range 100 {
				if !allow(l, "off") {
					t.Fatal("a store with limits off was refused")
				}
			}
			u := newInvoiceLimiter(Unlimited, shared)
			for range 100 {
				if !allow(u, "s") {
					t.Fatal("Unlimited refused an invoice")
				}
			}
			// nil limits mean DefaultLimits.
			d := newInvoiceLimiter(nil, shared)
			for range merchant.DefaultLimits.PerSecond {
				allow(d, "d")
			}
			if allow(d, "d") {
				t.Fatal("nil InvoiceLimits must apply DefaultLimits")
			}
			// Raised limits apply once the spent budget refilled.
			per["small"] = merchant.Limits{PerSecond: 3}
			now = t0.Add(time.Second)
			var granted []bool
			for range 4 {
				granted = append(granted, allow(l, "small"))
			}
			if !slices.Equal(granted, []bool{true, true, true, false}) {
				t.Fatalf("raised limits: granted %v", granted)
			}
		})
	}
}

// Two limiters on one database, as two nodes are, draw from one budget.
func TestInvoiceBudgetSharedByNodes(t *testing.T) {
	for _, kind := range budgetKinds()[1:] {
		t.Run(kind.name, func(t *testing.T) {
			shared := kind.shared(t)
			lim := func(string) merchant.Limits { return merchant.Limits{PerMinute: 30} }
			nodes := []*invoiceLimiter{newInvoiceLimiter(lim, shared), newInvoiceLimiter(lim, shared), newInvoiceLimiter(lim, shared)}
			granted := 0
			for i := range 90 {
				ok, _, err := nodes[i%3].allow(context.Background(), "store", t0)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					granted++
				}
			}
			if granted != 30 {
				t.Fatalf("three nodes granted %d invoices of a budget of 30", granted)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	cases := []struct {
		wait time.Duration
		want int64
	}{
		{0, 1},
		{time.Nanosecond, 1},
		{100 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{36 * time.Second, 36},
		{10 * time.Minute, 600},
	}
	for _, tc := range cases {
		if have := retryAfterSeconds(tc.wait); have != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.wait, have, tc.want)
		}
	}
}

func TestKeyedLimiterMemoryIsBounded(t *testing.T) {
	l := newKeyedLimiter(3)
	rs := [3]rate{{1, time.Minute}}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if ok, _ := l.take(k, rs, t0, true); !ok {
			t.Fatalf("fresh key %s refused", k)
		}
		if n := l.len(); n > 3 {
			t.Fatalf("%d keys held, bound is 3", n)
		}
	}
	// Looking does not store a key.
	l.take("peek", rs, t0, false)
	if n := l.len(); n > 3 {
		t.Fatalf("a look stored a key: %d", n)
	}
	// Once every bucket is full again, the next new key sweeps them away.
	later := t0.Add(2 * time.Minute)
	l.take("f", rs, later, true)
	if n := l.len(); n != 1 {
		t.Fatalf("idle keys must be dropped: %d held", n)
	}
}

func TestGuessLimiter(t *testing.T) {
	g := newGuessLimiter()
	now := t0
	for i := range PairingGuessLimit {
		if w := g.blocked("1.2.3.4", now); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		g.failed("1.2.3.4", now)
	}
	interval := PairingGuessWindow / PairingGuessLimit
	if w := g.blocked("1.2.3.4", now); w != interval {
		t.Fatalf("after %d failures: wait %v, want %v", PairingGuessLimit, w, interval)
	}
	if w := g.blocked("5.6.7.8", now); w != 0 {
		t.Fatal("another address must not be blocked")
	}
	now = now.Add(interval)
	if w := g.blocked("1.2.3.4", now); w != 0 {
		t.Fatalf("one interval later the address may try once more: wait %v", w)
	}
	g.failed("1.2.3.4", now)
	if w := g.blocked("1.2.3.4", now); w != interval {
		t.Fatalf("and then waits again: %v", w)
	}
}

func TestClientAddr(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:5123", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"not-an-address", "not-an-address"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote}
		if have := clientAddr(r); have != tc.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tc.remote, have, tc.want)
		}
	}
}

func TestSessionStore(t *testing.T) {
	st := newSessionStore(2)
	id := st.open("", t0)
	step, err := st.begin(id, "tok", 1, t0)
	if err != nil || step.run == nil {
		t.Fatalf("first request: %+v %v", step, err)
	}
	// A retry while the first run is under way waits for it.
	again, err := st.begin(id, "tok", 1, t0)
	if err != nil || again.wait == nil {
		t.Fatalf("retry in flight: %+v %v", again, err)
	}
	if _, err := st.begin(id, "tok", 2, t0); err == nil {
		t.Fatal("the next number must wait for the running one")
	}
	st.finish(step.run, 201, []byte("answer"), t0)
	select {
	case <-again.wait:
	default:
		t.Fatal("finishing must release the waiting retry")
	}
	replay, err := st.begin(id, "tok", 1, t0)
	if err != nil || !replay.replay || replay.status != 201 || string(replay.body) != "answer" {
		t.Fatalf("replay: %+v %v", replay, err)
	}
	// A run that wrote nothing (a panic) lets the number run again.
	step, _ = st.begin(id, "tok", 2, t0)
	st.finish(step.run, 0, nil, t0)
	if step, err = st.begin(id, "tok", 2, t0); err != nil || step.run == nil {
		t.Fatalf("an abandoned number must run again: %+v %v", step, err)
	}
	st.finish(step.run, 200, nil, t0)
	// Another token may not use the session.
	if _, err := st.begin(id, "other", 3, t0); err == nil || err.Error() != MsgInvalidSession {
		t.Fatalf("foreign token: %v", err)
	}
	// The bound holds: the least recently used session goes.
	second := st.open("", t0.Add(time.Second))
	third := st.open("", t0.Add(2*time.Second))
	if len(st.sessions) != 2 {
		t.Fatalf("%d sessions held, bound is 2", len(st.sessions))
	}
	if _, ok := st.sessions[id]; ok {
		t.Fatal("the least recently used session must be evicted")
	}
	for _, s := range []string{second, third} {
		if _, ok := st.sessions[s]; !ok {
			t.Fatal("a newer session was evicted")
		}
	}
}
