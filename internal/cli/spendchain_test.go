package cli

import (
	"errors"
	"testing"

	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
)

// TestSpendChain: the spend engine sends through the backend KASSA_CHAIN
// names, a node's RPC or an Esplora server, and knows that backend's
// refusal.
func TestSpendChain(t *testing.T) {
	tests := []struct {
		url      string
		esplora  bool
		rejected error
	}{
		{"rpc://u:p@127.0.0.1:18443", false, rpc.ErrTxRejected},
		{"http://u:p@127.0.0.1:18443", false, rpc.ErrTxRejected},
		{"esplora+https://blockstream.info/api", true, esplora.ErrTxRejected},
		{"esplora+http://127.0.0.1:3000", true, esplora.ErrTxRejected},
	}
	for _, tt := range tests {
		c, rejected, err := spendChain(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if _, ok := c.(*esplora.Client); ok != tt.esplora || !errors.Is(rejected, tt.rejected) {
			t.Errorf("%s: client %T, rejected %v", tt.url, c, rejected)
		}
	}
	for _, bad := range []string{"", "ftp://x", "esplora+ftp://x", "esplora+https://"} {
		if _, _, err := spendChain(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
