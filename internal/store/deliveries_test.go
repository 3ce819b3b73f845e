package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// withEvents creates an invoice and commits n-1 more events on it (codes
// 1003, 1005, 1006, …), so it has n outbox events in all.
func withEvents(tb testing.TB, db *DB, storeID string, n int) *invoice.Invoice {
	tb.Helper()
	inv := newInvoice(storeID)
	mustCreate(tb, db, inv)
	codes := []invoice.Code{invoice.CodePaidInFull, invoice.CodeConfirmed, invoice.CodeCompleted,
		invoice.CodeManuallyNotified, invoice.CodeManuallyNotified, invoice.CodeManuallyNotified}
	for i := range n - 1 {
		mustCommit(tb, db, Change{Invoice: inv, Notes: []invoice.Notification{{Code: codes[i], Status: invoice.StatusPaid,
			At: testEpoch.Add(time.Duration(i+1) * time.Second)}}})
	}
	return inv
}

// planAll is a PlanFunc sending every event as an IPN to a host per
// invoice.
func planAll(ev OutboxEvent, _ func(int) (bool, error)) ([]NewDelivery, error) {
	return []NewDelivery{{Channel: ChannelIPN, Target: "https://" + ev.SubjectID + ".example/ipn", Host: ev.SubjectID + ".example"}}, nil
}

func mustPlan(tb testing.TB, db *DB, now time.Time, plan PlanFunc) PlanResult {
	tb.Helper()
	res, err := db.PlanDeliveries(context.Background(), now, 72*time.Hour, 1000, plan)
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	return res
}

func mustClaim(tb testing.TB, db *DB, o ClaimOptions) []Claimed {
	tb.Helper()
	if o.Channel == "" {
		o.Channel = ChannelIPN
	}
	if o.Lease == 0 {
		o.Lease = time.Minute
	}
	if o.Limit == 0 {
		o.Limit = 100
	}
	cs, err := db.ClaimDeliveries(context.Background(), o)
	if err != nil {
		tb.Fatalf("claim: %v", err)
	}
	return cs
}

func mustRecord(tb testing.TB, db *DB, rs ...AttemptResult) {
	tb.Helper()
	if err := db.RecordAttempts(context.Background(), rs); err != nil {
		tb.Fatalf("record: %v", err)
	}
}

func invoiceIDs(cs []Claimed) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SubjectID)
	}
	slices.Sort(out)
	return out
}

func TestPlanDeliveries(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 100)
		a := withEvents(t, db, s.ID, 3) // 1001, 1003, 1005
		c := withEvents(t, db, s.ID, 1) // 1001
		now := testEpoch.Add(time.Hour)
		var earlierSeen []bool
		res := mustPlan(t, db, now, func(ev OutboxEvent, earlier func(int) (bool, error)) ([]NewDelivery, error) {
			if ev.SubjectID == a.ID && invoice.Code(ev.Code) == invoice.CodeConfirmed {
				paid, err := earlier(int(invoice.CodePaidInFull))
				if err != nil {
					return nil, err
				}
				done, err := earlier(int(invoice.CodeCompleted))
				if err != nil {
					return nil, err
				}
				earlierSeen = []bool{paid, done}
			}
			if invoice.Code(ev.Code) == invoice.CodeCreated {
				return nil, nil // planned, but nothing to send
			}
			return []NewDelivery{
				{Channel: ChannelIPN, Target: "https://shop.example/ipn", Host: "shop.example"},
				{Channel: ChannelEmail, Target: "ops@shop.example"},
			}, nil
		})
		if res.Events != 4 || res.Deliveries[ChannelIPN] != 2 || res.Deliveries[ChannelEmail] != 2 {
			t.Errorf("plan = %+v, want 4 events, 2 IPN and 2 email deliveries", res)
		}
		if !slices.Equal(earlierSeen, []bool{true, false}) {
			t.Errorf("earlier(1003), earlier(1006) at the 1005 event = %v, want [true false]", earlierSeen)
		}
		for _, id := range []string{a.ID, c.ID} {
			evs, err := db.Outbox(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.DeliveredAt.IsZero() {
					t.Errorf("event %d of %s not marked planned", ev.Code, id)
				}
			}
		}
		if res := mustPlan(t, db, now, planAll); res.Events != 0 {
			t.Errorf("second plan planned %d events, want 0", res.Events)
		}
		ds, err := db.Deliveries(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 4 {
			t.Fatalf("invoice has %d deliveries, want 4", len(ds))
		}
		// By channel, then outbox order.
		want := []struct {
			channel string
			code    invoice.Code
		}{{ChannelEmail, 1003}, {ChannelEmail, 1005}, {ChannelIPN, 1003}, {ChannelIPN, 1005}}
		for i, d := range ds {
			if d.Channel != want[i].channel || invoice.Code(d.Code) != want[i].code || d.State != DeliveryPending ||
				d.SubjectID != a.ID || d.StoreID != s.ID || d.Attempts != 0 || len(d.EventID) != 22 ||
				!d.NextAttemptAt.Equal(now) || !d.Deadline.Equal(now.Add(72*time.Hour)) || !d.CreatedAt.Equal(now) {
				t.Errorf("delivery %d = %+v, want %s of %d pending, due now", i, d, want[i].channel, want[i].code)
			}
		}
		// New events are planned next time, old ones are not planned twice.
		mustCommit(t, db, Change{Invoice: c, Notes: []invoice.Notification{{Code: invoice.CodeExpired, Status: invoice.StatusExpired, At: now}}})
		if res := mustPlan(t, db, now, planAll); res.Events != 1 || res.Deliveries[ChannelIPN] != 1 {
			t.Errorf("plan after a new event = %+v, want 1 event", res)
		}
	})
}

