// Package kassatest is kassa's shared test fixture: a migrated store on
// SQLite or PostgreSQL, a merchant store with a regtest key, API tokens,
// fixed exchange rates, a gateway and a clock, so that each package's
// suite sets up the same world the same way and runs on both databases.
//
// A suite runs on both with RunOnBothDatabases in its TestMain: the tests
// run once on SQLite, then the test binary runs them again on PostgreSQL
// (KASSA_TEST_DB=postgres), and fails if either run fails. DB opens the
// database of the run.
package kassatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/shopspring/decimal"
)

// DBEnv names the database a suite's run uses: "sqlite" (the default) or
// "postgres".
const DBEnv = "KASSA_TEST_DB"

// Backend is a database kind tests can run on.
type Backend struct {
	Name string // store.SQLite or store.Postgres
	// URL returns the URL of a new, empty database of this kind, removed
	// when the test ends.
	URL func(tb testing.TB) string
}

// SQLite and Postgres are the two backends.
var (
	SQLite   = Backend{Name: store.SQLite, URL: func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "kassa.db") }}
	Postgres = Backend{Name: store.Postgres, URL: testpg.Schema}
)

// Backends returns both backends, for tests that loop over them.
func Backends() []Backend { return []Backend{SQLite, Postgres} }

// Current returns the backend of this run of the suite (DBEnv).
func Current() Backend {
	if os.Getenv(DBEnv) == store.Postgres {
		return Postgres
	}
	return SQLite
}

// RunOnBothDatabases runs a package's tests on SQLite, then again on
// PostgreSQL in a child process with the same arguments, and returns the
// exit code for os.Exit: the first failure's. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }
//
// Under KASSA_TEST_DB (the child, or a developer picking one database) it
// runs once on that database; so do fuzzing and benchmark runs.
func RunOnBothDatabases(m *testing.M) int {
	if os.Getenv(DBEnv) != "" {
		return m.Run()
	}
	if code := m.Run(); code != 0 {
		return code
	}
	// A fuzzing or benchmarking run is not a suite run: benchmarks pick
	// their databases themselves, and a fuzz target fuzzes once.
	for _, name := range []string{"test.fuzz", "test.bench"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return 0
		}
	}
	if err := testpg.Available(); err != nil && os.Getenv("CI") != "true" {
		fmt.Fprintf(os.Stderr, "kassatest: PostgreSQL unreachable, the suite ran on SQLite only: %v\n", err)
		return 0
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), DBEnv+"="+store.Postgres)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Fprintln(os.Stdout, "kassatest: the same tests on PostgreSQL")
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "kassatest: run the tests on PostgreSQL: %v\n", err)
		return 1
	}
	return 0
}

// DB returns a new, migrated database of this run's backend, closed when
// the test ends.
func DB(tb testing.TB) *store.DB { return DBOn(tb, Current()) }

// DBOn returns a new, migrated database of backend b, closed when the
// test ends.
func DBOn(tb testing.TB, b Backend) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, b.URL(tb))
	if err != nil {
		tb.Fatalf("open %s: %v", b.Name, err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", b.Name, err)
	}
	return db
}

// Key returns a regtest receiving key (a wpkh descriptor of BIP84
// account 0) derived from a name: the same name, the same key.
func Key(tb testing.TB, name string) string {
	tb.Helper()
	pub, err := account(tb, name).Neuter()
	if err != nil {
		tb.Fatal(err)
	}
	return "wpkh(" + pub.String() + "/0/*)"
}

// PrivKey returns the private key of Key(name) at branch and index, for
// tests that spend what a store received.
func PrivKey(tb testing.TB, name string, branch, index uint32) *btcec.PrivateKey {
	tb.Helper()
	k := account(tb, name)
	var err error
	for _, i := range []uint32{branch, index} {
		if k, err = k.Derive(i); err != nil {
			tb.Fatal(err)
		}
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// AccountPriv returns the extended private key (tprv) of Key(name)'s
// account: what a test wallet signs the store's PSBTs with.
func AccountPriv(tb testing.TB, name string) string {
	tb.Helper()
	return account(tb, name).String()
}

// Origin returns the key origin of Key(name)'s account, as a wallet shows
// it: [master fingerprint/84h/1h/0h].
func Origin(tb testing.TB, name string) string {
	tb.Helper()
	seed := sha256.Sum256([]byte("kassatest " + name))
	m, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		tb.Fatal(err)
	}
	purpose, err := m.Derive(hdkeychain.HardenedKeyStart + 84)
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("[%08x/84h/1h/0h]", purpose.ParentFingerprint())
}

// SignPSBT signs a PSBT of a store whose key is Key(name) with the test
// wallet (test/psbtsign, at $KASSA_PSBTSIGN: btcd's own PSBT code, nothing
// of kassa's) holding AccountPriv(name), and returns what it prints: the
// signed PSBT in base64 (args "-finalize", "-hex" as psbtsign takes them).
// The test is skipped when KASSA_PSBTSIGN is not set.
func SignPSBT(tb testing.TB, name string, psbt []byte, args ...string) []byte {
	tb.Helper()
	signer := os.Getenv("KASSA_PSBTSIGN")
	if signer == "" {
		tb.Skip("KASSA_PSBTSIGN is not set: run `make tools` and `make test`, or set it to .tools/bin/psbtsign")
	}
	cmd := exec.Command(signer, args...)
	cmd.Env = append(os.Environ(), "PSBTSIGN_KEY="+AccountPriv(tb, name))
	cmd.Stdin = strings.NewReader(base64.StdEncoding.EncodeToString(psbt))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("psbtsign: %v: %s", err, stderr.String())
	}
	return out
}

