package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func expose(t *testing.T, regs ...*Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(context.Background(), &b, regs...); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExposition checks the text format byte for byte: HELP and TYPE
// lines, families sorted by name, series by label values, escaping,
// cumulative histogram buckets with +Inf, _sum and _count.
func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("kassa_things_total", "Things.\nSecond line with a \\ backslash.", "kind")
	c.With("b").Add(2)
	c.With("a").Inc()
	c.With("a").Add(-5) // ignored: counters never go down
	g := r.NewGauge("kassa_level", "A level.")
	g.Set(3)
	g.Dec()
	h := r.NewHistogram("kassa_wait_seconds", "Waits.", []float64{0.1, 1, math.Inf(1)})
	h.Observe(0.05)
	h.Observe(0.1) // le is inclusive
	h.Observe(0.5)
	h.Observe(7)
	r.NewSampleFunc("kassa_items", "Items by state.", GaugeType, []string{"state"}, func(context.Context) []Sample {
		return []Sample{{Values: []string{`quo"te\` + "\n"}, Value: 1}, {Values: []string{"a"}, Value: 2.5}}
	})
	r.NewGaugeFunc("kassa_inf", "Infinite.", func() float64 { return math.Inf(1) })
	want := `# HELP kassa_inf Infinite.
# TYPE kassa_inf gauge
kassa_inf +Inf
# HELP kassa_items Items by state.
# TYPE kassa_items gauge
kassa_items{state="a"} 2.5
kassa_items{state="quo\"te\\\n"} 1
# HELP kassa_level A level.
# TYPE kassa_level gauge
kassa_level 2
# HELP kassa_things_total Things.\nSecond line with a \\ backslash.
# TYPE kassa_things_total counter
kassa_things_total{kind="a"} 1
kassa_things_total{kind="b"} 2
# HELP kassa_wait_seconds Waits.
# TYPE kassa_wait_seconds histogram
kassa_wait_seconds_bucket{le="0.1"} 2
kassa_wait_seconds_bucket{le="1"} 3
kassa_wait_seconds_bucket{le="+Inf"} 4
kassa_wait_seconds_sum 7.65
kassa_wait_seconds_count 4
`
	if got := expose(t, r); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

func TestLabelledHistogramAndSeveralRegistries(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	hv := a.NewHistogramVec("kassa_b_seconds", "B.", []float64{1}, "stage")
	hv.With("mempool").ObserveDuration(1500 * time.Millisecond)
	b.NewCounter("kassa_a_total", "A.").Inc()
	got := expose(t, a, b)
	for _, want := range []string{
		"kassa_a_total 1\n# HELP kassa_b_seconds",
		`kassa_b_seconds_bucket{stage="mempool",le="1"} 0`,
		`kassa_b_seconds_bucket{stage="mempool",le="+Inf"} 1`,
		`kassa_b_seconds_sum{stage="mempool"} 1.5`,
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("missing %q in\n%s", want, got)
		}
	}
}

func TestBadNamesPanic(t *testing.T) {
	for name, f := range map[string]func(r *Registry){
		"metric name": func(r *Registry) { r.NewGauge("kassa-bad", "x") },
		"label name":  func(r *Registry) { r.NewCounterVec("kassa_x", "x", "bad-label") },
		"reserved":    func(r *Registry) { r.NewCounterVec("kassa_x", "x", "__x") },
		"le":          func(r *Registry) { r.NewHistogramVec("kassa_x", "x", nil, "le") },
		"duplicate":   func(r *Registry) { r.NewGauge("kassa_x", "x"); r.NewCounter("kassa_x", "x") },
		"buckets":     func(r *Registry) { r.NewHistogram("kassa_x", "x", []float64{1, 1}) },
		"arity":       func(r *Registry) { r.NewCounterVec("kassa_x", "x", "a").With("1", "2") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("want a panic")
				}
			}()
			f(NewRegistry())
		})
	}
}

// TestConcurrentUpdates hammers a series from many goroutines while
// scraping; with -race it also proves the locking.
func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("kassa_n_total", "N.", "w")
	h := r.NewHistogram("kassa_h", "H.", []float64{10})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.With("x").Inc()
				h.Observe(1)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			expose(t, r)
		}
	})
	wg.Wait()
	if v := c.With("x").Value(); v != 8000 {
		t.Fatalf("counter %v, want 8000", v)
	}
	if h.Count() != 8000 || h.Sum() != 8000 {
		t.Fatalf("histogram %d %v", h.Count(), h.Sum())
	}
}

// TestMiddleware runs real HTTP on loopback through a ServeMux: latency is
// recorded under the route pattern (not the raw path), unmatched requests
// under "unmatched", request ids are taken when sane and made otherwise,
// reach the handler's context and the logs, and SSE flushing still works
// through the wrapper.
func TestMiddleware(t *testing.T) {
	reg := NewRegistry()
	var logs bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m := NewHTTPMetrics(reg, log)
	mux := http.NewServeMux()
	seen := make(chan string, 10)
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		seen <- RequestID(r.Context()) + "|" + r.Header.Get("X-Request-Id")
		log.InfoContext(r.Context(), "handling")
		w.WriteHeader(http.StatusTeapot)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
		w.(http.Flusher).Flush()
	})
	srv := httptest.NewServer(m.Wrap(mux))
	defer srv.Close()

	get := func(path, id string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get("/things/1?token=secret-token", "proxy-id-1")
	if resp.Header.Get("X-Request-Id") != "proxy-id-1" || <-seen != "proxy-id-1|proxy-id-1" {
		t.Fatal("a sane incoming request id must be kept and reach the handler")
	}
	resp = get("/things/2", "bad id\twith tab")
	gen := resp.Header.Get("X-Request-Id")
	if len(gen) != 24 || <-seen != gen+"|"+gen {
		t.Fatalf("an insane request id must be replaced by a generated one, got %q", gen)
	}
	get("/nope", "")
	if resp := get("/stream", ""); resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}

	out := expose(t, reg)
	for _, want := range []string{
		`kassa_http_request_duration_seconds_count{route="GET /things/{id}",method="GET",code="418"} 2`,
		`kassa_http_request_duration_seconds_count{route="unmatched",method="GET",code="404"} 1`,
		`kassa_http_request_duration_seconds_count{route="GET /stream",method="GET",code="200"} 1`,
		"kassa_http_requests_in_flight 0",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "/things/1") {
		t.Fatal("raw paths must not become labels")
	}
	var sawHandlerLine bool
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] == "handling" && rec["request_id"] == "proxy-id-1" {
			sawHandlerLine = true
		}
	}
	if !sawHandlerLine {
		t.Fatalf("the handler's log line must carry the request id:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "secret-token") {
		t.Fatal("query strings must not be logged")
	}
}

func TestNoteRoute(t *testing.T) {
	reg := NewRegistry()
	m := NewHTTPMetrics(reg, slog.New(slog.DiscardHandler))
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) { NoteRoute(r) })
	outer := http.NewServeMux()
	// The inner handler sees a copy of the request, as a middleware
	// calling WithContext would give it.
	outer.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(r.Context()))
	}))
	srv := httptest.NewServer(m.Wrap(outer))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/items/7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out := expose(t, reg); !strings.Contains(out, `route="GET /api/items/{id}"`) {
		t.Fatalf("the inner pattern must win:\n%s", out)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("kassa_x_total", "X.").Inc()
	rec := httptest.NewRecorder()
	Handler(r).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	if !strings.Contains(rec.Body.String(), "kassa_x_total 1\n") {
		t.Fatal(rec.Body.String())
	}
}

// TestDefaultHasIPNInstruments documents the names the notify worker uses.
func TestDefaultHasIPNInstruments(t *testing.T) {
	IPNRequests.With("delivered").Inc()
	out := expose(t, Default)
	for _, want := range []string{"# TYPE kassa_ipn_requests_total counter", `kassa_ipn_requests_total{outcome="delivered"}`,
		"# TYPE kassa_ipn_request_duration_seconds histogram"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
}