// TestConcurrentPlanners plans the same events from two handles at once:
// each event is planned exactly once.
func TestConcurrentPlanners(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		url := b.open(t)
		one, two := openDB(t, url), openDB(t, url)
		s := newStore(t, one, 1000)
		var ids []string
		for range 40 {
			ids = append(ids, withEvents(t, one, s.ID, 3).ID)
		}
		var wg sync.WaitGroup
		for _, db := range []*DB{one, two, one, two} {
			wg.Go(func() {
				for {
					res, err := db.PlanDeliveries(ctx, testEpoch, time.Hour, 7, planAll)
					if err != nil {
						t.Errorf("plan: %v", err)
						return
					}
					n, err := db.PendingDeliveries(ctx, ChannelIPN)
					if err != nil || (res.Events == 0 && n == 120) {
						return
					}
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			ds, err := two.Deliveries(ctx, id)
			if err != nil || len(ds) != 3 {
				t.Fatalf("invoice %s has %d deliveries (%v), want 3", id, len(ds), err)
			}
		}
	})
}

func TestClaimOrderPerInvoice(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 100)
		a := withEvents(t, db, s.ID, 3)
		c := withEvents(t, db, s.ID, 1)
		now := testEpoch
		mustPlan(t, db, now, planAll)

		// Only the first of each invoice's deliveries is claimable.
		cs := mustClaim(t, db, ClaimOptions{Owner: "w1", Now: now})
		if got := invoiceIDs(cs); !slices.Equal(got, invoiceIDs([]Claimed{{Delivery: Delivery{Subject: SubjectInvoice, SubjectID: a.ID}}, {Delivery: Delivery{Subject: SubjectInvoice, SubjectID: c.ID}}})) {
			t.Fatalf("first claim got invoices %v, want one delivery of each", got)
		}
		var first Claimed
		for _, cl := range cs {
			if cl.SubjectID == a.ID {
				first = cl
			}
			if cl.LeaseOwner != "w1" || !cl.LeasedUntil.Equal(now.Add(time.Minute)) {
				t.Errorf("claimed lease %q until %v", cl.LeaseOwner, cl.LeasedUntil)
			}
			if cl.Event.Seq != cl.OutboxSeq || cl.Event.ID != cl.EventID || len(cl.Event.Snapshot) == 0 {
				t.Errorf("claimed delivery's event = %+v", cl.Event)
			}
		}
		if invoice.Code(first.Code) != invoice.CodeCreated {
			t.Fatalf("invoice's first claimed delivery is event %d, want 1001", first.Code)
		}
		// Leased deliveries are not claimed again, nor are the ones behind them.
		if cs := mustClaim(t, db, ClaimOptions{Owner: "w2", Now: now}); len(cs) != 0 {
			t.Fatalf("second claim got %d deliveries, want none", len(cs))
		}
		// Delivered: the next one of the invoice comes up.
		mustRecord(t, db, AttemptResult{DeliveryID: first.ID, Owner: "w1", At: now, StatusCode: 200,
			Latency: 1500 * time.Microsecond, State: DeliveryDelivered})
		cs = mustClaim(t, db, ClaimOptions{Owner: "w2", Now: now})
		if len(cs) != 1 || invoice.Code(cs[0].Code) != invoice.CodePaidInFull {
			t.Fatalf("claim after delivery = %+v, want the 1003 delivery", cs)
		}
		second := cs[0]
		// A failure waiting for its retry holds the invoice's queue.
		retry := now.Add(10 * time.Second)
		mustRecord(t, db, AttemptResult{DeliveryID: second.ID, Owner: "w2", At: now, StatusCode: 500,
			Latency: time.Millisecond, Error: "HTTP 500", State: DeliveryPending, NextAttemptAt: retry})
		if cs := mustClaim(t, db, ClaimOptions{Owner: "w2", Now: now.Add(5 * time.Second)}); len(cs) != 0 {
			t.Fatalf("claim before the retry got %+v, want none", cs)
		}
		// The delivery behind it waits as long, so due scans skip it.
		if ds, _ := db.Deliveries(ctx, a.ID); !ds[2].NextAttemptAt.Equal(retry) {
			t.Errorf("the delivery behind a retry is due at %v, want %v", ds[2].NextAttemptAt, retry)
		}
		if next, ok, err := db.NextDeliveryDue(ctx, ChannelIPN, now.Add(5*time.Second)); err != nil || !ok || !next.Equal(retry) {
			t.Errorf("NextDeliveryDue = %v, %v, %v; want %v", next, ok, err, retry)
		}
		cs = mustClaim(t, db, ClaimOptions{Owner: "w2", Now: retry})
		if len(cs) != 1 || cs[0].ID != second.ID || cs[0].Attempts != 1 || cs[0].LastError != "HTTP 500" {
			t.Fatalf("claim at the retry = %+v, want the 1003 delivery again", cs)
		}
		// A second failure pushes the one behind further; giving up brings
		// it back to the moment of giving up.
		mustRecord(t, db, AttemptResult{DeliveryID: second.ID, Owner: "w2", At: retry, StatusCode: 503, Error: "HTTP 503",
			State: DeliveryPending, NextAttemptAt: retry.Add(time.Hour)})
		if ds, _ := db.Deliveries(ctx, a.ID); !ds[2].NextAttemptAt.Equal(retry.Add(time.Hour)) {
			t.Errorf("the delivery behind a retry is due at %v, want %v", ds[2].NextAttemptAt, retry.Add(time.Hour))
		}
		// (c's first delivery, leased by w1 and never recorded, is up
		// again by now: its host is skipped.)
		skipC := []string{c.ID + ".example"}
		cs = mustClaim(t, db, ClaimOptions{Owner: "w2", Now: retry.Add(time.Hour), SkipHosts: skipC})
		if len(cs) != 1 || cs[0].ID != second.ID {
			t.Fatalf("claim at the second retry got %d deliveries, want the 1003 one", len(cs))
		}
		retry = retry.Add(time.Hour)
		mustRecord(t, db, AttemptResult{DeliveryID: second.ID, Owner: "w2", At: retry, Error: "connection refused",
			State: DeliveryFailed})
		cs = mustClaim(t, db, ClaimOptions{Owner: "w2", Now: retry, SkipHosts: skipC})
		if len(cs) != 1 || invoice.Code(cs[0].Code) != invoice.CodeConfirmed {
			t.Fatalf("claim after giving up got %d deliveries, want the 1005 one", len(cs))
		}

		ds, err := db.Deliveries(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		states := []string{ds[0].State, ds[1].State, ds[2].State}
		if !slices.Equal(states, []string{DeliveryDelivered, DeliveryFailed, DeliveryPending}) ||
			ds[0].DeliveredAt.IsZero() || ds[1].Attempts != 3 || ds[1].LastError != "connection refused" {
			t.Errorf("deliveries = %+v", ds)
		}
		atts, err := db.DeliveryAttempts(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(atts) != 4 {
			t.Fatalf("%d attempts, want 4", len(atts))
		}
		if a0 := atts[0]; a0.N != 1 || a0.StatusCode != 200 || a0.Latency != 1500*time.Microsecond || a0.Error != "" ||
			invoice.Code(a0.Code) != invoice.CodeCreated || a0.Channel != ChannelIPN || !a0.At.Equal(now) {
			t.Errorf("first attempt = %+v", a0)
		}
		if a3 := atts[3]; a3.N != 3 || a3.StatusCode != 0 || a3.Error != "connection refused" || a3.DeliveryID != second.ID {
			t.Errorf("fourth attempt = %+v", a3)
		}
	})
}

func TestLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 100)
		a := withEvents(t, db, s.ID, 1)
		c := withEvents(t, db, s.ID, 1)
		now := testEpoch
		mustPlan(t, db, now, planAll)

		// SkipHosts leaves busy hosts out.
		cs := mustClaim(t, db, ClaimOptions{Owner: "w1", Now: now, SkipHosts: []string{a.ID + ".example", "other.example"}})
		if len(cs) != 1 || cs[0].SubjectID != c.ID {
			t.Fatalf("claim skipping a's host = %+v", cs)
		}
		// Released deliveries are claimable at once.
		if err := db.ReleaseDeliveries(ctx, "w1", []int64{cs[0].ID}); err != nil {
			t.Fatal(err)
		}
		cs = mustClaim(t, db, ClaimOptions{Owner: "w1", Now: now, Limit: 1})
		if len(cs) != 1 {
			t.Fatalf("claim after release got %d", len(cs))
		}
		held := cs[0]
		// Another owner cannot release it.
		if err := db.ReleaseDeliveries(ctx, "w2", []int64{held.ID}); err != nil {
			t.Fatal(err)
		}
		rest := mustClaim(t, db, ClaimOptions{Owner: "w2", Now: now.Add(59 * time.Second)})
		if len(rest) != 1 || rest[0].ID == held.ID {
			t.Fatalf("claim while w1 holds a lease = %+v, want only the other delivery", rest)
		}
		// A lease that ran out is claimed by someone else.
		cs = mustClaim(t, db, ClaimOptions{Owner: "w3", Now: now.Add(61 * time.Second)})
		if len(cs) != 1 || cs[0].ID != held.ID {
			t.Fatalf("claim after the lease ran out = %+v", cs)
		}
		// The first owner's failure is counted but leaves the state alone;
		// the new owner's success delivers.
		mustRecord(t, db, AttemptResult{DeliveryID: held.ID, Owner: "w1", At: now.Add(62 * time.Second),
			Error: "timeout", State: DeliveryPending, NextAttemptAt: now.Add(time.Hour)})
		d := deliveryByID(t, db, held.SubjectID, held.ID)
		if d.State != DeliveryPending || d.LeaseOwner != "w3" || d.Attempts != 1 || !d.NextAttemptAt.Equal(now) {
			t.Errorf("after the lost lease's failure: %+v", d)
		}
		mustRecord(t, db, AttemptResult{DeliveryID: held.ID, Owner: "w3", At: now.Add(63 * time.Second), StatusCode: 204,
			State: DeliveryDelivered})
		d = deliveryByID(t, db, held.SubjectID, held.ID)
		if d.State != DeliveryDelivered || d.LeaseOwner != "" || !d.LeasedUntil.IsZero() || d.Attempts != 2 {
			t.Errorf("after the new owner's success: %+v", d)
		}
		// A lost lease's success still delivers.
		mustRecord(t, db, AttemptResult{DeliveryID: rest[0].ID, Owner: "w9", At: now.Add(64 * time.Second), StatusCode: 200,
			State: DeliveryDelivered})
		d = deliveryByID(t, db, rest[0].SubjectID, rest[0].ID)
		if d.State != DeliveryDelivered || d.Attempts != 1 {
			t.Errorf("after a lost lease's success: %+v", d)
		}
		if n, err := db.PendingDeliveries(ctx, ChannelIPN); err != nil || n != 0 {
			t.Errorf("PendingDeliveries = %d, %v", n, err)
		}
		if err := db.RecordAttempts(ctx, []AttemptResult{{DeliveryID: 1 << 40, Owner: "w1", State: DeliveryFailed}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("recording an attempt of a missing delivery: %v", err)
		}
	})
}

