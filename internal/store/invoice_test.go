package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/shopspring/decimal"
)

func TestInvoiceRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		change func(inv *invoice.Invoice)
	}{
		{"new without payments", func(inv *invoice.Invoice) {}},
		{"fields and exception", func(inv *invoice.Invoice) {
			inv.Exception = invoice.ExceptionPaidOver
			inv.Price = decimal.RequireFromString("1234567890.123456789")
			inv.Bound().Rate = decimal.RequireFromString("0.00000001")
			inv.Currency = "JPY"
			inv.Cancelled = true
			inv.Fields = invoice.Fields{
				OrderID: "order-7", ItemDesc: "Tea", ItemCode: "T1", PosData: `{"ref":42}`, GUID: "guid-7",
				NotificationURL: "https://shop.example/ipn", NotificationEmail: "ops@shop.example",
				RedirectURL: "https://shop.example/ok", CloseURL: "https://shop.example/close",
				AutoRedirect: true, FullNotifications: true, ExtendedNotifications: true, Physical: true,
				Buyer: invoice.Buyer{Name: "Ada", Address1: "1 Main St", Locality: "Zürich", Country: "CH",
					Email: "ada@example.org", Notify: true},
				Extra: json.RawMessage(`{"redirectAutomatically":true}`),
			}
		}},
		{"payments", func(inv *invoice.Invoice) {
			inv.Status = invoice.StatusConfirmed
			inv.Exception = invoice.ExceptionPaidLate
			inv.PaidAt = testEpoch.Add(3 * time.Minute)
			inv.Payments = []invoice.Payment{
				{Method: invoice.MethodBTC, TxID: "aa01", Vout: 1, Amount: 19000, Height: 812345, BlockHash: "0000beef",
					SeenAt: testEpoch.Add(time.Minute)},
				{Method: invoice.MethodBTC, TxID: "bb02", Vout: 0, Amount: 104, SeenAt: testEpoch.Add(2 * time.Minute), Removed: true},
				{Method: invoice.MethodBTC, TxID: "cc03", Vout: 7, Amount: 5, SeenAt: testEpoch.Add(20 * time.Minute), Late: true},
			}
		}},
	}
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				inv := newInvoice(s.ID)
				tt.change(inv)
				notes := createdNote(inv)
				if err := db.CreateInvoice(ctx, inv, notes, testAddress); err != nil {
					t.Fatal(err)
				}
				m := chain(inv)
				wantAddr, wantScript, _ := testAddress(s.ID, m.KeyIndex)
				if m.Destination != wantAddr || !slices.Equal(m.Script, wantScript) || inv.Version != 1 || m.Reused {
					t.Errorf("CreateInvoice set address %q script %x version %d reused %v", m.Destination, m.Script,
						inv.Version, m.Reused)
				}
				got, err := db.GetInvoice(ctx, inv.ID)
				if err != nil {
					t.Fatal(err)
				}
				assertInvoice(t, got, *inv)
				if inv.Fields.GUID != "" {
					byGUID, err := db.GetInvoiceByGUID(ctx, s.ID, inv.Fields.GUID)
					if err != nil {
						t.Fatal(err)
					}
					assertInvoice(t, byGUID, *inv)
				}
				evs, err := db.Outbox(ctx, inv.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 1 {
					t.Fatalf("outbox has %d events, want 1", len(evs))
				}
				e := evs[0]
				if invoice.Code(e.Code) != invoice.CodeCreated || e.Name != "invoice_created" || invoice.Status(e.Status) != invoice.StatusNew ||
					e.SubjectID != inv.ID || e.StoreID != s.ID || !e.CreatedAt.Equal(inv.CreatedAt) ||
					len(e.ID) != 22 || e.Attempts != 0 || !e.DeliveredAt.IsZero() {
					t.Errorf("outbox event = %+v", e)
				}
				var snap invoice.Invoice
				if err := json.Unmarshal(e.Snapshot, &snap); err != nil {
					t.Fatalf("snapshot: %v", err)
				}
				assertInvoice(t, snap, *inv)
			})
		}
		for _, lookup := range []func() error{
			func() error { _, err := db.GetInvoice(ctx, "missing"); return err },
			func() error { _, err := db.GetInvoiceByGUID(ctx, s.ID, "missing"); return err },
			func() error { _, err := db.GetInvoiceByGUID(ctx, s.ID, ""); return err },
		} {
			if err := lookup(); !errors.Is(err, ErrNotFound) {
				t.Errorf("lookup of a missing invoice error = %v, want ErrNotFound", err)
			}
		}
	})
}