// account returns the BIP84 account 0 key of a name's seed.
func account(tb testing.TB, name string) *hdkeychain.ExtendedKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("kassatest " + name))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		tb.Fatal(err)
	}
	for _, i := range []uint32{84, 1, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			tb.Fatal(err)
		}
	}
	return k
}

// Store creates a regtest merchant store in db ("Shop", USD, medium speed,
// a 15-minute window, gap limit 20, a key named after its id) changed by
// opts, and returns it.
func Store(tb testing.TB, db *store.DB, opts ...func(*merchant.Store)) merchant.Store {
	tb.Helper()
	st := merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Speed: invoice.SpeedMedium,
		Expiry: merchant.DefaultExpiry, GapLimit: merchant.DefaultGapLimit, DefaultCurrency: "USD",
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	st.Key = Key(tb, st.ID)
	for _, o := range opts {
		o(&st)
	}
	if err := db.CreateStore(context.Background(), st); err != nil {
		tb.Fatalf("create store: %v", err)
	}
	return st
}

// Token creates an active API token of a store with a facade (a bearer
// token: no client id) and returns it.
func Token(tb testing.TB, db *store.DB, storeID string, facade auth.Facade) auth.Token {
	tb.Helper()
	t := auth.Token{Value: auth.NewTokenValue(), StoreID: storeID, Facade: facade, Active: true,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := db.CreateToken(context.Background(), t); err != nil {
		tb.Fatalf("create %s token: %v", facade, err)
	}
	return t
}

// FixedRates are the rates Rates serves.
const FixedRates = "BTC_USD=50000,BTC_EUR=45000"

// Rates returns exchange rates fixed at FixedRates.
func Rates(tb testing.TB) *rates.Rates {
	tb.Helper()
	rs, err := rates.NewFixed(context.Background(), FixedRates)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// Gateway returns a regtest gateway over db with fixed rates and clock
// (nil for the wall clock), closed when the test ends.
func Gateway(tb testing.TB, db *store.DB, clock *Clock) *gateway.Gateway {
	tb.Helper()
	cfg := gateway.Config{Store: db, Rates: Rates(tb), Network: "regtest"}
	if clock != nil {
		cfg.Clock = clock.Now
	}
	g := gateway.New(cfg)
	tb.Cleanup(g.Close)
	return g
}

// Clock is a settable clock for tests: time moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// PayHeight is the block height Pay confirms payments at.
const PayHeight = 100

// Pay pays sats to an invoice's on-chain address, confirmed confs times
// (0: in the mempool; the tip is PayHeight+confs-1), through
// invoice.Apply, and stores the change with its events: an invoice paid
// without a node. It returns the stored invoice. With the store's
// default medium speed one confirmation makes a full payment confirmed,
// six make it complete.
func Pay(tb testing.TB, db *store.DB, id string, sats money.Sats, confs int32) invoice.Invoice {
	tb.Helper()
	ctx := context.Background()
	inv, err := db.GetInvoice(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	height, tip := int32(0), int32(PayHeight)
	if confs > 0 {
		height, tip = PayHeight, PayHeight+confs-1
	}
	txid := sha256.Sum256(fmt.Appendf(nil, "kassatest pay %s %d", id, len(inv.Payments)))
	p := invoice.Payment{Method: invoice.MethodBTC, TxID: hex.EncodeToString(txid[:]), Amount: sats, Height: height,
		SeenAt: inv.CreatedAt}
	next, notes, err := invoice.Apply(inv, invoice.PaymentSeen{Payment: p}, invoice.Env{Now: inv.CreatedAt.Add(time.Second), Tip: tip})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.UpdateInvoice(ctx, &next, notes); err != nil {
		tb.Fatal(err)
	}
	return next
}

// Address returns a regtest address (index 0 of Key(name)) that no
// store of Store's uses: a buyer's, say.
func Address(tb testing.TB, name string) string {
	tb.Helper()
	k, err := wallet.ParseKey(Key(tb, name), "regtest")
	if err != nil {
		tb.Fatal(err)
	}
	a, err := k.Derive(0)
	if err != nil {
		tb.Fatal(err)
	}
	return a.Address
}

// Refund stores a refund of inv in status created (with its
// refund_created event) paying sats in BTC to address, its webhooks going
// to notificationURL ("" for none), and returns it: a refund the spend
// engine can pay.
func Refund(tb testing.TB, db *store.DB, inv *invoice.Invoice, address string, sats money.Sats, notificationURL string) refund.Refund {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := refund.Refund{ID: auth.NewID(), StoreID: inv.StoreID, InvoiceID: inv.ID, Token: auth.NewResourceToken(),
		Status: refund.StatusCreated, Amount: sats.Decimal(), Currency: "BTC", Rate: decimal.NewFromInt(1), Sats: sats,
		Cancellable: true, Address: address, NotificationURL: notificationURL, RequestedAt: now, UpdatedAt: now}
	notes := []refund.Notification{{Code: refund.CodeCreated, Status: refund.StatusCreated, At: now}}
	if err := db.Unit(context.Background(), func(u *store.Unit) error { return u.Refund(&r, notes) }); err != nil {
		tb.Fatalf("store refund: %v", err)
	}
	return r
}
