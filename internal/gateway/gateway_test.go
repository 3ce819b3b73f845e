//go:build node

package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// clock is a test clock: real time plus an offset the test advances.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// harness is kassa's payment path on a real regtest node: a store on
// SQLite, a gateway, a processor and the node watcher.
type harness struct {
	t       testing.TB
	node    *regtest.Node
	dbPath  string // the database's URL, reopened by restart tests
	db      *store.DB
	g       *gateway.Gateway
	clock   *clock
	storeID string
	log     *slog.Logger
	// poll is the watcher's polling interval; notifications wake it sooner.
	poll time.Duration

	backend chain.Backend // the running watcher, while started
	// esplora, when set, is the base URL of an Esplora server on the
	// node (regtest.ServeEsplora): the watcher and the spend engine use
	// it instead of the node's RPC.
	esplora string

	cancel  context.CancelFunc
	done    sync.WaitGroup
	commits chan []store.Change
}

func newHarness(t testing.TB, node *regtest.Node, speed invoice.Speed) *harness {
	t.Helper()
	return newHarnessPoll(t, node, speed, 50*time.Millisecond)
}

func newHarnessPoll(t testing.TB, node *regtest.Node, speed invoice.Speed, poll time.Duration) *harness {
	t.Helper()
	return newHarnessOn(t, node, speed, poll, "")
}