// assertInvoice compares invoices field by field; decimals must be equal
// in value and times equal instants.
func assertInvoice(t *testing.T, got, want invoice.Invoice) {
	t.Helper()
	if !got.Price.Equal(want.Price) || got.Price.String() != want.Price.String() {
		t.Errorf("price = %s, want %s", got.Price, want.Price)
	}
	if !slices.EqualFunc(got.Methods, want.Methods, func(a, b invoice.Method) bool {
		return sameMethodRecord(a, b) && a.Rate.String() == b.Rate.String()
	}) {
		t.Errorf("methods = %+v, want %+v", got.Methods, want.Methods)
	}
	got.Price, want.Price = decimal.Zero, decimal.Zero
	got.Methods, want.Methods = nil, nil
	for _, p := range []*[]invoice.Payment{&got.Payments, &want.Payments} {
		for i := range *p {
			(*p)[i].SeenAt = (*p)[i].SeenAt.UTC()
		}
	}
	for _, tm := range []*time.Time{&got.CreatedAt, &got.ExpiresAt, &got.PaidAt, &got.UpdatedAt,
		&want.CreatedAt, &want.ExpiresAt, &want.PaidAt, &want.UpdatedAt} {
		*tm = tm.UTC()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("invoice round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestGroupCommit(t *testing.T) {
	const n = 200
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 1000)
		invs := make([]*invoice.Invoice, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range invs {
			invs[i] = newInvoice(s.ID)
			wg.Go(func() { errs[i] = db.CreateInvoice(ctx, invs[i], createdNote(invs[i]), testAddress) })
		}
		wg.Wait()
		var indexes []int
		for i, err := range errs {
			if err != nil {
				t.Fatalf("creator %d: %v", i, err)
			}
			indexes = append(indexes, int(invs[i].Method(invoice.MethodBTC).KeyIndex))
		}
		slices.Sort(indexes)
		for i, idx := range indexes {
			if idx != i {
				t.Fatalf("sorted key indexes = %v, want 0..%d", indexes, n-1)
			}
		}
		if run, err := db.GapRun(ctx, s.ID); err != nil || run != n {
			t.Errorf("GapRun = %d, %v; want %d", run, err, n)
		}
		evs, err := db.OutboxAfter(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		seen := make(map[string]int)
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Errorf("outbox seq %d after %d", e.Seq, evs[i-1].Seq)
			}
			if invoice.Code(e.Code) == invoice.CodeCreated {
				seen[e.SubjectID]++
			}
		}
		for _, inv := range invs {
			if seen[inv.ID] != 1 {
				t.Errorf("invoice %s has %d created events, want 1", inv.ID, seen[inv.ID])
			}
		}
		if len(evs) != n {
			t.Errorf("outbox has %d events, want %d", len(evs), n)
		}
		page, err := db.OutboxAfter(ctx, evs[9].Seq, 5)
		if err != nil || len(page) != 5 || page[0].Seq != evs[10].Seq {
			t.Errorf("OutboxAfter(seq of 10th, 5) = %d events, %v", len(page), err)
		}
	})
}

