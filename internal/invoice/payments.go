package invoice

import "fmt"

// This file applies the chain's facts: outputs seen, confirmed, reorged and
// removed.

// paymentSeen records a new output or updates a known one, then settles.
func (m *machine) paymentSeen(p Payment) error {
	if err := m.checkPayment(p); err != nil {
		return err
	}
	m.expireIfDue()
	back := false
	if i := m.inv.Payment(p.TxID, p.Vout); i >= 0 {
		back = m.update(i, p)
	} else {
		m.add(p)
	}
	m.settle(back)
	return nil
}

// checkPayment rejects a PaymentSeen that cannot describe a real output.
func (m *machine) checkPayment(p Payment) error {
	if m.inv.Method(p.Method) == nil {
		return fmt.Errorf("payment %s by %q, a method the invoice does not offer: %w", p.Ref(), p.Method, ErrInvalidPayment)
	}
	if p.TxID == "" || p.Amount <= 0 {
		return fmt.Errorf("payment %q:%d of %d sats: %w", p.TxID, p.Vout, p.Amount, ErrInvalidPayment)
	}
	if i := m.inv.Payment(p.TxID, p.Vout); i >= 0 && m.inv.Payments[i].Amount != p.Amount {
		return fmt.Errorf("payment %s:%d seen as %d sats, recorded as %d: %w",
			p.TxID, p.Vout, p.Amount, m.inv.Payments[i].Amount, ErrInvalidPayment)
	}
	return nil
}

// add records an output seen for the first time. Only a new invoice counts
// it; in any other status it is kept as a late payment.
func (m *machine) add(p Payment) {
	p.Late = m.inv.Status != StatusNew
	p.Removed = false
	if p.SeenAt.IsZero() {
		p.SeenAt = m.env.Now
	}
	m.inv.Payments = append(m.inv.Payments, p)
	m.arrived(p)
}

// update records a known output's new place in the chain, and brings it
// back if it had been removed. It reports whether the update took
// confirmations away from the payment, the one case (a reorg) in which the
// status may move backwards: a payment in a block that goes back to the
// mempool or into a later block has fewer confirmations at any tip. This is
// judged from the heights alone, not at env.Tip: during a reorg the tip the
// facts arrive with may already lie below the orphaned block, where both
// places count zero confirmations.
func (m *machine) update(i int, p Payment) (lost bool) {
	cur := &m.inv.Payments[i]
	was := cur.Height
	lost = !cur.Removed && was > 0 && (p.Height <= 0 || p.Height > was)
	cur.Height, cur.BlockHash = p.Height, p.BlockHash
	if cur.Removed {
		cur.Removed = false
		m.arrived(*cur)
	}
	return lost
}

// arrived emits the notification for a payment that has just become live:
// 1009 for a late payment on an expired invoice, 1002 otherwise.
func (m *machine) arrived(p Payment) {
	m.inv.Exception = m.exception(m.inv.Status)
	if p.Late && m.inv.Status == StatusExpired {
		m.emit(CodePaidAfterExpiry)
		return
	}
	m.emit(CodeReceivedPayment)
}

// paymentRemoved marks a live payment removed, which is never silent, then
// settles. Unknown or already removed payments change nothing.
func (m *machine) paymentRemoved(txid string, vout uint32) {
	m.expireIfDue()
	if i := m.inv.Payment(txid, vout); i >= 0 && !m.inv.Payments[i].Removed {
		m.inv.Payments[i].Removed = true
		m.inv.Exception = m.exception(m.inv.Status)
		m.emit(CodePaymentReversed)
	}
	m.settle(false)
}
