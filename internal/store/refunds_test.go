package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/shopspring/decimal"
)

// TestRefunds: a refund is stored with its events in one unit, read back
// whole, found by guid (unique per store) and by invoice, and changed
// only from the version it was read at.
func TestRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, inv := dbWithInvoice(t, b)
		r := refund.Refund{ID: auth.NewID(), StoreID: s.ID, InvoiceID: inv.ID, Token: auth.NewResourceToken(), GUID: "g-1",
			Status: refund.StatusCreated, Amount: decimal.RequireFromString("12.50"), Currency: "USD",
			Rate: decimal.RequireFromString("65432.10"), NotificationURL: "https://shop.example/ipn", Sats: 19_104,
			BuyerPaysFee: true, Cancellable: true, Address: "bcrt1qbuyer", Email: "jo@example.com", RequestedAt: testEpoch, UpdatedAt: testEpoch}
		created := []refund.Notification{{Code: refund.CodeCreated, Status: refund.StatusCreated, At: testEpoch}}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&r, created) }); err != nil {
			t.Fatal(err)
		}
		if r.Version != 1 {
			t.Fatalf("version after insert = %d", r.Version)
		}
		got, err := db.GetRefund(ctx, r.ID)
		if err != nil || got.Amount.String() != "12.5" || got.Rate.String() != "65432.1" || got.Sats != r.Sats ||
			!got.RequestedAt.Equal(r.RequestedAt) {
			t.Fatalf("GetRefund = %+v, %v", got, err)
		}
		got.Amount, got.Rate, got.RequestedAt, got.UpdatedAt = r.Amount, r.Rate, r.RequestedAt, r.UpdatedAt
		if got != r {
			t.Errorf("GetRefund = %+v, want %+v", got, r)
		}
		dup := r
		dup.ID, dup.Version = auth.NewID(), 0
		if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&dup, nil) }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("a second refund with the guid: %v", err)
		}
		if byGUID, err := db.GetRefundByGUID(ctx, s.ID, "g-1"); err != nil || byGUID.ID != r.ID {
			t.Errorf("GetRefundByGUID = %+v, %v", byGUID, err)
		}
		if _, err := db.GetRefundByGUID(ctx, s.ID, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("empty guid: %v", err)
		}
		if _, err := db.GetRefund(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown refund: %v", err)
		}

		// Broadcast: the change and its event commit together.
		stale := r
		next, notes, err := refund.Apply(r, refund.Broadcast{TxID: "tx1", Fee: 300}, testEpoch.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&next, notes) }); err != nil {
			t.Fatal(err)
		}
		if next.Version != 2 {
			t.Errorf("version after update = %d", next.Version)
		}
		if got, _ := db.GetRefund(ctx, r.ID); got.Status != refund.StatusPending || got.TxID != "tx1" || got.Fee != 300 || got.Version != 2 {
			t.Errorf("after broadcast: %+v", got)
		}
		// A change computed from an older version stores nothing, its
		// events included.
		cancelled, notes, _ := refund.Apply(stale, refund.Cancel{}, testEpoch.Add(2*time.Minute))
		err = db.Unit(ctx, func(u *Unit) error { return u.Refund(&cancelled, notes) })
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if got, _ := db.GetRefund(ctx, r.ID); got.Status != refund.StatusPending {
			t.Errorf("a stale update changed the refund: %s", got.Status)
		}
		evs, err := db.Outbox(ctx, r.ID)
		if err != nil || len(evs) != 2 {
			t.Fatalf("refund events: %d, %v", len(evs), err)
		}
		for i, want := range []refund.Code{refund.CodeCreated, refund.CodePending} {
			e := evs[i]
			var snap refund.Refund
			if e.Subject != SubjectRefund || e.Code != int(want) || e.Name != want.Name() || json.Unmarshal(e.Snapshot, &snap) != nil ||
				snap.ID != r.ID || snap.Version != int64(i+1) {
				t.Errorf("event %d = %+v (snapshot %+v)", i, e, snap)
			}
		}
		other := r
		other.ID, other.GUID, other.Version, other.RequestedAt = auth.NewID(), "", 0, testEpoch.Add(time.Hour)
		if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&other, nil) }); err != nil {
			t.Fatal(err)
		}
		list, err := db.InvoiceRefunds(ctx, inv.ID)
		if err != nil || len(list) != 2 || list[0].ID != r.ID || list[1].ID != other.ID {
			t.Errorf("InvoiceRefunds = %+v, %v", list, err)
		}

		// The store's list: newest first, by status, bounded; another
		// store has none of them.
		for _, c := range []struct {
			store  string
			status refund.Status
			limit  int
			want   []string
		}{{s.ID, "", 10, []string{other.ID, r.ID}}, {s.ID, refund.StatusPending, 10, []string{r.ID}},
			{s.ID, refund.StatusCreated, 10, []string{other.ID}}, {s.ID, refund.StatusCancelled, 10, nil},
			{s.ID, "", 1, []string{other.ID}}, {"other store", "", 10, nil}} {
			list, err := db.StoreRefunds(ctx, c.store, c.status, c.limit)
			var ids []string
			for _, x := range list {
				ids = append(ids, x.ID)
			}
			if err != nil || !slices.Equal(ids, c.want) {
				t.Errorf("StoreRefunds(%s, %q, %d) = %v, %v; want %v", c.store, c.status, c.limit, ids, err, c.want)
			}
		}

		// To pay: created with an address and no open spend; the pending
		// one is out, and so is one whose spend is made.
		if pay, err := db.RefundsToPay(ctx); err != nil || len(pay) != 1 || pay[0].ID != other.ID {
			t.Errorf("RefundsToPay = %+v, %v", pay, err)
		}
		sp := spend.Spend{ID: auth.NewID(), StoreID: s.ID, Kind: spend.KindRefund, SubjectID: other.ID,
			Status: spend.StatusUnsigned, CreatedAt: testEpoch, UpdatedAt: testEpoch}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Spend(&sp) }); err != nil {
			t.Fatal(err)
		}
		if pay, err := db.RefundsToPay(ctx); err != nil || len(pay) != 0 {
			t.Errorf("RefundsToPay with the spend made = %+v, %v", pay, err)
		}

		// The store's own addresses are its invoices'; another store's
		// are not its own.
		for _, c := range []struct {
			store, addr string
			want        bool
		}{{s.ID, chain(inv).Destination, true}, {s.ID, "bcrt1qbuyer", false}, {"other store", chain(inv).Destination, false}} {
			if got, err := db.StoreHasAddress(ctx, c.store, c.addr); err != nil || got != c.want {
				t.Errorf("StoreHasAddress(%s, %s) = %v, %v; want %v", c.store, c.addr, got, err, c.want)
			}
		}
	})
}