func TestDuplicateGUIDFailsOnlyItsCaller(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 1000)
		first := newInvoice(s.ID)
		first.Fields.GUID = "same"
		mustCreate(t, db, first)

		const n = 20
		invs := make([]*invoice.Invoice, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range invs {
			invs[i] = newInvoice(s.ID)
			invs[i].Fields.GUID = fmt.Sprintf("guid-%d", i)
			if i == n/2 {
				invs[i].Fields.GUID = "same"
			}
			wg.Go(func() { errs[i] = db.CreateInvoice(ctx, invs[i], createdNote(invs[i]), testAddress) })
		}
		wg.Wait()
		indexes := []int{int(chain(first).KeyIndex)}
		for i, err := range errs {
			if i == n/2 {
				if !errors.Is(err, ErrDuplicate) {
					t.Errorf("duplicate guid error = %v, want ErrDuplicate", err)
				}
				if _, err := db.GetInvoice(ctx, invs[i].ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("the duplicate was stored: %v", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("creator %d: %v", i, err)
			}
			indexes = append(indexes, int(invs[i].Method(invoice.MethodBTC).KeyIndex))
		}
		// The failed invoice gave its index back.
		slices.Sort(indexes)
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}; !slices.Equal(indexes, want) {
			t.Errorf("key indexes = %v, want %v", indexes, want)
		}
		if got, err := db.GetInvoiceByGUID(ctx, s.ID, "same"); err != nil || got.ID != first.ID {
			t.Errorf("GetInvoiceByGUID(same) = %s, %v; want %s", got.ID, err, first.ID)
		}
		// The guid is unique per store only.
		other := newStore(t, db, 20)
		inv := newInvoice(other.ID)
		inv.Fields.GUID = "same"
		mustCreate(t, db, inv)
		// An unknown store fails its caller with ErrNotFound.
		if err := db.CreateInvoice(ctx, newInvoice("missing"), nil, testAddress); !errors.Is(err, ErrNotFound) {
			t.Errorf("invoice of an unknown store error = %v, want ErrNotFound", err)
		}
		// So does a failing AddressFunc, without using up the index.
		broken := func(string, uint32) (string, []byte, error) { return "", nil, errors.New("bad key") }
		if err := db.CreateInvoice(ctx, newInvoice(other.ID), nil, broken); err == nil {
			t.Error("CreateInvoice with a failing AddressFunc succeeded")
		}
		next := newInvoice(other.ID)
		mustCreate(t, db, next)
		if chain(next).KeyIndex != 1 {
			t.Errorf("index after a failed derivation = %d, want 1", chain(next).KeyIndex)
		}
	})
}

// TestBatchWithDuplicate writes one batch holding a duplicate guid: the
// multi-row insert fails, the row-by-row retry finds the culprit, and the
// rest of the batch is stored.
func TestBatchWithDuplicate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 100)
		var reqs []*createRequest
		for i := range 4 {
			inv := newInvoice(s.ID)
			inv.Fields.GUID = fmt.Sprintf("g%d", i%3) // the fourth repeats the first's
			r := &createRequest{ctx: ctx, inv: *inv, notes: createdNote(inv), addr: testAddress, done: make(chan error, 1)}
			if err := r.encode(); err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
		}
		db.commitBatch(reqs)
		for i, r := range reqs {
			err := <-r.done
			if i == 3 {
				if !errors.Is(err, ErrDuplicate) {
					t.Errorf("duplicate error = %v, want ErrDuplicate", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			if r.index != uint32(i) {
				t.Errorf("request %d got index %d", i, r.index)
			}
		}
		evs, err := db.OutboxAfter(ctx, 0, 10)
		if err != nil || len(evs) != 3 {
			t.Errorf("outbox has %d events, %v; want 3", len(evs), err)
		}
	})
}

// expire moves an invoice to expired, optionally with a late payment.
func expire(t *testing.T, db *DB, inv *invoice.Invoice, late bool) {
	t.Helper()
	inv.Status = invoice.StatusExpired
	inv.UpdatedAt = inv.ExpiresAt
	if late {
		inv.Exception = invoice.ExceptionPaidLate
		inv.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "late" + inv.ID, Amount: 500, SeenAt: inv.ExpiresAt, Late: true}}
	}
	notes := []invoice.Notification{{Code: invoice.CodeExpired, Status: inv.Status, At: inv.UpdatedAt}}
	mustCommit(t, db, Change{Invoice: inv, Notes: notes})
}

