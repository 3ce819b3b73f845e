package refund

import (
	"errors"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newRefund(s Status) Refund {
	return Refund{ID: "R1", InvoiceID: "I1", Status: s, Sats: 50_000, Address: "bcrt1qbuyer", Cancellable: true,
		RequestedAt: t0, UpdatedAt: t0}
}

// TestApply is every transition of a refund, allowed or not, with the
// event each emits.
func TestApply(t *testing.T) {
	bcast := Broadcast{TxID: "tx1", Fee: 300}
	for _, c := range []struct {
		name string
		from Status
		ev   Event
		to   Status
		code Code // 0: none
		err  error
	}{
		{"confirm a preview", StatusPreview, Confirm{}, StatusCreated, CodeCreated, nil},
		{"confirm twice", StatusCreated, Confirm{}, StatusCreated, 0, nil},
		{"confirm a pending one", StatusPending, Confirm{}, StatusPending, 0, ErrIllegalTransition},
		{"cancel a preview", StatusPreview, Cancel{}, StatusCancelled, 0, nil},
		{"cancel a created one", StatusCreated, Cancel{}, StatusCancelled, CodeCancelled, nil},
		{"cancel twice", StatusCancelled, Cancel{}, StatusCancelled, 0, nil},
		{"cancel a pending one", StatusPending, Cancel{}, StatusPending, 0, ErrNotCancellable},
		{"cancel a paid one", StatusSuccess, Cancel{}, StatusSuccess, 0, ErrNotCancellable},
		{"broadcast", StatusCreated, bcast, StatusPending, CodePending, nil},
		{"broadcast a preview", StatusPreview, bcast, StatusPreview, 0, ErrIllegalTransition},
		{"broadcast a cancelled one", StatusCancelled, bcast, StatusCancelled, 0, ErrIllegalTransition},
		{"broadcast without a txid", StatusCreated, Broadcast{Fee: 1}, StatusCreated, 0, ErrBadEvent},
		{"broadcast with a negative fee", StatusCreated, Broadcast{TxID: "t", Fee: -1}, StatusCreated, 0, ErrBadEvent},
		{"confirmed", StatusPending, Confirmed{}, StatusSuccess, CodeSuccess, nil},
		{"confirmed twice", StatusSuccess, Confirmed{}, StatusSuccess, 0, nil},
		{"confirmed before broadcast", StatusCreated, Confirmed{}, StatusCreated, 0, ErrIllegalTransition},
		{"a reorg drops a paid one", StatusSuccess, Dropped{}, StatusPending, CodePending, nil},
		{"a reorg drops a pending one", StatusPending, Dropped{}, StatusPending, 0, nil},
		{"a reorg drops a created one", StatusCreated, Dropped{}, StatusCreated, 0, ErrIllegalTransition},
		{"fail a pending one", StatusPending, Fail{Reason: "coins spent elsewhere"}, StatusFailure, CodeFailure, nil},
		{"fail a created one", StatusCreated, Fail{}, StatusFailure, CodeFailure, nil},
		{"fail twice", StatusFailure, Fail{}, StatusFailure, 0, nil},
		{"fail a paid one", StatusSuccess, Fail{}, StatusSuccess, 0, ErrIllegalTransition},
		{"another address for one that has one", StatusCreated, SetAddress{Address: "bcrt1qother"}, StatusCreated, 0, ErrHasAddress},
		{"its address again", StatusCreated, SetAddress{Address: "bcrt1qbuyer"}, StatusCreated, 0, nil},
		{"the address deadline of one that has an address", StatusCreated, AddressTimeout{}, StatusCreated, 0, ErrIllegalTransition},
		{"an empty address", StatusCreated, SetAddress{}, StatusCreated, 0, ErrBadEvent},
		{"an address once paid", StatusPending, SetAddress{Address: "bcrt1qother"}, StatusPending, 0, ErrIllegalTransition},
		{"an unknown event", StatusCreated, nil, StatusCreated, 0, ErrUnknownEvent},
		{"resend a created one", StatusCreated, Resend{}, StatusCreated, CodeCreated, nil},
		{"resend a paid one", StatusSuccess, Resend{}, StatusSuccess, CodeSuccess, nil},
		{"resend a cancelled one", StatusCancelled, Resend{}, StatusCancelled, CodeCancelled, nil},
		{"resend a preview", StatusPreview, Resend{}, StatusPreview, 0, ErrIllegalTransition},
	} {
		r := newRefund(c.from)
		now := t0.Add(time.Minute)
		next, out, err := Apply(r, c.ev, now)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			continue
		}
		if next.Status != c.to {
			t.Errorf("%s: status %s, want %s", c.name, next.Status, c.to)
		}
		switch {
		case c.code == 0 && len(out) != 0:
			t.Errorf("%s: emitted %+v, want nothing", c.name, out)
		case c.code != 0 && (len(out) != 1 || out[0].Code != c.code || out[0].Status != c.to || !out[0].At.Equal(now)):
			t.Errorf("%s: emitted %+v, want %s", c.name, out, c.code.Name())
		}
		if err != nil && next != r {
			t.Errorf("%s: a refused event changed the refund", c.name)
		}
		if err == nil && next != r && !next.UpdatedAt.Equal(now) {
			t.Errorf("%s: UpdatedAt not moved", c.name)
		}
	}
}

