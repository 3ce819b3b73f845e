// Package loadgen drives an HTTP server with concurrent keep-alive clients
// and measures throughput and latency, for benchmarks over loopback.
//
// Requests are prepared before Run starts the clock: Run only turns each
// prepared Request into an *http.Request, sends it and drains the answer, so
// the figures measure the server, plus the client's HTTP work, not request
// building or signing.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Request is a request prepared before the run. Run never modifies it, so
// one Request may be sent many times and by many workers.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Config configures Run.
type Config struct {
	// Client sends the requests; nil means a client on NewTransport(Workers).
	Client *http.Client
	// Workers is the number of concurrent senders, each looping one request
	// at a time over a kept-alive connection.
	Workers int
	// Requests is how many requests the run sends in total.
	Requests int
	// Pool is the prepared requests; request i of the run sends
	// Pool[i%len(Pool)].
	Pool []Request
	// OK accepts an answer's status code; nil accepts 2xx. The first answer
	// it refuses stops the run with an error.
	OK func(status int) bool
}

// Result is what a run measured.
type Result struct {
	// Requests is how many requests completed.
	Requests int
	// Elapsed is the wall time from the first send to the last answer.
	Elapsed time.Duration
	// Latencies holds each request's time from send to the end of its
	// answer's body, in ascending order.
	Latencies []time.Duration
}

// PerSecond is the run's throughput in requests per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency at or below which p percent of the
// requests completed (nearest rank), or zero for an empty run.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n))) - 1
	return r.Latencies[min(max(rank, 0), n-1)]
}

// NewTransport returns a transport that keeps one idle connection per
// worker, so a steady run reuses its connections instead of dialing.
func NewTransport(workers int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(workers, t.MaxIdleConns)
	t.MaxIdleConnsPerHost = workers
	return t
}

// ErrConfig reports a Config Run cannot use.
var ErrConfig = errors.New("loadgen: bad config")

// Run sends cfg.Requests requests from cfg.Workers workers and returns what
// it measured. It stops at the first transport error or refused status and
// returns that error beside the requests completed so far.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Workers <= 0 || cfg.Requests < 0 || len(cfg.Pool) == 0 {
		return Result{}, fmt.Errorf("%w: want workers > 0, requests >= 0 and a non-empty pool", ErrConfig)
	}
	if cfg.Client == nil {
		tr := NewTransport(cfg.Workers)
		defer tr.CloseIdleConnections()
		cfg.Client = &http.Client{Transport: tr}
	}
	if cfg.OK == nil {
		cfg.OK = func(status int) bool { return status >= 200 && status < 300 }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, cfg.Requests)
	var (
		next    atomic.Int64
		done    atomic.Int64
		errOnce sync.Once
		runErr  error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { runErr = err; cancel() })
	}
	start := time.Now()
	for range cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Requests {
					return
				}
				d, err := send(ctx, cfg, cfg.Pool[i%len(cfg.Pool)])
				if err != nil {
					fail(fmt.Errorf("request %d: %w", i, err))
					return
				}
				lat[i] = d
				done.Add(1)
			}
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start)}
	if runErr != nil {
		// Only completed requests have a latency; the rest are zero.
		lat = slices.DeleteFunc(lat, func(d time.Duration) bool { return d == 0 })
	}
	slices.Sort(lat)
	res.Latencies = lat
	res.Requests = int(done.Load())
	return res, runErr
}

// send sends one request and drains its answer, returning the time taken.
func send(ctx context.Context, cfg Config, p Request) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return 0, fmt.Errorf("build %s %s: %w", p.Method, p.URL, err)
	}
	// The transport only reads the header, but a clone keeps the pool safe
	// whatever an http.Client middleware does.
	req.Header = p.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	t0 := time.Now()
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if !cfg.OK(resp.StatusCode) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s %s: status %d: %s", p.Method, p.URL, resp.StatusCode, b)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	// A zero latency marks a request that did not complete.
	return max(time.Since(t0), 1), nil
}