func TestGapGovernor(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 3)
		create := func() *invoice.Invoice {
			inv := newInvoice(s.ID)
			mustCreate(t, db, inv)
			return inv
		}
		check := func(step string, inv *invoice.Invoice, index uint32, reused bool, run int) {
			t.Helper()
			if chain(inv).KeyIndex != index || chain(inv).Reused != reused {
				t.Errorf("%s: index %d reused %v, want %d %v", step, chain(inv).KeyIndex, chain(inv).Reused, index, reused)
			}
			if got, err := db.GapRun(ctx, s.ID); err != nil || got != run {
				t.Errorf("%s: GapRun = %d, %v; want %d", step, got, err, run)
			}
			stored, err := db.GetInvoice(ctx, inv.ID)
			if err != nil || chain(&stored).Destination != chain(inv).Destination || chain(&stored).Reused != reused {
				t.Errorf("%s: stored %+v, %v", step, stored, err)
			}
		}
		a0, a1, a2 := create(), create(), create()
		check("third unpaid", a2, 2, false, 3)

		expire(t, db, a1, false)
		b1 := create()
		check("reuse the expired unpaid one", b1, 1, true, 3)
		if chain(b1).Destination != chain(a1).Destination || !slices.Equal(chain(b1).Script, chain(a1).Script) {
			t.Errorf("reused address %s, want %s", chain(b1).Destination, chain(a1).Destination)
		}

		// a1's address is taken by b1 again; nothing else qualifies.
		c := create()
		check("none eligible goes past the gap", c, 3, false, 4)

		// An expired invoice that saw a (late) payment is never reused.
		expire(t, db, a0, true)
		d := create()
		check("paid late is not reused", d, 4, false, 4)

		// A payment to the newest index resets the run.
		d.Status, d.PaidAt, d.UpdatedAt = invoice.StatusPaid, testEpoch.Add(time.Minute), testEpoch.Add(time.Minute)
		d.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "pay", Amount: d.Due(), SeenAt: d.PaidAt}}
		mustCommit(t, db, Change{Invoice: d})
		if run, _ := db.GapRun(ctx, s.ID); run != 0 {
			t.Errorf("GapRun after paying the newest = %d, want 0", run)
		}
		e := create()
		check("paid resets the run", e, 5, false, 1)

		// An expired unpaid invoice below the last paid index is not reused.
		expire(t, db, a2, false)
		expire(t, db, b1, false)
		create()
		f := create()
		check("below the gap again", f, 7, false, 3)
		g := create()
		check("old unpaid below last paid is not reused", g, 8, false, 4)
	})
}

// TestGapGovernorWithinBatch writes one batch of two invoices at the gap
// limit: each reuses a different expired address.
func TestGapGovernorWithinBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		s := newStore(t, db, 2)
		a0, a1 := newInvoice(s.ID), newInvoice(s.ID)
		a1.CreatedAt = a0.CreatedAt.Add(time.Second)
		mustCreate(t, db, a0)
		mustCreate(t, db, a1)
		expire(t, db, a1, false)
		expire(t, db, a0, false)
		var reqs []*createRequest
		for range 3 {
			r := &createRequest{ctx: context.Background(), inv: *newInvoice(s.ID), addr: testAddress}
			if err := r.encode(); err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
		}
		if _, err := db.writeBatch(reqs, true); err != nil {
			t.Fatal(err)
		}
		got := []string{reqs[0].address, reqs[1].address, reqs[2].address}
		want0, _, _ := testAddress(s.ID, 2)
		if got[0] != chain(a0).Destination || got[1] != chain(a1).Destination || got[2] != want0 {
			t.Errorf("batch addresses = %v, want oldest expired first [%s %s %s]", got, chain(a0).Destination, chain(a1).Destination, want0)
		}
		if !reqs[0].reused || !reqs[1].reused || reqs[2].reused {
			t.Errorf("reused flags = %v %v %v, want true true false", reqs[0].reused, reqs[1].reused, reqs[2].reused)
		}
	})
}

