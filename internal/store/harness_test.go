package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/testpg"
	"github.com/shopspring/decimal"
)

// The conformance suite: every test runs once per backend through
// eachBackend. PostgreSQL comes from KASSA_TEST_POSTGRES; each database a
// test opens lives in its own random schema, dropped afterwards.

// backend opens fresh, migrated databases of one kind.
type backend struct {
	name string
	// open returns the URL of a new empty database; every Open of that URL
	// reaches the same database.
	open func(tb testing.TB) string
}

func backends() []backend {
	return []backend{
		{name: SQLite, open: func(tb testing.TB) string {
			return "sqlite:" + filepath.Join(tb.TempDir(), "kassa.db")
		}},
		{name: Postgres, open: testpg.Schema},
	}
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// openDB opens and migrates a database at url, closed when the test ends.
func openDB(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}

// newDB opens a fresh database of backend b.
func newDB(tb testing.TB, b backend) *DB { return openDB(tb, b.open(tb)) }

var testEpoch = time.UnixMilli(1_790_000_000_000).UTC()

func newStore(tb testing.TB, db *DB, gapLimit int) merchant.Store {
	tb.Helper()
	s := merchant.Store{
		ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: "tpubTEST", Speed: invoice.SpeedMedium,
		Expiry: merchant.DefaultExpiry, GapLimit: gapLimit, DefaultCurrency: "USD", CreatedAt: testEpoch,
	}
	if err := db.CreateStore(context.Background(), s); err != nil {
		tb.Fatalf("create store: %v", err)
	}
	return s
}

func newInvoice(storeID string) *invoice.Invoice {
	return &invoice.Invoice{
		ID: auth.NewID(), StoreID: storeID, Token: auth.NewID(),
		Status: invoice.StatusNew, Speed: invoice.SpeedMedium,
		Price: decimal.RequireFromString("12.50"), Currency: "USD",
		Methods:   []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("65432.10"), Due: 19104}},
		CreatedAt: testEpoch, ExpiresAt: testEpoch.Add(15 * time.Minute), UpdatedAt: testEpoch,
	}
}

func createdNote(inv *invoice.Invoice) []invoice.Notification {
	return []invoice.Notification{{Code: invoice.CodeCreated, Status: invoice.StatusNew, At: inv.CreatedAt}}
}

// testAddress is an AddressFunc that names the index.
func testAddress(storeID string, index uint32) (string, []byte, error) {
	return fmt.Sprintf("bcrt1q-%s-%d", storeID, index), []byte{0x00, 0x14, byte(index >> 8), byte(index)}, nil
}

func mustCreate(tb testing.TB, db *DB, inv *invoice.Invoice) {
	tb.Helper()
	if err := db.CreateInvoice(context.Background(), inv, createdNote(inv), testAddress); err != nil {
		tb.Fatalf("create invoice: %v", err)
	}
}

func mustCommit(tb testing.TB, db *DB, changes ...Change) {
	tb.Helper()
	if err := db.Commit(context.Background(), changes, nil); err != nil {
		tb.Fatalf("commit: %v", err)
	}
}

// dbWithInvoice returns a new database of backend b with a store and one
// new invoice in it.
func dbWithInvoice(t *testing.T, b backend) (*DB, merchant.Store, *invoice.Invoice) {
	t.Helper()
	db := newDB(t, b)
	s := newStore(t, db, 20)
	inv := newInvoice(s.ID)
	if err := db.CreateInvoice(context.Background(), inv, createdNote(inv), testAddress); err != nil {
		t.Fatal(err)
	}
	return db, s, inv
}

// chain returns an invoice's on-chain method.
func chain(inv *invoice.Invoice) *invoice.Method { return inv.Method(invoice.MethodBTC) }
