//go:build node

package chaos

import (
	"testing"
	"time"
)

// TestChaosSmall is the bounded run `make test` includes: a few kills, one
// reorg with a double-spend, one RBF, a short IPN and RPC outage, the
// disk-full check when a tmpfs can be mounted, and a refund storm of four
// refunds (one submit killed at each fault-injection point) with two kills
// of kassa serve, plus two refunds in the reorg.
func TestChaosSmall(t *testing.T) {
	runChaos(t, plan{
		seed:        seed(t),
		kills:       4,
		reorgs:      []int{2},
		rbf:         1,
		rpcOutage:   3 * time.Second,
		ipnFailFor:  time.Second,
		diskFull:    true,
		lazyIPNs:    true,
		refunds:     4,
		refundKills: 2,
	})
}
