//go:build chaos

package chaos

import (
	"testing"
	"time"
)

// TestChaosFull is the full run (`make chaos`): 20 kills, reorgs of 1 to 6
// blocks each with a double-spend, three RBF replacements, the IPN receiver
// failing for 30 s then hanging, the node's RPC gone for a minute, the
// disk full, and a refund storm of 30 refunds with 8 kills of kassa serve
// (and two refunds in each reorg).
func TestChaosFull(t *testing.T) {
	runChaos(t, plan{
		seed:        seed(t),
		kills:       20,
		reorgs:      []int{1, 2, 3, 4, 5, 6},
		rbf:         3,
		rpcOutage:   time.Minute,
		ipnFailFor:  30 * time.Second,
		diskFull:    true,
		refunds:     30,
		refundKills: 8,
	})
}
