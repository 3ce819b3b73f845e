package store

import (
	"context"
	"errors"
	"testing"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestUnit: an invoice change and an event of another subject commit in
// one unit, or neither does; the outbox keeps each event's subject.
func TestUnit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, inv := dbWithInvoice(t, b)
		refund := Event{Subject: "refund", SubjectID: "RefundOf" + inv.ID, StoreID: s.ID, Code: 5001, Name: "refund_created",
			Status: "pending", At: testEpoch, Snapshot: map[string]string{"invoice": inv.ID}}
		change := func() []Change {
			next := *inv
			next.Status = invoice.StatusExpired
			return []Change{{Invoice: &next, Notes: []invoice.Notification{{Code: invoice.CodeExpired, Status: invoice.StatusExpired, At: testEpoch}}}}
		}

		// A unit that fails after joining both stores neither.
		boom := errors.New("boom")
		err := db.Unit(ctx, func(u *Unit) error {
			if err := u.Invoices(change()); err != nil {
				return err
			}
			if err := u.Emit(refund); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failed unit: %v", err)
		}
		if got, _ := db.GetInvoice(ctx, inv.ID); got.Status != invoice.StatusNew || got.Version != 1 {
			t.Fatalf("a failed unit changed the invoice: %s v%d", got.Status, got.Version)
		}
		if evs, _ := db.Outbox(ctx, refund.SubjectID); len(evs) != 0 {
			t.Fatalf("a failed unit queued %d events", len(evs))
		}
		if err := db.Unit(ctx, func(u *Unit) error { return u.Emit(Event{Subject: "refund"}) }); err == nil {
			t.Fatal("an event without id, store or code was queued")
		}
		nameless := refund
		nameless.Name = ""
		if err := db.Unit(ctx, func(u *Unit) error { return u.Emit(nameless) }); err == nil {
			t.Fatal("an event of a subject with codes of its own was queued without a name")
		}

		// A unit that succeeds stores both, and bumps the invoice's version.
		changes := change()
		err = db.Unit(ctx, func(u *Unit) error {
			if err := u.Invoices(changes); err != nil {
				return err
			}
			return u.Emit(refund)
		})
		if err != nil {
			t.Fatal(err)
		}
		if changes[0].Invoice.Version != 2 {
			t.Errorf("version after the unit = %d, want 2", changes[0].Invoice.Version)
		}
		if got, _ := db.GetInvoice(ctx, inv.ID); got.Status != invoice.StatusExpired || got.Version != 2 {
			t.Errorf("invoice after the unit: %s v%d", got.Status, got.Version)
		}
		evs, err := db.Outbox(ctx, refund.SubjectID)
		if err != nil || len(evs) != 1 {
			t.Fatalf("refund events: %v, %v", evs, err)
		}
		if e := evs[0]; e.Subject != "refund" || e.StoreID != s.ID || e.Code != 5001 || e.Name != "refund_created" ||
			string(e.Status) != "pending" || string(e.Snapshot) != `{"invoice":"`+inv.ID+`"}` {
			t.Errorf("refund event = %+v", e)
		}
		invEvs, _ := db.Outbox(ctx, inv.ID)
		if len(invEvs) != 2 || invEvs[1].Subject != SubjectInvoice || invoice.Code(invEvs[1].Code) != invoice.CodeExpired {
			t.Errorf("invoice events = %+v", invEvs)
		}
	})
}

// TestMigrateOutboxSubjects: events and deliveries stored before the
// outbox knew subjects are an invoice's after migration 0012, keep their
// sequence numbers, and new events number after them; the deliveries'
// reference to the outbox still holds on SQLite's rebuilt table.
func TestMigrateOutboxSubjects(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, _ := oldSchemaDB(t, b, 2)
		if err := db.MigrateTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"old0000000", "old0000000", "old0000001"} {
			_, err := db.sql.ExecContext(ctx, `INSERT INTO outbox (id, invoice_id, store_id, code, name, status, exception,
				created_at, snapshot) VALUES ($1, $2, 's', 1001, 'invoice_created', 'new', '', $3, '{}')`,
				"ev"+string(rune('a'+i)), id, testEpoch.UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
		}
		var last int64
		if err := db.sql.QueryRow(`SELECT MAX(seq) FROM outbox`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		_, err := db.sql.ExecContext(ctx, `INSERT INTO deliveries (outbox_seq, event_id, invoice_id, store_id, code, channel,
			target, host, state, created_at, next_attempt_at, deadline)
			VALUES ($1, 'evc', 'old0000001', 's', 1001, 'ipn', 'https://x/', 'x', 'pending', 1, 1, 2)`, last)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		evs, err := db.Outbox(ctx, "old0000000")
		if err != nil || len(evs) != 2 || evs[0].Subject != SubjectInvoice || evs[0].SubjectID != "old0000000" || evs[1].Seq >= last {
			t.Fatalf("events after the migration: %+v, %v", evs, err)
		}
		ds, err := db.Deliveries(ctx, "old0000001")
		if err != nil || len(ds) != 1 || ds[0].Subject != SubjectInvoice || ds[0].OutboxSeq != last {
			t.Fatalf("deliveries after the migration: %+v, %v", ds, err)
		}
		if err := db.Unit(ctx, func(u *Unit) error {
			return u.Emit(Event{Subject: SubjectInvoice, SubjectID: "old0000001", StoreID: "s", Code: int(invoice.CodeExpired), At: testEpoch})
		}); err != nil {
			t.Fatal(err)
		}
		evs, _ = db.Outbox(ctx, "old0000001")
		if len(evs) != 2 || evs[1].Seq <= last {
			t.Fatalf("a new event numbered %d after the old ones' %d", evs[len(evs)-1].Seq, last)
		}
		_, err = db.sql.ExecContext(ctx, `INSERT INTO deliveries (outbox_seq, event_id, subject_id, store_id, code, channel,
			target, host, state, created_at, next_attempt_at, deadline)
			VALUES (999999, 'evz', 'x', 's', 1001, 'ipn', 'https://x/', 'x', 'pending', 1, 1, 2)`)
		if err == nil {
			t.Error("a delivery of no outbox event was stored: the reference is gone")
		}
	})
}
