package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestEventStreamQueries checks the event stream's queries on both
// databases: finding an invoice by its resource token, following the
// whole outbox by position, one invoice's events after a position and its
// latest event.
func TestEventStreamQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := context.Background()
		if seqs, err := db.LatestOutboxSeqs(ctx, 10); err != nil || len(seqs) != 0 {
			t.Fatalf("empty outbox: %v %v", seqs, err)
		}
		s := newStore(t, db, 100)
		a, other := newInvoice(s.ID), newInvoice(s.ID)
		mustCreate(t, db, a)
		mustCreate(t, db, other)
		paid := *a
		paid.Status = invoice.StatusPaid
		mustCommit(t, db, Change{Invoice: &paid, Notes: []invoice.Notification{
			{Code: invoice.CodeReceivedPayment, Status: invoice.StatusPaid, At: testEpoch},
			{Code: invoice.CodePaidInFull, Status: invoice.StatusPaid, At: testEpoch},
		}})

		got, err := db.InvoiceByToken(ctx, a.Token)
		if err != nil || got.ID != a.ID || got.Status != invoice.StatusPaid {
			t.Fatalf("by token: %+v %v", got, err)
		}
		for _, bad := range []string{"", "nope", a.ID} {
			if _, err := db.InvoiceByToken(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Fatalf("token %q: want ErrNotFound, have %v", bad, err)
			}
		}

		all, err := db.OutboxAfter(ctx, 0, 100)
		if err != nil || len(all) != 4 {
			t.Fatalf("outbox: %d events, %v", len(all), err)
		}
		var want []int64
		for _, e := range all {
			want = append(want, e.Seq)
		}
		seqs, err := db.LatestOutboxSeqs(ctx, 3)
		if err != nil || !slices.Equal(seqs, want[1:]) {
			t.Fatalf("latest 3 positions: want %v, have %v (%v)", want[1:], seqs, err)
		}

		// By position: missing numbers are skipped, the order is the
		// outbox's whatever the order asked in.
		byPos, err := db.OutboxSeqs(ctx, []int64{want[3], want[3] + 1000, want[0]})
		if err != nil || len(byPos) != 2 || byPos[0].Seq != want[0] || byPos[1].Seq != want[3] {
			t.Fatalf("by position: %+v %v", byPos, err)
		}
		many := make([]int64, 0, 2*maxSeqsPerQuery+1)
		for i := range int64(cap(many)) {
			many = append(many, want[3]+1+i)
		}
		many = append(many, want[2])
		if byPos, err := db.OutboxSeqs(ctx, many); err != nil || len(byPos) != 1 || byPos[0].Seq != want[2] {
			t.Fatalf("by position, several statements: %d events, %v", len(byPos), err)
		}

		evs, err := db.InvoiceOutboxAfter(ctx, a.ID, 0, 10)
		if err != nil || len(evs) != 3 {
			t.Fatalf("invoice outbox: %d events, %v", len(evs), err)
		}
		if invoice.Code(evs[0].Code) != invoice.CodeCreated || invoice.Code(evs[1].Code) != invoice.CodeReceivedPayment || invoice.Code(evs[2].Code) != invoice.CodePaidInFull {
			t.Fatalf("invoice outbox order: %v %v %v", evs[0].Code, evs[1].Code, evs[2].Code)
		}
		after, err := db.InvoiceOutboxAfter(ctx, a.ID, evs[1].Seq, 10)
		if err != nil || len(after) != 1 || after[0].Seq != evs[2].Seq {
			t.Fatalf("invoice outbox after %d: %+v %v", evs[1].Seq, after, err)
		}
		if page, err := db.InvoiceOutboxAfter(ctx, a.ID, 0, 2); err != nil || len(page) != 2 {
			t.Fatalf("invoice outbox page: %d events, %v", len(page), err)
		}

		latest, err := db.LatestInvoiceEvent(ctx, a.ID)
		if err != nil || latest.Seq != evs[2].Seq {
			t.Fatalf("latest event: %+v %v", latest, err)
		}
		var snap invoice.Invoice
		if err := json.Unmarshal(latest.Snapshot, &snap); err != nil || snap.ID != a.ID || snap.Status != invoice.StatusPaid ||
			chain(&snap).Destination == "" {
			t.Fatalf("latest snapshot: %+v %v", snap, err)
		}
		if _, err := db.LatestInvoiceEvent(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("latest event of an unknown invoice: %v", err)
		}
	})
}
