package spender

import (
	"errors"
	"testing"

	"github.com/kassa-pay/kassa/internal/money"
)

// TestWithinLimit: the hot signer signs up to its limit, not a satoshi
// more, counting what it signed in the window.
func TestWithinLimit(t *testing.T) {
	for _, tt := range []struct {
		limit, signed, amount money.Sats
		ok                    bool
	}{
		{30_000, 0, 30_000, true},
		{30_000, 0, 30_001, false},
		{30_000, 15_282, 14_718, true},
		{30_000, 15_282, 20_282, false},
		{0, 0, 1, false},
	} {
		err := withinLimit(tt.limit, tt.signed, tt.amount)
		var over *overLimitError
		if (err == nil) != tt.ok || (err != nil && !errors.As(err, &over)) {
			t.Errorf("withinLimit(%d, %d, %d) = %v", tt.limit, tt.signed, tt.amount, err)
		}
	}
}