// TestRefundsPastAddressDeadline: a refund waiting for its buyer's address
// keeps its secret and deadline, and is listed once the deadline is
// reached, and no longer once it has an address or another status.
func TestRefundsPastAddressDeadline(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, inv := dbWithInvoice(t, b)
		deadline := testEpoch.Add(30 * 24 * time.Hour)
		mk := func(address string, deadline time.Time, status refund.Status) refund.Refund {
			r := refund.Refund{ID: auth.NewID(), StoreID: s.ID, InvoiceID: inv.ID, Token: auth.NewResourceToken(),
				Status: status, Amount: decimal.RequireFromString("0.0001"), Currency: "BTC", Rate: decimal.NewFromInt(1),
				Sats: 10_000, Cancellable: true, Address: address, AddressSecret: auth.NewResourceToken(), AddressDeadline: deadline,
				RequestedAt: testEpoch, UpdatedAt: testEpoch}
			if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&r, nil) }); err != nil {
				t.Fatal(err)
			}
			return r
		}
		waiting := mk("", deadline, refund.StatusCreated)
		later := mk("", deadline.Add(time.Hour), refund.StatusCreated)
		mk("bcrt1qbuyer", time.Time{}, refund.StatusCreated)
		mk("", deadline, refund.StatusCancelled)
		mk("", time.Time{}, refund.StatusCreated) // made before deadlines
		if got, err := db.GetRefund(ctx, waiting.ID); err != nil || got.AddressSecret != waiting.AddressSecret ||
			!got.AddressDeadline.Equal(deadline) {
			t.Fatalf("GetRefund = %+v, %v", got, err)
		}
		ids := func(at time.Time) []string {
			rs, err := db.RefundsPastAddressDeadline(ctx, at, 10)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		if got := ids(deadline.Add(-time.Millisecond)); len(got) != 0 {
			t.Errorf("before the deadline: %v", got)
		}
		if got := ids(deadline); len(got) != 1 || got[0] != waiting.ID {
			t.Errorf("at the deadline: %v, want %s", got, waiting.ID)
		}
		if got := ids(deadline.Add(2 * time.Hour)); len(got) != 2 || got[0] != waiting.ID || got[1] != later.ID {
			t.Errorf("after both deadlines: %v", got)
		}
		// The address given, the refund waits no more.
		next, _, err := refund.Apply(waiting, refund.SetAddress{Address: "bcrt1qbuyer2"}, testEpoch.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Refund(&next, nil) }); err != nil {
			t.Fatal(err)
		}
		if got := ids(deadline.Add(2 * time.Hour)); len(got) != 1 || got[0] != later.ID {
			t.Errorf("after the address was given: %v", got)
		}
	})
}