func TestCommitConflictRollsBackEverything(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		x, y := newInvoice(s.ID), newInvoice(s.ID)
		mustCreate(t, db, x)
		mustCreate(t, db, y)

		stale := *x
		x.Status = invoice.StatusPaid
		x.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "t1", Amount: x.Due(), SeenAt: testEpoch}}
		mustCommit(t, db, Change{Invoice: x, Notes: []invoice.Notification{
			{Code: invoice.CodeReceivedPayment, Status: invoice.StatusNew, At: testEpoch},
			{Code: invoice.CodePaidInFull, Status: invoice.StatusPaid, At: testEpoch},
		}})
		if x.Version != 2 {
			t.Errorf("version after commit = %d, want 2", x.Version)
		}

		// y's change is fine, stale x is not: neither is stored, nor the blocks.
		y2 := *y
		y2.Status = invoice.StatusExpired
		y2.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "t2", Amount: 1, SeenAt: testEpoch}}
		stale.Status = invoice.StatusExpired
		err := db.Commit(ctx, []Change{
			{Invoice: &y2, Notes: []invoice.Notification{{Code: invoice.CodeExpired, Status: invoice.StatusExpired}}},
			{Invoice: &stale, Notes: []invoice.Notification{{Code: invoice.CodeExpired, Status: invoice.StatusExpired}}},
		}, &ChainUpdate{Rewind: NoRewind, Blocks: []ChainBlock{{Height: 100, Hash: "h100"}}})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Commit with a stale version error = %v, want ErrConflict", err)
		}
		if y2.Version != 1 || stale.Version != 1 {
			t.Errorf("versions after a failed commit = %d %d, want 1 1", y2.Version, stale.Version)
		}
		gotY, _ := db.GetInvoice(ctx, y.ID)
		if gotY.Status != invoice.StatusNew || gotY.Version != 1 || len(gotY.Payments) != 0 {
			t.Errorf("y after rollback = %s v%d %d payments", gotY.Status, gotY.Version, len(gotY.Payments))
		}
		gotX, _ := db.GetInvoice(ctx, x.ID)
		if gotX.Status != invoice.StatusPaid || gotX.Version != 2 {
			t.Errorf("x = %s v%d, want paid v2", gotX.Status, gotX.Version)
		}
		for id, want := range map[string][]invoice.Code{
			x.ID: {invoice.CodeCreated, invoice.CodeReceivedPayment, invoice.CodePaidInFull},
			y.ID: {invoice.CodeCreated},
		} {
			evs, err := db.Outbox(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var codes []invoice.Code
			for _, e := range evs {
				codes = append(codes, invoice.Code(e.Code))
			}
			if !slices.Equal(codes, want) {
				t.Errorf("outbox of %s = %v, want %v", id, codes, want)
			}
		}
		if blocks, _ := db.RecentBlocks(ctx); len(blocks) != 0 {
			t.Errorf("blocks after rollback = %v", blocks)
		}
		// The snapshot of the 1003 is the invoice after the change.
		evs, _ := db.Outbox(ctx, x.ID)
		var snap invoice.Invoice
		if err := json.Unmarshal(evs[2].Snapshot, &snap); err != nil || snap.Status != invoice.StatusPaid || snap.Version != 2 {
			t.Errorf("paidInFull snapshot = %s v%d, %v", snap.Status, snap.Version, err)
		}
		// Only x's payment counts for the gap: y's rolled back.
		if run, _ := db.GapRun(ctx, s.ID); run != 2-1-int(chain(x).KeyIndex) {
			t.Errorf("GapRun = %d, want %d", run, 2-1-int(chain(x).KeyIndex))
		}
	})
}

func TestChainBlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		hash := func(h int32, fork string) string { return fmt.Sprintf("%s%d", fork, h) }
		for start := int32(1); start <= 300; start += 50 {
			cu := &ChainUpdate{Rewind: NoRewind}
			for h := start; h < start+50 && h <= 300; h++ {
				cu.Blocks = append(cu.Blocks, ChainBlock{Height: h, Hash: hash(h, "a")})
			}
			if err := db.Commit(ctx, nil, cu); err != nil {
				t.Fatal(err)
			}
		}
		blocks, err := db.RecentBlocks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) != KeepBlocks || blocks[0].Height != 300-KeepBlocks+1 || blocks[len(blocks)-1] != (ChainBlock{300, "a300"}) {
			t.Fatalf("kept %d blocks from %v to %v", len(blocks), blocks[0], blocks[len(blocks)-1])
		}
		// A reorg disconnects 299 and 300 and connects b299.
		err = db.Commit(ctx, nil, &ChainUpdate{Rewind: 298, Blocks: []ChainBlock{{299, "b299"}}})
		if err != nil {
			t.Fatal(err)
		}
		blocks, _ = db.RecentBlocks(ctx)
		if last := blocks[len(blocks)-1]; last != (ChainBlock{299, "b299"}) || blocks[len(blocks)-2] != (ChainBlock{298, "a298"}) {
			t.Errorf("tip after reorg = %v, %v", blocks[len(blocks)-2], last)
		}
		for i := 1; i < len(blocks); i++ {
			if blocks[i].Height != blocks[i-1].Height+1 {
				t.Fatalf("blocks not ascending and contiguous at %d: %v", i, blocks[i])
			}
		}
	})
}