// TestBuyerAddress is a refund waiting for its buyer's address: given
// once before the deadline, or failed by AddressTimeout after it.
func TestBuyerAddress(t *testing.T) {
	deadline := t0.Add(30 * 24 * time.Hour)
	waiting := newRefund(StatusCreated)
	waiting.Address, waiting.AddressDeadline = "", deadline
	for _, c := range []struct {
		name    string
		ev      Event
		at      time.Time
		address string
		to      Status
		code    Code
		err     error
	}{
		{"an address before the deadline", SetAddress{Address: "bcrt1qbuyer"}, deadline.Add(-time.Millisecond), "bcrt1qbuyer", StatusCreated, 0, nil},
		{"an address at the deadline", SetAddress{Address: "bcrt1qbuyer"}, deadline, "", StatusCreated, 0, ErrAddressExpired},
		{"the deadline passed", AddressTimeout{}, deadline, "", StatusFailure, CodeFailure, nil},
		{"the deadline not yet passed", AddressTimeout{}, deadline.Add(-time.Millisecond), "", StatusCreated, 0, ErrBadEvent},
	} {
		next, out, err := Apply(waiting, c.ev, c.at)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			continue
		}
		if next.Status != c.to || next.Address != c.address {
			t.Errorf("%s: %s with address %q, want %s with %q", c.name, next.Status, next.Address, c.to, c.address)
		}
		if (c.code == 0) != (len(out) == 0) || (c.code != 0 && out[0].Code != c.code) {
			t.Errorf("%s: emitted %+v, want %d", c.name, out, c.code)
		}
		if c.code == CodeFailure && next.FailReason != ReasonNoAddress {
			t.Errorf("%s: fail reason %q", c.name, next.FailReason)
		}
	}
	// No deadline (a preview, or a refund from before deadlines) never
	// times out.
	none := waiting
	none.AddressDeadline = time.Time{}
	if _, _, err := Apply(none, AddressTimeout{}, deadline.Add(time.Hour)); !errors.Is(err, ErrBadEvent) {
		t.Errorf("a refund without a deadline timed out: %v", err)
	}
	if next, _, err := Apply(none, SetAddress{Address: "bcrt1qbuyer"}, deadline.Add(time.Hour)); err != nil || next.Address != "bcrt1qbuyer" {
		t.Errorf("a refund without a deadline refused its address: %v", err)
	}
	cancelled := waiting
	cancelled.Status = StatusCancelled
	if _, _, err := Apply(cancelled, AddressTimeout{}, deadline); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("a cancelled refund timed out: %v", err)
	}
}

// TestApplyRules: the rules beyond the status table.
func TestApplyRules(t *testing.T) {
	// A refund that declined its invoice cannot be cancelled.
	r := newRefund(StatusCreated)
	r.Cancellable = false
	if _, _, err := Apply(r, Cancel{}, t0); !errors.Is(err, ErrNotCancellable) {
		t.Errorf("cancel a refund that declined its invoice: %v", err)
	}
	// No address, no transaction.
	r = newRefund(StatusCreated)
	r.Address = ""
	if _, _, err := Apply(r, Broadcast{TxID: "t", Fee: 1}, t0); !errors.Is(err, ErrNoAddress) {
		t.Errorf("broadcast without an address: %v", err)
	}
	// The buyer's share of the fee can never eat the refund.
	r = newRefund(StatusCreated)
	r.BuyerPaysFee = true
	if _, _, err := Apply(r, Broadcast{TxID: "t", Fee: r.Sats}, t0); !errors.Is(err, ErrBadEvent) {
		t.Errorf("a fee as large as the refund: %v", err)
	}
	next, _, err := Apply(r, Broadcast{TxID: "t", Fee: 400}, t0)
	if err != nil || next.Paid() != 49_600 || next.Fee != 400 || next.TxID != "t" {
		t.Errorf("buyer pays the fee: paid %d, fee %d, %v", next.Paid(), next.Fee, err)
	}
	// A fee bump: pending again under another txid, announced again.
	bumped, out, err := Apply(next, Broadcast{TxID: "t2", Fee: 900}, t0.Add(time.Hour))
	if err != nil || bumped.TxID != "t2" || bumped.Fee != 900 || len(out) != 1 || out[0].Code != CodePending {
		t.Errorf("fee bump: %+v, %v, %v", bumped, out, err)
	}
	// The same broadcast again changes nothing.
	if again, out, err := Apply(bumped, Broadcast{TxID: "t2", Fee: 900}, t0.Add(2*time.Hour)); err != nil || out != nil || again != bumped {
		t.Errorf("the same broadcast twice: %v, %v", out, err)
	}
	if s, ok := ParseStatus("canceled"); !ok || s != StatusCancelled {
		t.Errorf(`ParseStatus("canceled") = %q, %v`, s, ok)
	}
	if _, ok := ParseStatus("done"); ok {
		t.Error("an unknown status parsed")
	}
}

