package cli

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// insertInvoices creates invoices with their creation events through the
// store, as the gateway does, until stop closes; it returns how many
// committed.
func insertInvoices(t *testing.T, db *store.DB, storeID string, stop <-chan struct{}, n *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		inv := &invoice.Invoice{ID: auth.NewID(), StoreID: storeID, Token: auth.NewID(), Status: invoice.StatusNew,
			Speed: invoice.SpeedMedium, Price: decimal.RequireFromString("1"), Currency: "USD",
			Methods:   []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("50000"), Due: 2000}},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), UpdatedAt: now}
		notes := []invoice.Notification{{Code: invoice.CodeCreated, Status: invoice.StatusNew, At: now}}
		err := db.CreateInvoice(context.Background(), inv, notes, func(_ string, _ uint32) (string, []byte, error) {
			return "bcrt1qtest" + inv.ID, []byte(inv.ID), nil
		})
		if err != nil {
			t.Errorf("create invoice: %v", err)
			return
		}
		n.Add(1)
	}
}

// TestBackupWhileWritingAndRestore backs a SQLite database up while
// invoices are being written into it, checks the backup is a consistent
// snapshot (every invoice has its creation event, and nothing else) in one
// self-contained file, then restores it: refused while the data directory
// is locked by a server, refused for files that are not kassa databases or
// come from a newer kassa, and done with the previous database kept.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_RATES": "fixed:BTC_USD=50000"}
	storeID := createStore(t, vars, "medium")
	db, err := store.Open(ctx, filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	stop := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { insertInvoices(t, db, storeID, stop, &written) })
	waitFor(t, "some invoices", func() bool { return written.Load() > 50 })
	out := filepath.Join(t.TempDir(), "kassa-backup.db")
	stdout, errs, code := run(t, vars, "backup", "--out", out)
	atBackup := written.Load()
	waitFor(t, "invoices after the backup", func() bool { return written.Load() > atBackup+50 })
	close(stop)
	wg.Wait()
	if code != 0 || strings.TrimSpace(stdout) != out || !strings.Contains(errs, "schema version") {
		t.Fatalf("backup: %d %q %s", code, stdout, errs)
	}
	if _, err := os.Stat(out + "-wal"); err == nil {
		t.Fatal("the backup must be one file")
	}
	backup, err := sql.Open("sqlite", out)
	if err != nil {
		t.Fatal(err)
	}
	var invoices, created, orphans int64
	backup.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&invoices)
	backup.QueryRow(`SELECT COUNT(*) FROM outbox WHERE code = $1`, int(invoice.CodeCreated)).Scan(&created)
	backup.QueryRow(`SELECT COUNT(*) FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.subject_id = i.id)`).Scan(&orphans)
	backup.Close()
	total := written.Load()
	if invoices == 0 || invoices != created || orphans != 0 || invoices >= total {
		t.Fatalf("backup not a consistent snapshot: %d invoices, %d creation events, %d without, %d written in all", invoices, created, orphans, total)
	}
	if _, errs, code := run(t, vars, "backup", "--out", out); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("a backup must not overwrite a file: %s", errs)
	}
	db.Close()

	// Restore is refused while a server holds the data directory.
	lock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(t, vars, "restore", "--from", out); code == 0 || !strings.Contains(errs, "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("restore beside a server must refuse, naming its pid: %d %s", code, errs)
	}
	lock.Close()

	// Files that are not kassa backups are refused and change nothing.
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database at all, just some bytes......"), 0o600)
	other := filepath.Join(t.TempDir(), "other.db")
	odb, _ := sql.Open("sqlite", other)
	odb.Exec(`CREATE TABLE notes (x TEXT)`)
	odb.Close()
	newer := filepath.Join(t.TempDir(), "newer.db")
	copyFile(t, out, newer)
	ndb, _ := sql.Open("sqlite", newer)
	ndb.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`)
	ndb.Close()
	for name, tc := range map[string]struct{ file, want string }{
		"junk":    {junk, "not a SQLite database"},
		"foreign": {other, "not a kassa database"},
		"newer":   {newer, "schema version 9999"},
		"live":    {filepath.Join(dir, "kassa.db"), "is the database itself"},
		"missing": {filepath.Join(dir, "nope.db"), "no such file"},
	} {
		if _, errs, code := run(t, vars, "restore", "--from", tc.file); code == 0 || !strings.Contains(errs, tc.want) {
			t.Fatalf("%s: %d %s", name, code, errs)
		}
	}

	if _, errs, code := run(t, vars, "restore", "--from", out); code != 0 || !strings.Contains(errs, "previous database is kept at") {
		t.Fatalf("restore: %d %s", code, errs)
	}
	restored, err := store.Open(ctx, filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	counts, err := restored.InvoiceCounts(ctx)
	if err != nil || counts["new"] != invoices {
		t.Fatalf("restored database holds %v invoices, want %d: %v", counts, invoices, err)
	}
	asides, _ := filepath.Glob(filepath.Join(dir, "kassa.db.pre-restore-*"))
	var main string
	for _, a := range asides {
		if !strings.HasSuffix(a, "-wal") && !strings.HasSuffix(a, "-shm") {
			main = a
		}
	}
	if main == "" {
		t.Fatalf("the previous database must be kept: %v", asides)
	}
	old, err := sql.Open("sqlite", main)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var oldCount int64
	if err := old.QueryRow(`SELECT COUNT(*) FROM invoices`).Scan(&oldCount); err != nil || oldCount != total {
		t.Fatalf("the kept database must hold all %d invoices, has %d: %v", total, oldCount, err)
	}
}

func TestBackupAndRestoreOnPostgresPrintGuidance(t *testing.T) {
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_DATABASE_URL": "postgres://kassa:hunter2@db.internal/kassa"}
	for _, cmd := range [][]string{{"backup", "--out", "x.db"}, {"restore", "--from", "x.db"}} {
		out, errs, code := run(t, vars, cmd...)
		if code != 1 || out != "" || !strings.Contains(errs, "pg_dump --format=custom") || !strings.Contains(errs, "pg_restore") {
			t.Fatalf("%s: %d %s", cmd[0], code, errs)
		}
		if strings.Contains(errs, "hunter2") {
			t.Fatal("the database password must not be printed")
		}
	}
}

func TestBackupUsage(t *testing.T) {
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir()}
	if _, errs, code := run(t, vars, "backup"); code != 2 || !strings.Contains(errs, "--out FILE") {
		t.Fatalf("%d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "backup", "--out", filepath.Join(t.TempDir(), "b.db")); code != 1 || !strings.Contains(errs, "no database") {
		t.Fatalf("%d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "restore"); code != 2 || !strings.Contains(errs, "--from FILE") {
		t.Fatalf("%d %s", code, errs)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
