//go:build node

package chain

// Integration tests against real btcd nodes on regtest (internal/regtest).
// They need the btcd binary (KASSA_BTCD, .tools/bin/btcd or PATH), so they
// are built only with the tag node (make test), and are skipped with -short.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/regtest"
)

// invoiceAddress returns a regtest P2WPKH address nobody holds and its
// script.
func invoiceAddress(t *testing.T, n byte) (string, []byte) {
	t.Helper()
	prog := make([]byte, 20)
	prog[0], prog[19] = 0xca, n
	a, err := address.NewAddressWitnessPubKeyHash(prog, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress(), script
}

// runBackend opens the node's backend and runs it until the test ends.
func runBackend(t *testing.T, node *regtest.Node, sink Sink) Backend {
	t.Helper()
	return runBackendEvery(t, node, sink, 100*time.Millisecond)
}

func runBackendEvery(t *testing.T, node *regtest.Node, sink Sink, poll time.Duration) Backend {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Open(ctx, Options{URL: node.RPCURL(), Network: "regtest", Sink: sink,
		PollInterval: poll, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return b
}

// all returns the recorded batches without clearing them.
func (s *fakeSink) all() []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// waitFor waits until the sink's batches satisfy cond; the deadline only
// bounds a hung test.
func waitFor(t *testing.T, sink *fakeSink, what string, cond func(Batch) bool) Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, b := range sink.all() {
			if cond(b) {
				return b
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never saw %s; batches: %q", what, describe(sink.all()))
	return Batch{}
}

func seenAt(txid chainhash.Hash, height int32) func(Batch) bool {
	return func(b Batch) bool {
		for _, s := range b.Seen {
			if s.Payment.TxID == txid.String() && s.Payment.Height == height {
				return true
			}
		}
		return false
	}
}

func seenConfirmed(txid chainhash.Hash) func(Batch) bool {
	return func(b Batch) bool {
		for _, s := range b.Seen {
			if s.Payment.TxID == txid.String() && s.Payment.Height > 0 {
				return true
			}
		}
		return false
	}
}

func removed(txid chainhash.Hash) func(Batch) bool {
	return func(b Batch) bool {
		for _, r := range b.Removed {
			if r.TxID == txid.String() {
				return true
			}
		}
		return false
	}
}

func TestBtcdDialect(t *testing.T) {
	if testing.Short() {
		t.Skip("needs btcd")
	}
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	c, err := rpc.New(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Network(ctx); err != nil || n != "regtest" {
		t.Fatalf("Network = %q, %v", n, err)
	}
	addr, script := invoiceAddress(t, 1)
	txid, err := node.Wallet().Pay(ctx, addr, 123_456)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.MempoolTx(ctx, txid)
	if err != nil || !tx.HasWitness() || tx.TxHash() != txid {
		t.Fatalf("MempoolTx = %v, %v", tx, err)
	}
	batch, err := c.MempoolTxs(ctx, []chainhash.Hash{txid, {1}})
	if err != nil || len(batch) != 2 || batch[0] == nil || batch[0].TxHash() != txid || batch[1] != nil {
		t.Fatalf("MempoolTxs = %v, %v", batch, err)
	}
	ids, err := c.Mempool(ctx)
	if err != nil || len(ids) != 1 || ids[0] != txid {
		t.Fatalf("Mempool = %v, %v", ids, err)
	}
	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	height, tip, err := c.Tip(ctx)
	if err != nil || tip != hashes[0] || height != regtest.MatureBlocks+1 {
		t.Fatalf("Tip = %d %s, %v", height, tip, err)
	}
	if h, err := c.BlockHash(ctx, height); err != nil || h != tip {
		t.Fatalf("BlockHash = %s, %v", h, err)
	}
	if n, err := c.BlockCount(ctx); err != nil || n != height {
		t.Fatalf("BlockCount = %d, %v", n, err)
	}
	if h, err := c.BestBlockHash(ctx); err != nil || h != tip {
		t.Fatalf("BestBlockHash = %s, %v", h, err)
	}
	b, err := c.Block(ctx, tip)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, btx := range b.Transactions {
		if btx.TxHash() != txid || !btx.HasWitness() {
			continue
		}
		for _, out := range btx.TxOut {
			found = found || (string(out.PkScript) == string(script) && out.Value == 123_456)
		}
	}
	if !found {
		t.Fatalf("block %s lacks the payment %s", tip, txid)
	}
	// Without a transaction index btcd knows mempool transactions only.
	if _, err := c.MempoolTx(ctx, txid); !errors.Is(err, ErrTxNotFound) {
		t.Fatalf("confirmed tx: err %v, want ErrTxNotFound", err)
	}
	bad, _ := rpc.New("rpc://kassa:wrong@" + node.RPCHost())
	if _, err := bad.Network(ctx); !errors.Is(err, rpc.ErrUnauthorized) {
		t.Fatalf("wrong password: err %v, want ErrUnauthorized", err)
	}
}

func TestWatcherOnBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs btcd")
	}
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	sink := &fakeSink{}
	b := runBackend(t, node, sink)
	waitFor(t, sink, "the start at the tip", func(b Batch) bool { return len(b.Connected) == 1 })

	addr, script := invoiceAddress(t, 1)
	b.Watch("inv-pay", script, addr)
	txid, err := node.Wallet().Pay(ctx, addr, 150_000)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitFor(t, sink, "the payment in the mempool", seenAt(txid, 0))
	if p := seen.Seen[0].Payment; p.Amount != 150_000 || seen.Seen[0].InvoiceID != "inv-pay" {
		t.Fatalf("seen %+v", seen.Seen[0])
	}
	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	conf := waitFor(t, sink, "the payment confirmed", seenConfirmed(txid))
	if conf.Seen[0].Payment.BlockHash != hashes[0].String() || conf.Tip.Hash != hashes[0] {
		t.Fatalf("confirmed in %s (tip %s), want %s", conf.Seen[0].Payment.BlockHash, conf.Tip.Hash, hashes[0])
	}

	// RBF: the replacement pays the wallet back; the payment is removed.
	addr2, script2 := invoiceAddress(t, 2)
	b.Watch("inv-rbf", script2, addr2)
	txid2, err := node.Wallet().Pay(ctx, addr2, 90_000)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the RBF payment in the mempool", seenAt(txid2, 0))
	back, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Wallet().Replace(ctx, txid2, back); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the replaced payment removed", removed(txid2))
}

func TestWatcherReorgOnBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs btcd")
	}
	ctx := context.Background()
	a, bnode := regtest.MustStartPair(t, regtest.Options{Mature: true})
	sink := &fakeSink{}
	w := runBackend(t, a, sink)
	waitFor(t, sink, "the start at the tip", func(b Batch) bool { return len(b.Connected) == 1 })

	addr, script := invoiceAddress(t, 1)
	w.Watch("inv-reorg", script, addr)
	txid, err := a.Wallet().Pay(ctx, addr, 150_000)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the payment in the mempool", seenAt(txid, 0))

	// a confirms it alone, then b's longer chain without it wins: the
	// payment is back in the mempool at height 0.
	if err := a.Disconnect(ctx, bnode); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the payment confirmed on a", seenConfirmed(txid))
	if _, err := regtest.Overtake(ctx, a, bnode); err != nil {
		t.Fatal(err)
	}
	reorg := waitFor(t, sink, "the reorg", func(b Batch) bool { return b.DisconnectedAbove >= 0 && seenAt(txid, 0)(b) })
	if len(reorg.Connected) == 0 {
		t.Fatalf("reorg batch connected nothing: %q", describe([]Batch{reorg}))
	}

	// Now b's chain confirms a double spend of it: the payment is gone.
	back, err := a.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	conflict, err := a.Wallet().Replacement(ctx, txid, back)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(ctx, bnode); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := bnode.MineBlock(ctx, conflict); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(ctx, a, bnode); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the double-spent payment removed", removed(txid))
}

func TestWatcherNotificationsOnBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs btcd")
	}
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	sink := &fakeSink{}
	// Polling once an hour: only btcd's websocket notifications can make
	// the watcher see the payment and the block.
	b := runBackendEvery(t, node, sink, time.Hour)
	waitFor(t, sink, "the start at the tip", func(b Batch) bool { return len(b.Connected) == 1 })
	addr, script := invoiceAddress(t, 3)
	b.Watch("inv-push", script, addr)
	txid, err := node.Wallet().Pay(ctx, addr, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the pushed payment", seenAt(txid, 0))
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sink, "the pushed block", seenConfirmed(txid))
}

