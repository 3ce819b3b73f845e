package spend

import (
	"errors"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func unsigned() Spend {
	return Spend{
		ID: "s1", StoreID: "st", Kind: KindRefund, SubjectID: "r1", Status: StatusUnsigned,
		Plan: Plan{
			Inputs:  []Input{{TxID: "aa", Vout: 0, Amount: 100_000}},
			Outputs: []Output{{Address: "bcrt1qx", Amount: 50_000}},
			Change:  49_000, FeeRate: 5, Fee: 1_000, PSBT: []byte("psbt"),
		},
	}
}

func must(t *testing.T, s Spend, ev Event) Spend {
	t.Helper()
	next, err := Apply(s, ev, now)
	if err != nil {
		t.Fatalf("Apply(%s, %T): %v", s.Status, ev, err)
	}
	return next
}

func TestLifecycle(t *testing.T) {
	s := unsigned()
	s = must(t, s, Signed{TxID: "t1", Tx: []byte{1}})
	if s.Status != StatusSigned || s.TxID != "t1" || !s.UpdatedAt.Equal(now) {
		t.Fatalf("signed: %+v", s)
	}
	s = must(t, s, Accepted{})
	if s.Status != StatusBroadcast {
		t.Fatalf("accepted: %s", s.Status)
	}
	s = must(t, s, Mined{Height: 500, Depth: 1})
	if s.Status != StatusConfirmed || s.Height != 500 {
		t.Fatalf("mined: %+v", s)
	}
	s = must(t, s, Mined{Height: 500, Depth: FinalDepth})
	if s.Status != StatusFinal {
		t.Fatalf("six deep: %s", s.Status)
	}
	// A deep reorg still undoes it: the transaction is sent again.
	s = must(t, s, Unmined{Gone: true})
	if s.Status != StatusSigned || s.Height != 0 {
		t.Fatalf("unmined and gone: %+v", s)
	}
	s = must(t, s, Accepted{})
	s = must(t, s, Mined{Height: 501, Depth: 1})
	s = must(t, s, Unmined{})
	if s.Status != StatusBroadcast {
		t.Fatalf("unmined, back in the mempool: %s", s.Status)
	}
}

func TestSignedTwiceKeepsTheFirstAndRefusesAnother(t *testing.T) {
	s := must(t, unsigned(), Signed{TxID: "t1", Tx: []byte{1}})
	again := must(t, s, Signed{TxID: "t1", Tx: []byte{2}})
	if string(again.Tx) != string([]byte{1}) || !again.UpdatedAt.Equal(s.UpdatedAt) {
		t.Fatalf("a second upload of the same transaction changed the record: %+v", again)
	}
	// Never a second transaction for one spend.
	if _, err := Apply(s, Signed{TxID: "t2", Tx: []byte{3}}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("another transaction for a signed spend: %v", err)
	}
}

func TestRebuildOnlyWhileUnsigned(t *testing.T) {
	p := unsigned().Plan
	p.Inputs = []Input{{TxID: "bb", Vout: 1, Amount: 70_000}}
	p.PSBT = []byte("another psbt")
	s := must(t, unsigned(), Rebuilt{Plan: p})
	if s.Inputs[0].TxID != "bb" || s.Status != StatusUnsigned {
		t.Fatalf("rebuilt: %+v", s)
	}
	signed := must(t, s, Signed{TxID: "t", Tx: []byte{1}})
	if _, err := Apply(signed, Rebuilt{Plan: p}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("rebuilding a signed spend: %v", err)
	}
	if _, err := Apply(unsigned(), Rebuilt{}, now); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("an empty plan: %v", err)
	}
}

func TestConflictFailsAnOpenSpend(t *testing.T) {
	for _, st := range []Status{StatusUnsigned, StatusSigned, StatusBroadcast, StatusConfirmed} {
		s := unsigned()
		s.Status = st
		next := must(t, s, Conflicted{By: "other"})
		if next.Status != StatusFailed || next.FailReason == "" {
			t.Fatalf("%s conflicted: %+v", st, next)
		}
	}
	final := unsigned()
	final.Status = StatusFinal
	if _, err := Apply(final, Conflicted{By: "x"}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("a final spend conflicted: %v", err)
	}
}

