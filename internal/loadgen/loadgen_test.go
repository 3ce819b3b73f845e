package loadgen_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/loadgen"
)

func TestRunSendsEveryRequestOnce(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies[string(b)]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	pool := []loadgen.Request{
		{Method: "POST", URL: srv.URL, Header: http.Header{"X-Test": {"yes"}}, Body: []byte("a")},
		{Method: "POST", URL: srv.URL, Header: http.Header{"X-Test": {"yes"}}, Body: []byte("b")},
	}
	cases := []struct {
		name     string
		workers  int
		requests int
	}{
		{"one worker", 1, 7},
		{"more workers than requests", 8, 3},
		{"many", 16, 200},
		{"none", 4, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clear(bodies)
			res, err := loadgen.Run(context.Background(), loadgen.Config{Workers: tc.workers, Requests: tc.requests, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != tc.requests || len(res.Latencies) != tc.requests {
				t.Fatalf("completed %d with %d latencies, want %d", res.Requests, len(res.Latencies), tc.requests)
			}
			// Request i sends pool[i%2]: a gets the odd one out.
			if bodies["a"] != (tc.requests+1)/2 || bodies["b"] != tc.requests/2 {
				t.Fatalf("server saw %v for %d requests", bodies, tc.requests)
			}
			for i, d := range res.Latencies {
				if d <= 0 || (i > 0 && d < res.Latencies[i-1]) {
					t.Fatalf("latencies must be positive and sorted: %v", res.Latencies)
				}
			}
			if tc.requests > 0 && res.PerSecond() <= 0 {
				t.Fatalf("throughput %v", res.PerSecond())
			}
		})
	}
}

func TestRunStopsAtTheFirstRefusedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("slow down"))
	}))
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Workers: 4, Requests: 100,
		Pool: []loadgen.Request{{Method: "GET", URL: srv.URL}}})
	if err == nil || res.Requests != 0 || len(res.Latencies) != 0 {
		t.Fatalf("want an error and nothing completed, have %d requests, %v", res.Requests, err)
	}
	// A custom OK accepts the same answers.
	res, err = loadgen.Run(context.Background(), loadgen.Config{Workers: 4, Requests: 10,
		Pool: []loadgen.Request{{Method: "GET", URL: srv.URL}}, OK: func(s int) bool { return s == 429 }})
	if err != nil || res.Requests != 10 {
		t.Fatalf("custom OK: %d requests, %v", res.Requests, err)
	}
}

func TestRunRefusesABadConfig(t *testing.T) {
	pool := []loadgen.Request{{Method: "GET", URL: "http://127.0.0.1:1"}}
	cases := []struct {
		name string
		cfg  loadgen.Config
	}{
		{"no workers", loadgen.Config{Requests: 1, Pool: pool}},
		{"negative requests", loadgen.Config{Workers: 1, Requests: -1, Pool: pool}},
		{"empty pool", loadgen.Config{Workers: 1, Requests: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := loadgen.Run(context.Background(), tc.cfg); !errors.Is(err, loadgen.ErrConfig) {
				t.Fatalf("want ErrConfig, have %v", err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, ms(i))
	}
	res := loadgen.Result{Requests: 100, Elapsed: time.Second, Latencies: lat}
	cases := []struct {
		p    float64
		want time.Duration
	}{
		{50, ms(50)}, {99, ms(99)}, {100, ms(100)}, {0, ms(1)}, {99.5, ms(100)},
	}
	for _, tc := range cases {
		if got := res.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if res.PerSecond() != 100 {
		t.Errorf("throughput %v, want 100", res.PerSecond())
	}
	if (loadgen.Result{}).Percentile(50) != 0 || (loadgen.Result{}).PerSecond() != 0 {
		t.Error("an empty run measures zero")
	}
}
