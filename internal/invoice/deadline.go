package invoice

import "time"

// Deadline returns when time alone next moves the invoice: a new invoice
// expires at ExpiresAt; a paid one still unconfirmed turns invalid
// Policy.InvalidAfter after PaidAt (spec §3.5). ok is false in the other
// statuses, which only the chain moves. A Tick at or after the deadline
// applies it.
func (inv *Invoice) Deadline(p Policy) (at time.Time, ok bool) {
	switch inv.Status {
	case StatusNew:
		return inv.ExpiresAt, true
	case StatusPaid:
		return inv.PaidAt.Add(p.invalidAfter()), true
	}
	return time.Time{}, false
}