func deliveryByID(tb testing.TB, db *DB, invoiceID string, id int64) Delivery {
	tb.Helper()
	ds, err := db.Deliveries(context.Background(), invoiceID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d
		}
	}
	tb.Fatalf("no delivery %d", id)
	return Delivery{}
}

// TestConcurrentClaimers runs claimers on two handles of one database (two
// processes or nodes) at once: no delivery is held by two claimers, each
// invoice's deliveries go out one at a time in outbox order, and every
// delivery is delivered once.
func TestConcurrentClaimers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		url := b.open(t)
		one, two := openDB(t, url), openDB(t, url)
		s := newStore(t, one, 1000)
		const invoices, perInvoice = 30, 4
		for range invoices {
			withEvents(t, one, s.ID, perInvoice)
		}
		mustPlan(t, one, testEpoch, planAll)

		var (
			mu        sync.Mutex
			inFlight  = map[string]int64{} // invoice → delivery held
			lastSeq   = map[string]int64{} // invoice → outbox seq last delivered
			delivered = map[int64]int{}
			failures  []string
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		var wg sync.WaitGroup
		for i, db := range []*DB{one, two, one, two} {
			owner := fmt.Sprintf("w%d", i)
			wg.Go(func() {
				for idle := 0; idle < 50; {
					cs, err := db.ClaimDeliveries(ctx, ClaimOptions{Channel: ChannelIPN, Owner: owner, Now: testEpoch,
						Lease: time.Hour, Limit: 5})
					if err != nil {
						fail("claim: %v", err)
						return
					}
					if len(cs) == 0 {
						idle++
						time.Sleep(time.Millisecond)
						continue
					}
					idle = 0
					mu.Lock()
					for _, c := range cs {
						if held, ok := inFlight[c.SubjectID]; ok {
							failures = append(failures, fmt.Sprintf("%s claimed delivery %d of invoice %s while %d is in flight",
								owner, c.ID, c.SubjectID, held))
						}
						if c.OutboxSeq <= lastSeq[c.SubjectID] {
							failures = append(failures, fmt.Sprintf("invoice %s: seq %d after %d", c.SubjectID, c.OutboxSeq, lastSeq[c.SubjectID]))
						}
						inFlight[c.SubjectID] = c.ID
					}
					mu.Unlock()
					rs := make([]AttemptResult, len(cs))
					mu.Lock()
					for i, c := range cs {
						delete(inFlight, c.SubjectID)
						lastSeq[c.SubjectID] = c.OutboxSeq
						delivered[c.ID]++
						rs[i] = AttemptResult{DeliveryID: c.ID, Owner: owner, At: testEpoch, StatusCode: 200, State: DeliveryDelivered}
					}
					mu.Unlock()
					if err := db.RecordAttempts(ctx, rs); err != nil {
						fail("record: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		if len(delivered) != invoices*perInvoice {
			t.Errorf("%d deliveries delivered, want %d", len(delivered), invoices*perInvoice)
		}
		for id, n := range delivered {
			if n != 1 {
				t.Errorf("delivery %d claimed %d times", id, n)
			}
		}
		if n, err := two.PendingDeliveries(ctx, ChannelIPN); err != nil || n != 0 {
			t.Errorf("PendingDeliveries = %d, %v; want 0", n, err)
		}
	})
}

func TestSetStoreSignIPN(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		if got, _ := db.GetStore(ctx, s.ID); got.SignIPN {
			t.Error("a new store signs IPNs")
		}
		if err := db.SetStoreSignIPN(ctx, s.ID, true); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetStore(ctx, s.ID); !got.SignIPN {
			t.Error("SetStoreSignIPN(true) did not stick")
		}
		if err := db.SetStoreSignIPN(ctx, "missing", true); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetStoreSignIPN of a missing store: %v", err)
		}
	})
}
