package invoice

// This file derives an invoice's status and exception from its facts: the
// payments, the time, the chain tip and the speed.

// settle moves the invoice to the status its facts call for. Progress along
// the speed's path only goes forwards unless back is set, which a reorg
// taking confirmations away from a payment does. A paid invoice still
// unconfirmed when its window closes then becomes invalid; after a reorg
// that is two notifications, confirmations lost and failed to confirm.
func (m *machine) settle(back bool) {
	if m.inv.Status == StatusNew && m.fullyPaid() && m.inv.PaidAt.IsZero() {
		m.inv.PaidAt = m.env.Now
	}
	m.step(m.target(back))
	if m.overdue() {
		m.step(StatusInvalid)
	}
}

// step moves to status to with the exception the facts call for there.
func (m *machine) step(to Status) {
	m.inv.Exception = m.exception(to)
	m.moveTo(to)
}

// expireIfDue expires a new invoice whose window has closed, before the
// event's own facts are applied: a payment arriving at the expiry instant is
// late.
func (m *machine) expireIfDue() {
	if m.inv.Status == StatusNew && m.due() {
		m.settle(false)
	}
}

// target returns the status the facts call for.
func (m *machine) target(back bool) Status {
	inv := &m.inv
	switch inv.Status {
	case StatusNew:
		switch {
		case m.fullyPaid():
			return m.bySpeed()
		case m.due():
			return StatusExpired
		}
	case StatusPaid, StatusConfirmed, StatusComplete:
		if !m.fullyPaid() {
			return StatusInvalid
		}
		to := m.bySpeed()
		if !back && progress(to) < progress(inv.Status) {
			to = inv.Status
		}
		return to
	case StatusInvalid:
		// A late confirmation is the only way out of invalid.
		if m.fullyPaid() && m.confirmations() >= m.env.Policy.completeConfirmations() {
			return StatusComplete
		}
	}
	return inv.Status
}

// overdue reports whether a paid invoice's payment has stayed unconfirmed
// for the whole invalid window (spec §3.5: paid → invalid after ~1 hour).
func (m *machine) overdue() bool {
	return m.inv.Status == StatusPaid && m.confirmations() == 0 && m.due()
}

// due reports whether the invoice's Deadline has come.
func (m *machine) due() bool {
	at, ok := m.inv.Deadline(m.env.Policy)
	return ok && !m.env.Now.Before(at)
}

// bySpeed returns the status a fully paid invoice has at its current
// confirmations, on its speed's path.
func (m *machine) bySpeed() Status {
	conf, complete := m.confirmations(), m.env.Policy.completeConfirmations()
	switch {
	case conf >= complete:
		return StatusComplete
	case m.speed() == SpeedHigh:
		return StatusConfirmed
	case m.speed() == SpeedMedium && conf >= 1:
		return StatusConfirmed
	}
	return StatusPaid
}

// exception returns the exceptionStatus the facts call for in status s.
func (m *machine) exception(s Status) Exception {
	paid, due := m.inv.Paid(), m.inv.Due()
	switch s {
	case StatusDeclined:
		return m.inv.Exception
	case StatusExpired:
		switch {
		case m.hasLiveLate():
			return ExceptionPaidLate
		case paid > 0:
			return ExceptionPaidPartial
		}
		return ExceptionNone
	}
	switch {
	case paid == 0 || paid == due:
		return ExceptionNone
	case paid < due:
		return ExceptionPaidPartial
	}
	return ExceptionPaidOver
}

// fullyPaid reports whether the counted payments cover Due.
func (m *machine) fullyPaid() bool {
	paid := m.inv.Paid()
	return paid > 0 && paid >= m.inv.Due()
}

// confirmations returns the fewest confirmations among the counted
// payments: the invoice is only as confirmed as its least confirmed part.
func (m *machine) confirmations() int32 {
	least, found := int32(0), false
	for _, p := range m.inv.Payments {
		if p.Removed || p.Late {
			continue
		}
		if c := p.Confirmations(m.env.Tip); !found || c < least {
			least, found = c, true
		}
	}
	return least
}

// hasLiveLate reports whether a late payment is still live.
func (m *machine) hasLiveLate() bool {
	for _, p := range m.inv.Payments {
		if p.Late && !p.Removed {
			return true
		}
	}
	return false
}

// speed returns the invoice's speed; an unknown speed is treated as medium,
// BitPay's recommended setting, so money arriving is never stuck.
func (m *machine) speed() Speed {
	if m.inv.Speed.Valid() {
		return m.inv.Speed
	}
	return SpeedMedium
}

// progress orders the statuses of the path to complete; other statuses
// have no place on it and return -1.
func progress(s Status) int {
	switch s {
	case StatusNew:
		return 0
	case StatusPaid:
		return 1
	case StatusConfirmed:
		return 2
	case StatusComplete:
		return 3
	}
	return -1
}
