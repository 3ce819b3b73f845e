package invoice

import (
	"testing"
	"time"
)

// TestDeadline: the instant time alone moves each status, the one the
// state machine applies on a Tick and the processor schedules.
func TestDeadline(t *testing.T) {
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	paid := created.Add(5 * time.Minute)
	inv := Invoice{CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute), PaidAt: paid}
	for _, c := range []struct {
		status Status
		policy Policy
		want   time.Time
		ok     bool
	}{
		{StatusNew, Policy{}, created.Add(15 * time.Minute), true},
		{StatusPaid, Policy{}, paid.Add(DefaultInvalidAfter), true},
		{StatusPaid, Policy{InvalidAfter: 10 * time.Minute}, paid.Add(10 * time.Minute), true},
		{StatusConfirmed, Policy{}, time.Time{}, false},
		{StatusComplete, Policy{}, time.Time{}, false},
		{StatusExpired, Policy{}, time.Time{}, false},
		{StatusInvalid, Policy{}, time.Time{}, false},
		{StatusDeclined, Policy{}, time.Time{}, false},
	} {
		inv.Status = c.status
		if got, ok := inv.Deadline(c.policy); !got.Equal(c.want) || ok != c.ok {
			t.Errorf("%s with %+v: Deadline = %v, %v; want %v, %v", c.status, c.policy, got, ok, c.want, c.ok)
		}
	}
}
