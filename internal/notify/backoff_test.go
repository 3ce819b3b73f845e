package notify

import (
	"testing"
	"time"
)

// TestBackoff: the delay doubles from RetryBase up to RetryMax, and the
// jitter takes up to half of it off.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		jitter func(int64) int64
		want   []time.Duration
	}{
		{func(int64) int64 { return 0 }, []time.Duration{10, 20, 40, 80, 100, 100}},
		{func(n int64) int64 { return n - 1 }, []time.Duration{5, 10, 20, 40, 50, 50}},
	} {
		s, err := New(Config{Store: nil})
		if err == nil || s != nil {
			t.Fatal("New without a store succeeded")
		}
		s = &Service{cfg: Config{RetryBase: 10 * time.Second, RetryMax: 100 * time.Second, Jitter: tc.jitter}}
		for n, want := range tc.want {
			if got := s.backoff(n + 1); got != want*time.Second {
				t.Errorf("backoff(%d) = %v, want %v", n+1, got, want*time.Second)
			}
		}
	}
}