func TestWatchSet(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 100)
		var invs []*invoice.Invoice
		for range 6 {
			inv := newInvoice(s.ID)
			mustCreate(t, db, inv)
			invs = append(invs, inv)
		}
		// 0 paid, 1 confirmed, 2 invalid stay open; 3 expired long ago,
		// 4 completed recently, 5 new.
		moves := []struct {
			status  invoice.Status
			updated time.Time
		}{
			{invoice.StatusPaid, testEpoch}, {invoice.StatusConfirmed, testEpoch}, {invoice.StatusInvalid, testEpoch},
			{invoice.StatusExpired, testEpoch.Add(-48 * time.Hour)}, {invoice.StatusComplete, testEpoch.Add(time.Hour)},
		}
		for i, m := range moves {
			invs[i].Status, invs[i].UpdatedAt = m.status, m.updated
			mustCommit(t, db, Change{Invoice: invs[i]})
		}
		open, err := db.OpenInvoices(ctx, testEpoch.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, inv := range open {
			got = append(got, inv.ID)
		}
		want := []string{invs[0].ID, invs[1].ID, invs[2].ID, invs[4].ID, invs[5].ID}
		if !slices.Equal(got, want) {
			t.Errorf("OpenInvoices = %v, want %v", got, want)
		}

		var all []string
		seq := int64(0)
		for {
			page, last, err := db.InvoicesAfter(ctx, seq, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				if last != seq {
					t.Errorf("empty page moved seq from %d to %d", seq, last)
				}
				break
			}
			if last <= seq {
				t.Fatalf("seq went from %d to %d", seq, last)
			}
			for _, inv := range page {
				all = append(all, inv.ID)
			}
			seq = last
		}
		var ids []string
		for _, inv := range invs {
			ids = append(ids, inv.ID)
		}
		if !slices.Equal(all, ids) {
			t.Errorf("InvoicesAfter paged %v, want %v", all, ids)
		}
		later := newInvoice(s.ID)
		mustCreate(t, db, later)
		page, _, err := db.InvoicesAfter(ctx, seq, 10)
		if err != nil || len(page) != 1 || page[0].ID != later.ID {
			t.Errorf("InvoicesAfter(last) = %d invoices, %v; want the one created since", len(page), err)
		}

		list, err := db.ListInvoices(ctx, s.ID, 3)
		if err != nil || len(list) != 3 || list[0].ID != later.ID || list[1].ID != invs[5].ID {
			t.Errorf("ListInvoices = %d, %v; want the newest 3 newest first", len(list), err)
		}
	})
}

// TestTwoHandles is a CLI command writing while `kassa serve` writes: two
// *DB on the same database create invoices and commit changes at once.
func TestTwoHandles(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		url := b.open(t)
		serve, cli := openDB(t, url), openDB(t, url)
		s := newStore(t, serve, 1000)
		const perHandle = 100
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			invs []*invoice.Invoice
			errs []error
		)
		for _, db := range []*DB{serve, cli} {
			for range perHandle {
				wg.Go(func() {
					inv := newInvoice(s.ID)
					err := db.CreateInvoice(ctx, inv, createdNote(inv), testAddress)
					if err == nil {
						inv.Status = invoice.StatusExpired
						err = db.UpdateInvoice(ctx, inv, nil)
					}
					mu.Lock()
					defer mu.Unlock()
					invs = append(invs, inv)
					errs = append(errs, err)
				})
			}
		}
		wg.Wait()
		seen := make(map[uint32]bool)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			if seen[invs[i].Method(invoice.MethodBTC).KeyIndex] {
				t.Fatalf("index %d handed out twice", invs[i].Method(invoice.MethodBTC).KeyIndex)
			}
			seen[invs[i].Method(invoice.MethodBTC).KeyIndex] = true
		}
		if run, _ := cli.GapRun(ctx, s.ID); run != 2*perHandle {
			t.Errorf("GapRun = %d, want %d", run, 2*perHandle)
		}
		evs, err := cli.OutboxAfter(ctx, 0, 1000)
		if err != nil || len(evs) != 2*perHandle {
			t.Errorf("outbox has %d events, %v; want %d", len(evs), err, 2*perHandle)
		}
	})
}

func TestCancelledContext(t *testing.T) {
	db := newDB(t, backends()[0])
	s := newStore(t, db, 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.CreateInvoice(ctx, newInvoice(s.ID), nil, testAddress); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateInvoice with a cancelled context error = %v", err)
	}
	inv := newInvoice(s.ID)
	mustCreate(t, db, inv)
	if chain(inv).KeyIndex != 0 {
		t.Errorf("index after a cancelled call = %d, want 0", chain(inv).KeyIndex)
	}
}