// seenFor matches a batch reporting txid paying invoiceID at height.
func seenFor(invoiceID string, txid chainhash.Hash, height int32) func(Batch) bool {
	return func(b Batch) bool {
		for _, s := range b.Seen {
			if s.InvoiceID == invoiceID && s.Payment.TxID == txid.String() && s.Payment.Height == height {
				return true
			}
		}
		return false
	}
}

// TestWatcherLateWatchOnBtcd pays invoices the watcher does not know yet
// (created by another process) in transactions that also pay a watched
// canary: once the canary is reported, the watcher has examined the
// transaction, and only then is the invoice watched.
func TestWatcherLateWatchOnBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs btcd")
	}
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	sink := &fakeSink{}
	b := runBackend(t, node, sink)
	waitFor(t, sink, "the start at the tip", func(b Batch) bool { return len(b.Connected) == 1 })
	canaryAddr, canaryScript := invoiceAddress(t, 9)
	b.Watch("inv-canary", canaryScript, canaryAddr)

	t.Run("in the mempool", func(t *testing.T) {
		addr, script := invoiceAddress(t, 1)
		txid, err := node.Wallet().PayMany(ctx, []regtest.Output{{Address: addr, Amount: 70_000}, {Address: canaryAddr, Amount: 1_000}})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, sink, "the canary in the mempool", seenFor("inv-canary", txid, 0))
		b.Watch("inv-late", script, addr)
		got := waitFor(t, sink, "the late invoice's payment", seenFor("inv-late", txid, 0))
		if s := got.Seen[0]; s.Payment.Amount != 70_000 || s.Payment.Vout != 0 {
			t.Fatalf("seen %+v", s)
		}
	})
	t.Run("mined", func(t *testing.T) {
		addr, script := invoiceAddress(t, 2)
		txid, err := node.Wallet().PayMany(ctx, []regtest.Output{{Address: addr, Amount: 80_000}, {Address: canaryAddr, Amount: 1_000}})
		if err != nil {
			t.Fatal(err)
		}
		hashes, err := node.Mine(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		conf := waitFor(t, sink, "the canary confirmed", func(b Batch) bool {
			return seenConfirmed(txid)(b) && b.Tip.Hash == hashes[0]
		})
		height := conf.Tip.Height
		b.Watch("inv-late-mined", script, addr)
		got := waitFor(t, sink, "the late invoice's confirmed payment", seenFor("inv-late-mined", txid, height))
		if s := got.Seen[0]; s.Payment.Amount != 80_000 || s.Payment.BlockHash != hashes[0].String() {
			t.Fatalf("seen %+v, want block %s", s, hashes[0])
		}
	})
}