func TestCancelOnlyBeforeSigning(t *testing.T) {
	s := must(t, unsigned(), Cancel{Reason: "refund cancelled"})
	if s.Status != StatusCancelled || s.Status.Open() {
		t.Fatalf("cancelled: %+v", s)
	}
	signed := must(t, unsigned(), Signed{TxID: "t", Tx: []byte{1}})
	if _, err := Apply(signed, Cancel{}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("cancelling a signed spend: %v", err)
	}
}

func TestIllegalAndBadEvents(t *testing.T) {
	cases := []struct {
		st  Status
		ev  Event
		err error
	}{
		{StatusUnsigned, Accepted{}, ErrIllegalTransition},
		{StatusUnsigned, Mined{Height: 1, Depth: 1}, ErrIllegalTransition},
		{StatusUnsigned, Unmined{}, ErrIllegalTransition},
		{StatusSigned, Mined{Height: 0, Depth: 1}, ErrBadEvent},
		{StatusUnsigned, Signed{TxID: "", Tx: []byte{1}}, ErrBadEvent},
		{StatusUnsigned, Conflicted{}, ErrBadEvent},
		{StatusCancelled, Signed{TxID: "t", Tx: []byte{1}}, ErrIllegalTransition},
		{StatusFailed, Accepted{}, ErrIllegalTransition},
		{StatusUnsigned, nil, ErrUnknownEvent},
	}
	for _, c := range cases {
		s := unsigned()
		s.Status = c.st
		got, err := Apply(s, c.ev, now)
		if !errors.Is(err, c.err) {
			t.Errorf("%s + %T: err %v, want %v", c.st, c.ev, err, c.err)
		}
		if got.Status != c.st || !got.UpdatedAt.IsZero() {
			t.Errorf("%s + %T: a refused event changed the spend: %+v", c.st, c.ev, got)
		}
	}
}

func TestTotal(t *testing.T) {
	s := unsigned()
	s.Outputs = append(s.Outputs, Output{Address: "b", Amount: 7})
	if s.Total() != 50_007 {
		t.Fatalf("Total = %d", s.Total())
	}
}

func TestFeeBump(t *testing.T) {
	s := must(t, unsigned(), Signed{TxID: "t1", Tx: []byte{1}})
	s = must(t, s, Accepted{})
	bump := s.Plan
	bump.Fee, bump.Change, bump.FeeRate, bump.PSBT = 3_000, 47_000, 15, []byte("bump psbt")
	if _, err := Apply(s, Bumped{Plan: s.Plan}, now); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("a bump that does not raise the fee: %v", err)
	}
	s = must(t, s, Bumped{Plan: bump})
	if s.Bump == nil || s.Status != StatusBroadcast || s.TxID != "t1" {
		t.Fatalf("bumped: %+v", s)
	}
	// The original upload again is still the spend's transaction.
	if again := must(t, s, Signed{TxID: "t1", Tx: []byte{1}}); again.TxID != "t1" || again.Bump == nil {
		t.Fatalf("the original again: %+v", again)
	}
	s = must(t, s, Signed{TxID: "t2", Tx: []byte{2}})
	if s.TxID != "t2" || s.Status != StatusSigned || s.Bump != nil || s.Fee != 3_000 || !s.Mine("t1") || !s.Mine("t2") || s.Mine("t3") {
		t.Fatalf("the replacement signed: %+v", s)
	}
	s = must(t, s, Accepted{})
	// The replaced transaction confirms after all: it is the spend's.
	mined := must(t, s, Mined{TxID: "t1", Height: 700, Depth: 1})
	if mined.TxID != "t1" || mined.Status != StatusConfirmed || !mined.Mine("t2") {
		t.Fatalf("the original mined: %+v", mined)
	}
	if _, err := Apply(s, Mined{TxID: "stranger", Height: 700, Depth: 1}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("another transaction mined as the spend's: %v", err)
	}
	if _, err := Apply(unsigned(), Bumped{Plan: bump}, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("bumping an unsigned spend: %v", err)
	}
}
