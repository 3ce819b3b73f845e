package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// beforeMethods is the last schema version without payment methods.
const beforeMethods = 10

// seedOldInvoices inserts n invoices of store storeID in the schema before
// payment methods (rate, due, address, script, key_index and reused
// columns; payments without a method), as kassa wrote them, in one
// transaction. Invoice i pays 1000+i sats at index i; every third has a
// live payment and a removed one.
func seedOldInvoices(t testing.TB, db *DB, storeID string, n int) {
	t.Helper()
	ctx := context.Background()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO invoices (id, store_id, token, status, exception, speed, price,
			currency, rate, due, address, script, key_index, reused, created_at, expires_at, paid_at, updated_at,
			cancelled, payments, fields, version, has_payments, order_id, guid)
			VALUES ($1, $2, $3, 'new', '', 'medium', '12.50', 'USD', $4, $5, $6, $7, $8, $9, $10, $11, 0, $10,
			FALSE, $12, '{}', 1, $13, '', '')`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range n {
			payments := "[]"
			if i%3 == 0 {
				payments = fmt.Sprintf(`[{"txid":"%064x","vout":1,"sats":%d,"height":812345,"block":"0000beef","seen":%d},`+
					`{"txid":"%064x","vout":0,"sats":7,"seen":%d,"removed":true}]`, i, 1000+i, testEpoch.UnixMilli(), i+1, testEpoch.UnixMilli())
			}
			_, err := st.ExecContext(ctx, fmt.Sprintf("old%07d", i), storeID, fmt.Sprintf("tok%07d", i),
				"65432.1"+fmt.Sprint(i%10), 1000+i, fmt.Sprintf("bcrt1qold%07d", i), []byte{0x00, 0x14, byte(i >> 8), byte(i)},
				i, i%5 == 0, testEpoch.UnixMilli(), testEpoch.Add(15*time.Minute).UnixMilli(), payments, payments != "[]")
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed %d invoices of the old schema: %v", n, err)
	}
}

// checkMovedInvoice checks that invoice i of seedOldInvoices reads back
// with its on-chain method and payments as the old columns had them.
func checkMovedInvoice(t testing.TB, db *DB, i int) {
	t.Helper()
	inv, err := db.GetInvoice(context.Background(), fmt.Sprintf("old%07d", i))
	if err != nil {
		t.Fatalf("invoice %d after the migration: %v", i, err)
	}
	want := invoice.Method{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("65432.1" + fmt.Sprint(i%10)),
		Due: money.Sats(1000 + i), Destination: fmt.Sprintf("bcrt1qold%07d", i), Script: []byte{0x00, 0x14, byte(i >> 8), byte(i)},
		KeyIndex: uint32(i), Reused: i%5 == 0}
	if len(inv.Methods) != 1 || !sameMethodRecord(inv.Methods[0], want) {
		t.Fatalf("invoice %d methods = %+v, want [%+v]", i, inv.Methods, want)
	}
	if inv.Due() != want.Due {
		t.Fatalf("invoice %d due %d, want %d", i, inv.Due(), want.Due)
	}
	if i%3 != 0 {
		if len(inv.Payments) != 0 {
			t.Fatalf("invoice %d payments = %+v, want none", i, inv.Payments)
		}
		return
	}
	if len(inv.Payments) != 2 {
		t.Fatalf("invoice %d payments = %+v, want 2", i, inv.Payments)
	}
	p, r := inv.Payments[0], inv.Payments[1]
	if p.Method != invoice.MethodBTC || p.TxID != fmt.Sprintf("%064x", i) || p.Vout != 1 || int64(p.Amount) != int64(1000+i) ||
		p.Height != 812345 || p.BlockHash != "0000beef" || !p.SeenAt.Equal(testEpoch) || p.Removed ||
		r.Method != invoice.MethodBTC || !r.Removed || r.Amount != 7 {
		t.Fatalf("invoice %d payments = %+v", i, inv.Payments)
	}
}

func sameMethodRecord(a, b invoice.Method) bool {
	return a.ID == b.ID && a.Currency == b.Currency && a.Rate.Equal(b.Rate) && a.Due == b.Due &&
		a.Destination == b.Destination && bytes.Equal(a.Script, b.Script) && a.KeyIndex == b.KeyIndex && a.Reused == b.Reused
}

// schemaVersion returns the database's highest applied migration.
func schemaVersion(t testing.TB, db *DB) int {
	t.Helper()
	var v int
	if err := db.sql.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// oldSchemaDB returns a database of schema beforeMethods holding n
// invoices of seedOldInvoices, and its URL.
func oldSchemaDB(t *testing.T, b backend, n int) (*DB, string) {
	t.Helper()
	url := b.open(t)
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(context.Background(), beforeMethods); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, db, 20)
	seedOldInvoices(t, db, s.ID, n)
	return db, url
}

// TestMigratePaymentMethods: invoices stored before payment methods read
// back with their on-chain method and method-named payments after the
// migration, across several batches, and migrating again changes nothing.
func TestMigratePaymentMethods(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		n := methodsBatch*2 + 7
		db, _ := oldSchemaDB(t, b, n)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		for _, i := range []int{0, 1, 2, 3, 5, methodsBatch - 1, methodsBatch, methodsBatch + 1, n - 1} {
			checkMovedInvoice(t, db, i)
		}
		var left int
		if err := db.sql.QueryRow(`SELECT COUNT(*) FROM invoices WHERE methods = '[]'`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d invoices without methods, %v", left, err)
		}
		for _, col := range []string{"rate", "reused"} {
			if _, err := db.sql.Exec(`SELECT ` + col + ` FROM invoices`); err == nil {
				t.Errorf("column %s is still there", col)
			}
		}
		before, err := db.GetInvoice(ctx, "old0000003")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		after, _ := db.GetInvoice(ctx, "old0000003")
		if !sameMethodRecord(after.Methods[0], before.Methods[0]) || len(after.Payments) != len(before.Payments) {
			t.Fatalf("migrating again changed the invoice: %+v → %+v", before, after)
		}
	})
}

// TestMigratePaymentMethodsKilled kills -9 a process in the middle of the
// payment-methods migration, again and again: the database is each time
// exactly as before it (schema 10, the old columns, every row as seeded)
// or exactly as after it, never between; the last run finishes it.
func TestMigratePaymentMethodsKilled(t *testing.T) {
	if url := os.Getenv("KASSA_TEST_MIGRATE_CHILD"); url != "" {
		db, err := Open(context.Background(), url)
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		fmt.Println("migrating")
		if err := db.Migrate(context.Background()); err != nil {
			fmt.Println("migrate:", err)
			os.Exit(1)
		}
		fmt.Println("done")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("kill -9 runs migrations in child processes")
	}
	eachBackend(t, func(t *testing.T, b backend) {
		const n = 30_000
		db, url := oldSchemaDB(t, b, n)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
		killed, finished := 0, false
		for run := 0; run < 8 && !finished; run++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMigratePaymentMethodsKilled$")
			cmd.Env = append(os.Environ(), "KASSA_TEST_MIGRATE_CHILD="+url)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			if !lines.Scan() || lines.Text() != "migrating" {
				t.Fatalf("child: %q", lines.Text())
			}
			// The last run is left to finish; the others die somewhere in
			// the first 2.5 s (about as long as the whole migration takes).
			if run < 7 {
				time.Sleep(time.Duration(rng.IntN(2500)) * time.Millisecond)
				_ = cmd.Process.Kill()
			}
			var rest strings.Builder
			for lines.Scan() {
				rest.WriteString(lines.Text() + "\n")
			}
			werr := cmd.Wait()
			finished = werr == nil && strings.Contains(rest.String(), "done")
			if !finished {
				killed++
			}
			switch v := schemaVersion(t, db); {
			case v == beforeMethods:
				// As before: the old columns, no methods column, every row.
				var cnt int
				if err := db.sql.QueryRow(`SELECT COUNT(*) FROM invoices WHERE rate <> '' AND due > 0`).Scan(&cnt); err != nil || cnt != n {
					t.Fatalf("run %d: killed before the end but the old schema holds %d of %d rows (%v)", run, cnt, n, err)
				}
				if _, err := db.sql.Exec(`SELECT methods FROM invoices`); err == nil {
					t.Fatalf("run %d: schema %d has a methods column: half migrated", run, v)
				}
			case v >= 11:
				finished = true
				var left int
				if err := db.sql.QueryRow(`SELECT COUNT(*) FROM invoices WHERE methods = '[]'`).Scan(&left); err != nil || left != 0 {
					t.Fatalf("run %d: migrated, but %d invoices have no methods (%v)", run, left, err)
				}
			default:
				t.Fatalf("run %d: schema version %d", run, v)
			}
		}
		if !finished {
			t.Fatal("the migration never finished")
		}
		t.Logf("%s: %d runs killed before the migration committed", b.name, killed)
		for _, i := range []int{0, 3, 4_999, n - 1} {
			checkMovedInvoice(t, db, i)
		}
	})
}
