package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/spend"
)

// TestSpends: a spend is stored and read back whole; a subject has at most
// one open spend (a second is ErrDuplicate, a new one after the first
// failed is fine); a change from an older version stores nothing; the
// change branch's next index follows the spends that used one; SpendsOf
// finds a subject's spends, failed ones too.
func TestSpends(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, _ := dbWithInvoice(t, b)
		sp := spend.Spend{ID: auth.NewID(), StoreID: s.ID, Kind: spend.KindRefund, SubjectID: "r1",
			Status: spend.StatusUnsigned, Plan: spend.Plan{
				Inputs:  []spend.Input{{TxID: "aa", Vout: 1, Amount: 90_000}},
				Outputs: []spend.Output{{Address: "bcrt1qbuyer", Amount: 40_000}},
				Change:  49_000, ChangeIndex: 3, FeeRate: 4, Fee: 1_000, PSBT: []byte("psbt\xff\x00")},
			CreatedAt: testEpoch, UpdatedAt: testEpoch}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&sp) }); err != nil {
			t.Fatal(err)
		}
		if sp.Version != 1 {
			t.Fatalf("version after insert = %d", sp.Version)
		}
		got, err := db.GetSpend(ctx, sp.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.CreatedAt, got.UpdatedAt = sp.CreatedAt, sp.UpdatedAt
		got.Tx = sp.Tx
		if !reflect.DeepEqual(got, sp) {
			t.Fatalf("GetSpend = %+v\nwant %+v", got, sp)
		}
		if open, err := db.OpenSpendOf(ctx, spend.KindRefund, "r1"); err != nil || open.ID != sp.ID {
			t.Fatalf("OpenSpendOf = %+v, %v", open, err)
		}
		second := sp
		second.ID, second.Version = auth.NewID(), 0
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&second) }); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("a second open spend for one refund: %v", err)
		}
		if next, err := db.NextChangeIndex(ctx, s.ID); err != nil || next != 4 {
			t.Fatalf("NextChangeIndex = %d, %v", next, err)
		}

		signed, err := spend.Apply(sp, spend.Signed{TxID: "tx1", Tx: []byte{1, 2, 3}}, testEpoch.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&signed) }); err != nil {
			t.Fatal(err)
		}
		stale, _ := spend.Apply(sp, spend.Cancel{Reason: "x"}, testEpoch.Add(2*time.Minute))
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&stale) }); !errors.Is(err, ErrConflict) {
			t.Fatalf("a stale change: %v", err)
		}
		got, _ = db.GetSpend(ctx, sp.ID)
		if got.Status != spend.StatusSigned || got.TxID != "tx1" || string(got.Tx) != "\x01\x02\x03" || got.Version != 2 {
			t.Fatalf("after signing: %+v", got)
		}
		if list, err := db.SpendsIn(ctx, spend.StatusSigned, spend.StatusBroadcast); err != nil || len(list) != 1 {
			t.Fatalf("SpendsIn = %d, %v", len(list), err)
		}
		if list, err := db.Spends(ctx, s.ID, spend.StatusUnsigned); err != nil || len(list) != 0 {
			t.Fatalf("Spends(unsigned) = %d, %v", len(list), err)
		}

		// Once the first fails, the subject may have a new spend.
		failed, _ := spend.Apply(got, spend.Conflicted{By: "other"}, testEpoch.Add(3*time.Minute))
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&failed) }); err != nil {
			t.Fatal(err)
		}
		second.ID = auth.NewID()
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&second) }); err != nil {
			t.Fatalf("a new spend after the first failed: %v", err)
		}
		// Both spends of r1, the failed one too; none of an unknown
		// subject, another kind or another store.
		list, err := db.SpendsOf(ctx, s.ID, spend.KindRefund, "r1", "r2")
		if err != nil || len(list) != 2 {
			t.Fatalf("SpendsOf(r1, r2) = %+v, %v", list, err)
		}
		statuses := map[string]spend.Status{list[0].ID: list[0].Status, list[1].ID: list[1].Status}
		if statuses[sp.ID] != spend.StatusFailed || statuses[second.ID] != spend.StatusUnsigned {
			t.Fatalf("SpendsOf(r1, r2) = %v", statuses)
		}
		for _, q := range []struct {
			store, subject string
			kind           spend.Kind
		}{{s.ID, "r2", spend.KindRefund}, {s.ID, "r1", spend.KindPayout}, {"other", "r1", spend.KindRefund}} {
			if list, err := db.SpendsOf(ctx, q.store, q.kind, q.subject); err != nil || len(list) != 0 {
				t.Fatalf("SpendsOf(%+v) = %+v, %v", q, list, err)
			}
		}
		if list, err := db.SpendsOf(ctx, s.ID, spend.KindRefund); err != nil || len(list) != 0 {
			t.Fatalf("SpendsOf() = %+v, %v", list, err)
		}
		if _, err := db.GetSpend(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown spend: %v", err)
		}
	})
}
