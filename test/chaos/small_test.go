package chaos

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// seed returns KASSA_CHAOS_SEED, or a fresh seed the test logs so a failing
// run can be replayed.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("KASSA_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KASSA_CHAOS_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestChaosSmall is the bounded run `make test` includes: a few kills, one
// reorg with a double-spend, one RBF, a short IPN and RPC outage, and the
// disk-full check when a tmpfs can be mounted.
func TestChaosSmall(t *testing.T) {
	runChaos(t, plan{
		seed:       seed(t),
		kills:      4,
		reorgs:     []int{2},
		rbf:        1,
		rpcOutage:  3 * time.Second,
		ipnFailFor: time.Second,
		diskFull:   true,
		lazyIPNs:   true,
	})
}