// newHarnessOn is newHarnessPoll watching through the Esplora server at
// esploraURL when it is not "".
func newHarnessOn(t testing.TB, node *regtest.Node, speed invoice.Speed, poll time.Duration, esploraURL string) *harness {
	t.Helper()
	h := &harness{t: t, node: node, clock: &clock{}, dbPath: kassatest.Current().URL(t),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), poll: poll, esplora: esploraURL}
	if testing.Verbose() {
		h.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.openDB()
	st := merchant.Store{ID: auth.NewID(), Name: "Test", Network: "regtest", Key: merchantKey(t), Speed: speed,
		Expiry: 15 * time.Minute, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := h.db.CreateStore(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	h.storeID = st.ID
	h.start()
	t.Cleanup(func() { h.stop(); h.g.Close(); h.db.Close() })
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func (h *harness) openDB() {
	db, err := store.Open(context.Background(), h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	h.g = gateway.New(gateway.Config{Store: db, Rates: kassatest.Rates(h.t), Network: "regtest", Clock: h.clock.Now, Log: h.log})
}

// start runs a processor and a node watcher, as kassa serve does.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.commits = make(chan []store.Change, 1024)
	proc := gateway.NewProcessor(h.g, gateway.ProcessorConfig{Store: h.db, OnCommit: func(c []store.Change) {
		select {
		case h.commits <- c:
		default:
		}
	}})
	backend, err := h.openBackend(ctx, proc)
	if err != nil {
		h.t.Fatal(err)
	}
	proc.Attach(backend)
	h.backend = backend
	if err := proc.Load(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.done.Add(2)
	go func() { defer h.done.Done(); _ = backend.Run(ctx) }()
	go func() { defer h.done.Done(); _ = proc.Run(ctx, h.poll) }()
}

// openBackend opens the node's watcher, or with h.esplora an Esplora
// watcher polling at test speed (its default intervals are minutes).
func (h *harness) openBackend(ctx context.Context, proc *gateway.Processor) (chain.Backend, error) {
	if h.esplora == "" {
		return chain.Open(ctx, chain.Options{URL: h.node.RPCURL(), Network: "regtest", Sink: proc,
			PollInterval: h.poll, Log: h.log})
	}
	client, err := esplora.New(h.esplora)
	if err != nil {
		return nil, err
	}
	return chain.NewEsploraWatcher(chain.EsploraConfig{Source: client, Sink: proc, Tick: h.poll,
		FastInterval: 100 * time.Millisecond, SlowInterval: 100 * time.Millisecond, ScriptInterval: 200 * time.Millisecond,
		SpendInterval: 200 * time.Millisecond, MaxCoinRequests: 6000, Params: h.node.Params(), Logger: h.log})
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		h.done.Wait()
		h.cancel = nil
	}
}

func (h *harness) create(price string) *invoice.Invoice {
	h.t.Helper()
	inv, err := h.g.CreateInvoice(context.Background(), h.storeID, gateway.NewInvoice{Price: price, Currency: "USD"})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

func (h *harness) pay(inv *invoice.Invoice, amount money.Sats) string {
	h.t.Helper()
	txid, err := h.node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, amount)
	if err != nil {
		h.t.Fatal(err)
	}
	return txid.String()
}

func (h *harness) mine(n int) {
	h.t.Helper()
	if _, err := h.node.Mine(context.Background(), n); err != nil {
		h.t.Fatal(err)
	}
}

// wait polls the store until the invoice has the status and exception, and
// fails the test if it does not get there within a generous bound.
func (h *harness) wait(id string, status invoice.Status, exc invoice.Exception) invoice.Invoice {
	h.t.Helper()
	return h.waitFor(id, fmt.Sprintf("%s/%q", status, exc), func(inv invoice.Invoice) bool {
		return inv.Status == status && inv.Exception == exc
	})
}

// waitFor polls the store until the invoice satisfies ok.
func (h *harness) waitFor(id, what string, ok func(invoice.Invoice) bool) invoice.Invoice {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var inv invoice.Invoice
	var err error
	for time.Now().Before(deadline) {
		inv, err = h.db.GetInvoice(context.Background(), id)
		if err == nil && ok(inv) {
			return inv
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("invoice %s: want %s, have %s/%q with %+v (err %v)", id, what, inv.Status, inv.Exception, inv.Payments, err)
	return inv
}

// codes returns the invoice's outbox event codes in order.
func (h *harness) codes(id string) []invoice.Code {
	h.t.Helper()
	events, err := h.db.Outbox(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []invoice.Code
	for _, e := range events {
		out = append(out, invoice.Code(e.Code))
	}
	return out
}

func (h *harness) wantCodes(id string, want ...invoice.Code) {
	h.t.Helper()
	if got := h.codes(id); !slices.Equal(got, want) {
		h.t.Fatalf("invoice %s events: want %v, have %v", id, want, got)
	}
}

func startNode(t testing.TB) *regtest.Node {
	t.Helper()
	node, err := regtest.Start(context.Background(), regtest.Options{Mature: true})
	if err != nil {
		t.Fatalf("start btcd (run scripts/install-btcd.sh): %v", err)
	}
	t.Cleanup(func() { _ = node.Stop() })
	return node
}

func chainHash(s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

const (
	C  = invoice.CodeCreated
	RP = invoice.CodeReceivedPayment
	PF = invoice.CodePaidInFull
	CF = invoice.CodeConfirmed
	CO = invoice.CodeCompleted
)

// TestSpeeds pays a $10 invoice (20,000 sats at 50,000 USD/BTC) at each
// transaction speed and follows it to complete on the real node.
func TestSpeeds(t *testing.T) {
	node := startNode(t)
	cases := []struct {
		speed         invoice.Speed
		at0, at1, at6 invoice.Status
		events        []invoice.Code
	}{
		{invoice.SpeedHigh, invoice.StatusConfirmed, invoice.StatusConfirmed, invoice.StatusComplete, []invoice.Code{C, RP, PF, CF, CO}},
		{invoice.SpeedMedium, invoice.StatusPaid, invoice.StatusConfirmed, invoice.StatusComplete, []invoice.Code{C, RP, PF, CF, CO}},
		{invoice.SpeedLow, invoice.StatusPaid, invoice.StatusPaid, invoice.StatusComplete, []invoice.Code{C, RP, PF, CO}},
	}
	for _, tc := range cases {
		t.Run(string(tc.speed), func(t *testing.T) {
			h := newHarness(t, node, tc.speed)
			inv := h.create("10")
			if inv.Due() != 20000 {
				t.Fatalf("due: want 20000 sats, have %d", inv.Due())
			}
			h.pay(inv, inv.Due())
			h.wait(inv.ID, tc.at0, invoice.ExceptionNone)
			h.mine(1)
			got := h.waitFor(inv.ID, "a confirmed payment", func(inv invoice.Invoice) bool {
				return len(inv.Payments) == 1 && inv.Payments[0].Height > 0
			})
			if got.Status != tc.at1 {
				t.Fatalf("after one confirmation: want %s, have %s", tc.at1, got.Status)
			}
			h.mine(5)
			h.wait(inv.ID, tc.at6, invoice.ExceptionNone)
			h.wantCodes(inv.ID, tc.events...)
		})
	}
}

func TestPartialThenTopUp(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, 5000)
	got := h.wait(inv.ID, invoice.StatusNew, invoice.ExceptionPaidPartial)
	if got.Paid() != 5000 || got.Remaining() != 15000 {
		t.Fatalf("paid %d remaining %d", got.Paid(), got.Remaining())
	}
	h.pay(inv, 15000)
	got = h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
	if got.Paid() != 20000 || len(got.Payments) != 2 {
		t.Fatalf("paid %d with %d payments", got.Paid(), len(got.Payments))
	}
	h.wantCodes(inv.ID, C, RP, RP, PF)
}

func TestOverpayment(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, 25000)
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionPaidOver)
	h.mine(1)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionPaidOver)
}

func TestExpiryThenLatePayment(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.clock.Advance(16 * time.Minute)
	h.wait(inv.ID, invoice.StatusExpired, invoice.ExceptionNone)
	h.pay(inv, inv.Due())
	got := h.wait(inv.ID, invoice.StatusExpired, invoice.ExceptionPaidLate)
	if got.Paid() != 0 || got.Received() != inv.Due() {
		t.Fatalf("late payment: paid %d received %d", got.Paid(), got.Received())
	}
	h.wantCodes(inv.ID, C, invoice.CodeExpired, invoice.CodePaidAfterExpiry)
}

func TestExpiredPartial(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, 1000)
	h.wait(inv.ID, invoice.StatusNew, invoice.ExceptionPaidPartial)
	h.clock.Advance(16 * time.Minute)
	h.wait(inv.ID, invoice.StatusExpired, invoice.ExceptionPaidPartial)
	h.wantCodes(inv.ID, C, RP, invoice.CodeExpiredPartial)
}

func TestInvalidAfterAnHourThenComplete(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, inv.Due())
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
	h.clock.Advance(61 * time.Minute)
	h.wait(inv.ID, invoice.StatusInvalid, invoice.ExceptionNone)
	h.mine(6)
	h.wait(inv.ID, invoice.StatusComplete, invoice.ExceptionNone)
	h.wantCodes(inv.ID, C, RP, PF, invoice.CodeFailedToConfirm, CO)
}

func TestRBFReplacementUndoesPayment(t *testing.T) {
	node := startNode(t)
	h := newHarness(t, node, invoice.SpeedMedium)
	inv := h.create("10")
	txid := h.pay(inv, inv.Due())
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
	back, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := chainHash(txid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Wallet().Replace(context.Background(), hash, back); err != nil {
		t.Fatal(err)
	}
	got := h.wait(inv.ID, invoice.StatusInvalid, invoice.ExceptionNone)
	if got.Paid() != 0 || len(got.Payments) != 1 || !got.Payments[0].Removed {
		t.Fatalf("replaced payment must be kept as removed and not counted: %+v", got.Payments)
	}
	codes := h.codes(inv.ID)
	if !slices.Contains(codes, invoice.CodePaymentReversed) {
		t.Fatalf("no invoice_paymentReversed event: %v", codes)
	}
}

// TestReorgUnconfirmsPayment confirms a payment in a block that a 2-block
// reorg then orphans: the payment goes back to the mempool and the invoice
// back to paid, with an explicit event, then confirms again.
func TestReorgUnconfirmsPayment(t *testing.T) {
	ctx := context.Background()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	h := newHarness(t, a, invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, inv.Due())
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	h.mine(2)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
	if !slices.Contains(h.codes(inv.ID), invoice.CodeConfirmationsLost) {
		t.Fatalf("no invoice_confirmationsLost event: %v", h.codes(inv.ID))
	}
	h.mine(1)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
}

// TestReorgDoubleSpendRemovesPayment orphans the block that confirmed a
// payment in favour of a chain holding a double-spend of it: the payment is
// gone for good and the invoice says so.
func TestReorgDoubleSpendRemovesPayment(t *testing.T) {
	ctx := context.Background()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	h := newHarness(t, a, invoice.SpeedMedium)
	inv := h.create("10")
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	txid := h.pay(inv, inv.Due())
	hash, err := chainHash(txid)
	if err != nil {
		t.Fatal(err)
	}
	back, err := a.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	double, err := a.Wallet().Replacement(ctx, hash, back)
	if err != nil {
		t.Fatal(err)
	}
	h.mine(2)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
	// b mines the double-spend, then outgrows a.
	if _, err := b.MineBlock(ctx, double); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	got := h.wait(inv.ID, invoice.StatusInvalid, invoice.ExceptionNone)
	if got.Paid() != 0 {
		t.Fatalf("double-spent payment still counted: %+v", got.Payments)
	}
	if !slices.Contains(h.codes(inv.ID), invoice.CodePaymentReversed) {
		t.Fatalf("no invoice_paymentReversed event: %v", h.codes(inv.ID))
	}
}

// TestRestartMidConfirmation stops kassa after the first confirmation,
// mines on, and starts it again on the same database: it resumes from the
// stored block and completes the invoice without counting anything twice.
func TestRestartMidConfirmation(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, inv.Due())
	h.mine(1)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
	h.stop()
	h.g.Close()
	h.db.Close()
	h.mine(5)
	h.openDB()
	h.start()
	got := h.wait(inv.ID, invoice.StatusComplete, invoice.ExceptionNone)
	if got.Paid() != inv.Due() || len(got.Payments) != 1 {
		t.Fatalf("after restart: paid %d in %d payments", got.Paid(), len(got.Payments))
	}
	h.wantCodes(inv.ID, C, RP, PF, CF, CO)
}

// TestInvoiceCreatedElsewhereIsWatched creates an invoice through a second
// database handle (the CLI while serve runs) and pays it.
func TestInvoiceCreatedElsewhereIsWatched(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	other, err := store.Open(context.Background(), h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rs, _ := rates.NewFixed(context.Background(), "BTC_USD=50000")
	g2 := gateway.New(gateway.Config{Store: other, Rates: rs, Network: "regtest"})
	defer g2.Close()
	inv, err := g2.CreateInvoice(context.Background(), h.storeID, gateway.NewInvoice{Price: "10", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	h.pay(inv, inv.Due())
	h.wait(inv.ID, invoice.StatusPaid, invoice.ExceptionNone)
}

func TestCreateInvoiceRejectsBadInput(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	cases := []struct {
		name string
		req  gateway.NewInvoice
	}{
		{"zero price", gateway.NewInvoice{Price: "0", Currency: "USD"}},
		{"negative price", gateway.NewInvoice{Price: "-5", Currency: "USD"}},
		{"absurd price", gateway.NewInvoice{Price: "1e30", Currency: "USD"}},
		{"not a number", gateway.NewInvoice{Price: "ten", Currency: "USD"}},
		{"too many decimals", gateway.NewInvoice{Price: "10.001", Currency: "USD"}},
		{"unknown currency", gateway.NewInvoice{Price: "10", Currency: "XYZ"}},
		{"unknown speed", gateway.NewInvoice{Price: "10", Currency: "USD", Speed: "warp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.g.CreateInvoice(context.Background(), h.storeID, tc.req)
			if !errors.Is(err, gateway.ErrInvalid) {
				t.Fatalf("want ErrInvalid, have %v", err)
			}
		})
	}
	if _, err := h.g.CreateInvoice(context.Background(), h.storeID, gateway.NewInvoice{Price: "10", Currency: "JPY"}); err == nil {
		t.Fatal("a currency without a rate must fail")
	}
	invs, err := h.db.ListInvoices(context.Background(), h.storeID, 10)
	if err != nil || len(invs) != 0 {
		t.Fatalf("bad input must create nothing: %d invoices, %v", len(invs), err)
	}
}

// TestNodeOutage kills the node while an invoice waits for confirmation and
// brings it back: the watcher retries, resumes, and nothing is lost or
// counted twice.
func TestNodeOutage(t *testing.T) {
	if kassatest.Current().Name == store.Postgres {
		// About one run in thirty on PostgreSQL, btcd comes back from the
		// kill below the chain it had (the watcher then rightly waits for
		// it): a fault of the regtest harness's kill and replay, not of
		// kassa, being chased; until then this test runs on SQLite only.
		t.Skip("flaky on PostgreSQL: regtest's btcd can come back from SIGKILL without its blocks")
	}
	node := startNode(t)
	h := newHarness(t, node, invoice.SpeedMedium)
	inv := h.create("10")
	h.pay(inv, inv.Due())
	h.mine(1)
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the watcher meets a dead node and backs off
	if err := node.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mine(5)
	got := h.wait(inv.ID, invoice.StatusComplete, invoice.ExceptionNone)
	if got.Paid() != inv.Due() || len(got.Payments) != 1 {
		t.Fatalf("after the outage: paid %d in %d payments", got.Paid(), len(got.Payments))
	}
	h.wantCodes(inv.ID, C, RP, PF, CF, CO)
}
