package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spend"
)

// hotSpend stores an unsigned spend of the store, for hot_signatures to
// refer to.
func hotSpend(t *testing.T, db *DB, storeID string) string {
	t.Helper()
	sp := spend.Spend{ID: auth.NewID(), StoreID: storeID, Kind: spend.KindRefund, SubjectID: auth.NewID(),
		Status: spend.StatusUnsigned, CreatedAt: testEpoch, UpdatedAt: testEpoch}
	if err := db.Unit(context.Background(), func(u *Unit) error { return u.Spend(&sp) }); err != nil {
		t.Fatal(err)
	}
	return sp.ID
}

// TestHotKeys: a hot key is stored, replaced, listed and removed; the
// budget counts the hot signatures of the last window only, and a store
// without a hot key has none.
func TestHotKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, _ := dbWithInvoice(t, b)
		if _, err := db.GetHotKey(ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no hot key: %v", err)
		}
		if err := db.Unit(ctx, func(u *Unit) error { _, _, err := u.HotBudget(s.ID, testEpoch); return err }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the budget of a store without a hot key: %v", err)
		}
		k := HotKey{StoreID: s.ID, Sealed: []byte{1, 0, 2, 0xff}, DailyLimit: 50_000, CreatedAt: testEpoch}
		if err := db.PutHotKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		k.Sealed, k.DailyLimit = []byte{3, 4}, 60_000
		if err := db.PutHotKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if got, err := db.GetHotKey(ctx, s.ID); err != nil || !reflect.DeepEqual(got, k) {
			t.Fatalf("GetHotKey = %+v, %v; want %+v", got, err, k)
		}
		if all, err := db.HotKeys(ctx); err != nil || len(all) != 1 || all[0].StoreID != s.ID {
			t.Fatalf("HotKeys = %+v, %v", all, err)
		}

		old, recent := hotSpend(t, db, s.ID), hotSpend(t, db, s.ID)
		err := db.Unit(ctx, func(u *Unit) error {
			if err := u.HotSigned(s.ID, old, 10_000, testEpoch); err != nil {
				return err
			}
			return u.HotSigned(s.ID, recent, 20_000, testEpoch.Add(23*time.Hour))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Unit(ctx, func(u *Unit) error { return u.HotSigned(s.ID, old, 1, testEpoch) }); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("a spend signed twice: %v", err)
		}
		var limit, spent money.Sats
		err = db.Unit(ctx, func(u *Unit) (err error) {
			limit, spent, err = u.HotBudget(s.ID, testEpoch.Add(time.Hour))
			return err
		})
		if err != nil || limit != 60_000 || spent != 20_000 {
			t.Fatalf("HotBudget = %d, %d, %v; want 60000, 20000", limit, spent, err)
		}

		if err := db.DeleteHotKey(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteHotKey(ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

// TestHotBudgetSerializes: two nodes (two handles on one database) check
// the budget and record a hot signature at once; the limit holds room for
// one, and exactly one records.
func TestHotBudgetSerializes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		url := b.open(t)
		nodes := []*DB{openDB(t, url), openDB(t, url)}
		s := newStore(t, nodes[0], 20)
		if err := nodes[0].PutHotKey(ctx, HotKey{StoreID: s.ID, Sealed: []byte{1}, DailyLimit: 30_000, CreatedAt: testEpoch}); err != nil {
			t.Fatal(err)
		}
		over := errors.New("over the limit")
		var (
			wg      sync.WaitGroup
			results = make([]error, len(nodes))
			start   = make(chan struct{})
		)
		for i, db := range nodes {
			id := hotSpend(t, db, s.ID)
			wg.Go(func() {
				<-start
				results[i] = db.Unit(ctx, func(u *Unit) error {
					limit, spent, err := u.HotBudget(s.ID, testEpoch.Add(-time.Hour))
					if err != nil {
						return err
					}
					time.Sleep(50 * time.Millisecond) // the other node tries meanwhile
					if spent+20_000 > limit {
						return over
					}
					return u.HotSigned(s.ID, id, 20_000, testEpoch)
				})
			})
		}
		close(start)
		wg.Wait()
		signed, refused := 0, 0
		for _, err := range results {
			switch {
			case err == nil:
				signed++
			case errors.Is(err, over):
				refused++
			default:
				t.Fatal(err)
			}
		}
		if signed != 1 || refused != 1 {
			t.Fatalf("%d signed, %d refused; want one each", signed, refused)
		}
	})
}
