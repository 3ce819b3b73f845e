package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestOperatorQueries runs the metrics and readiness queries on both
// databases: Ping reads the schema version, invoices are counted by
// status, the deliveries tables are found, and the IPN backlog and
// attempt tallies follow real planned, claimed and recorded deliveries,
// counting each attempt once across successive tallies.
func TestOperatorQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		latest, err := LatestSchemaVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v, err := db.Ping(ctx); err != nil || v != latest {
			t.Fatalf("ping: version %d (want %d), %v", v, latest, err)
		}
		s := newStore(t, db, 20)
		paid := withEvents(t, db, s.ID, 3) // created, then two more events
		paid.Status = invoice.StatusPaid
		mustCommit(t, db, Change{Invoice: paid})
		mustCreate(t, db, newInvoice(s.ID))
		mustCreate(t, db, newInvoice(s.ID))
		counts, err := db.InvoiceCounts(ctx)
		if err != nil || counts["new"] != 2 || counts["paid"] != 1 || len(counts) != 2 {
			t.Fatalf("counts %v %v", counts, err)
		}
		for table, want := range map[string]bool{"deliveries": true, "delivery_attempts": true, "nope": false} {
			if ok, err := db.TableExists(ctx, table); err != nil || ok != want {
				t.Fatalf("table %s: %v %v", table, ok, err)
			}
		}

		now := testEpoch.Add(time.Hour)
		mustPlan(t, db, now, planAll) // 5 outbox events → 5 IPN deliveries
		if n, err := db.DeliveryBacklog(ctx, ChannelIPN); err != nil || n != 5 {
			t.Fatalf("backlog %d %v", n, err)
		}
		cs := mustClaim(t, db, ClaimOptions{Owner: "w", Now: now})
		if len(cs) != 3 { // one per invoice: the first in line
			t.Fatalf("claimed %d", len(cs))
		}
		mustRecord(t, db,
			AttemptResult{DeliveryID: cs[0].ID, Owner: "w", At: now, StatusCode: 200, State: DeliveryDelivered},
			AttemptResult{DeliveryID: cs[1].ID, Owner: "w", At: now, StatusCode: 500, Error: "HTTP 500", State: DeliveryPending, NextAttemptAt: now.Add(time.Minute)},
			AttemptResult{DeliveryID: cs[2].ID, Owner: "w", At: now, Error: "connection refused", State: DeliveryFailed})
		if n, _ := db.DeliveryBacklog(ctx, ChannelIPN); n != 3 {
			t.Fatalf("backlog after attempts %d", n)
		}
		// PostgreSQL counts rows once they have settled: tally as of later.
		later := now.Add(time.Hour)
		t1, err := db.DeliveryAttemptsAfter(ctx, ChannelIPN, 0, later)
		if err != nil || t1.Attempts != 3 || t1.Failures != 2 || t1.LastID == 0 {
			t.Fatalf("first tally %+v %v", t1, err)
		}
		if t2, _ := db.DeliveryAttemptsAfter(ctx, ChannelIPN, t1.LastID, later); t2.Attempts != 0 || t2.LastID != t1.LastID {
			t.Fatalf("nothing new: %+v", t2)
		}
		if tm, _ := db.DeliveryAttemptsAfter(ctx, ChannelEmail, 0, later); tm.Attempts != 0 {
			t.Fatalf("no mail attempts: %+v", tm)
		}
		cs = mustClaim(t, db, ClaimOptions{Owner: "w", Now: now.Add(2 * time.Minute)})
		var retried []AttemptResult
		for _, c := range cs {
			retried = append(retried, AttemptResult{DeliveryID: c.ID, Owner: "w", At: now.Add(2 * time.Minute), StatusCode: 204, State: DeliveryDelivered})
		}
		mustRecord(t, db, retried...)
		t3, err := db.DeliveryAttemptsAfter(ctx, ChannelIPN, t1.LastID, later)
		if err != nil || t3.Attempts != int64(len(cs)) || t3.Failures != 0 || t3.LastID <= t1.LastID {
			t.Fatalf("next tally %+v (claimed %d) %v", t3, len(cs), err)
		}
		if b.name == Postgres {
			// Rows younger than the settle time wait.
			if t4, _ := db.DeliveryAttemptsAfter(ctx, ChannelIPN, 0, now); t4.Attempts != 0 || t4.LastID != 0 {
				t.Fatalf("unsettled rows must wait: %+v", t4)
			}
		}
	})
}

// TestBackupAndInspect backs up a live SQLite database and inspects the
// copy; PostgreSQL refuses with ErrNotSQLite.
func TestBackupAndInspect(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		s := newStore(t, db, 20)
		mustCreate(t, db, newInvoice(s.ID))
		dst := filepath.Join(t.TempDir(), "copy.db")
		err := db.Backup(ctx, dst)
		if b.name == Postgres {
			if err != ErrNotSQLite {
				t.Fatalf("want ErrNotSQLite, got %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := InspectSQLite(ctx, dst)
		if err != nil || info.Invoices != 1 || info.Stores != 1 {
			t.Fatalf("inspect: %+v %v", info, err)
		}
		if err := db.Backup(ctx, dst); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Fatalf("a second backup to the same file must fail: %v", err)
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".copy.db.tmp-*"))
		if len(leftovers) != 0 {
			t.Fatalf("temporary files left: %v", leftovers)
		}
		// The live database, with its write-ahead log, is not a backup.
		live := strings.TrimPrefix(b.open(t), "sqlite:")
		ldb := openDB(t, "sqlite:"+live)
		mustCreate(t, ldb, newInvoice(newStore(t, ldb, 20).ID))
		if _, err := os.Stat(live + "-wal"); err != nil {
			t.Fatalf("a live WAL database has a -wal file: %v", err)
		}
		if _, err := InspectSQLite(ctx, live); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
			t.Fatalf("a live database must be refused: %v", err)
		}
	})
}