// TestRefundable: what an invoice can still refund, by its status, its
// payments and its refunds.
func TestRefundable(t *testing.T) {
	paid := func(status invoice.Status, sats ...money.Sats) *invoice.Invoice {
		inv := &invoice.Invoice{ID: "I1", Status: status, Methods: []invoice.Method{{ID: invoice.MethodBTC, Due: 100_000}}}
		for i, s := range sats {
			inv.Payments = append(inv.Payments, invoice.Payment{Method: invoice.MethodBTC, TxID: "t", Vout: uint32(i), Amount: s})
		}
		return inv
	}
	refund := func(s Status, sats money.Sats) Refund { return Refund{InvoiceID: "I1", Status: s, Sats: sats} }
	for _, c := range []struct {
		name    string
		inv     *invoice.Invoice
		refunds []Refund
		want    money.Sats
		err     error
	}{
		{"new, unpaid", paid(invoice.StatusNew), nil, 0, ErrInvoiceState},
		{"new, partly paid", paid(invoice.StatusNew, 40_000), nil, 0, ErrInvoiceState},
		{"paid, unconfirmed", paid(invoice.StatusPaid, 100_000), nil, 0, ErrInvoiceState},
		{"expired unpaid", paid(invoice.StatusExpired), nil, 0, ErrInvoiceState},
		{"expired partly paid", paid(invoice.StatusExpired, 40_000), nil, 40_000, nil},
		{"confirmed", paid(invoice.StatusConfirmed, 100_000), nil, 100_000, nil},
		{"complete, overpaid", paid(invoice.StatusComplete, 100_000, 30_000), nil, 130_000, nil},
		{"complete, refunds taken off", paid(invoice.StatusComplete, 100_000),
			[]Refund{refund(StatusSuccess, 30_000), refund(StatusPending, 20_000), refund(StatusCreated, 10_000),
				refund(StatusPreview, 99_000), refund(StatusCancelled, 99_000), refund(StatusFailure, 99_000),
				{InvoiceID: "other", Status: StatusSuccess, Sats: 99_000}}, 40_000, nil},
		{"complete, refunded in full", paid(invoice.StatusComplete, 100_000), []Refund{refund(StatusSuccess, 100_000)}, 0, nil},
	} {
		got, err := Refundable(c.inv, c.refunds)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: Refundable = %d, %v; want %d, %v", c.name, got, err, c.want, c.err)
		}
	}
	inv := paid(invoice.StatusComplete, 100_000)
	for _, c := range []struct {
		sats money.Sats
		err  error
	}{{100_000, nil}, {1, nil}, {100_001, ErrTooMuch}, {0, ErrTooMuch}, {-5, ErrTooMuch}} {
		if err := Check(inv, nil, c.sats); !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("Check(%d) = %v, want %v", c.sats, err, c.err)
		}
	}
	if err := Check(paid(invoice.StatusPaid, 100_000), nil, 1); !errors.Is(err, ErrInvoiceState) {
		t.Errorf("Check on a paid invoice: %v", err)
	}
	for status, want := range map[invoice.Status]bool{invoice.StatusConfirmed: true, invoice.StatusComplete: false,
		invoice.StatusExpired: false, invoice.StatusInvalid: false} {
		if got := InFull(paid(status, 100_000)); got != want {
			t.Errorf("InFull(%s) = %v, want %v", status, got, want)
		}
	}
}

// TestCodes: every event has a name, and no refund code is the code of
// an invoice event a receiver may also get (BitPay's or kassa's own).
func TestCodes(t *testing.T) {
	for _, c := range []Code{CodeCreated, CodePending, CodeSuccess, CodeFailure, CodeCancelled} {
		if c.Name() == "" || invoice.Code(c).Name() != "" || c < 5001 || c > 5999 {
			t.Errorf("code %d: name %q, an invoice's %q", c, c.Name(), invoice.Code(c).Name())
		}
	}
	if Code(1001).Name() != "" {
		t.Error("an invoice code has a refund name")
	}
}
