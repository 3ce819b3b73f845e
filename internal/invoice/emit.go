package invoice

import "slices"

// This file turns status changes into outbox notifications.

// paths lists the statuses each speed passes through on the way to
// complete (spec §3.5): high skips paid, low skips confirmed.
var paths = map[Speed][]Status{
	SpeedHigh:   {StatusNew, StatusConfirmed, StatusComplete},
	SpeedMedium: {StatusNew, StatusPaid, StatusConfirmed, StatusComplete},
	SpeedLow:    {StatusNew, StatusPaid, StatusComplete},
}

// moveTo sets the status and emits what the change means. A move forwards
// along the speed's path emits every milestone it passes, in order, each
// with the status it reached; a move backwards along it (a reorg) emits
// invoice_confirmationsLost; any other change emits the code of the status
// entered.
func (m *machine) moveTo(to Status) {
	from := m.inv.Status
	if from == to {
		return
	}
	m.inv.Status = to
	path := paths[m.speed()]
	i, j := slices.Index(path, from), slices.Index(path, to)
	switch {
	case i >= 0 && j > i:
		for _, s := range path[i+1 : j+1] {
			for _, c := range milestone(s, m.speed()) {
				m.emitAs(c, s)
			}
		}
	case i >= 0 && j >= 0:
		m.emit(CodeConfirmationsLost)
	default:
		m.emit(m.entered(to))
	}
}

// milestone returns the codes for reaching s on a speed's path. High speed
// reaches confirmed straight from new, so it sends invoice_paidInFull as
// well as invoice_confirmed: integrations that act on either see the
// payment.
func milestone(s Status, speed Speed) []Code {
	switch s {
	case StatusPaid:
		return []Code{CodePaidInFull}
	case StatusConfirmed:
		if speed == SpeedHigh {
			return []Code{CodePaidInFull, CodeConfirmed}
		}
		return []Code{CodeConfirmed}
	case StatusComplete:
		return []Code{CodeCompleted}
	}
	return nil
}

// entered returns the code for entering s off the speed's path.
func (m *machine) entered(s Status) Code {
	switch s {
	case StatusPaid:
		return CodePaidInFull
	case StatusConfirmed:
		return CodeConfirmed
	case StatusComplete:
		return CodeCompleted
	case StatusInvalid:
		return CodeFailedToConfirm
	case StatusDeclined:
		return CodeDeclined
	case StatusExpired:
		if m.inv.Paid() > 0 {
			return CodeExpiredPartial
		}
	}
	return CodeExpired
}

// emit appends a notification carrying the invoice's current status.
func (m *machine) emit(c Code) { m.emitAs(c, m.inv.Status) }

// emitAs appends a notification carrying status s, for a milestone passed
// on the way to the current status.
func (m *machine) emitAs(c Code, s Status) {
	m.out = append(m.out, Notification{Code: c, Status: s, Exception: m.inv.Exception, At: m.env.Now})
}
