package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newTestWatcher(t *testing.T, src Source, sink Sink) *Watcher {
	t.Helper()
	w, err := NewWatcher(Config{
		Source: src, Sink: sink, PollInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: fixedClock{testNow},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// settle runs cycles until one finishes without the chain moving.
func settle(t *testing.T, w *Watcher) {
	t.Helper()
	for range 20 {
		err := w.cycle(context.Background())
		if err == nil {
			return
		}
		if !errors.Is(err, errStaleTip) {
			t.Fatalf("cycle: %v", err)
		}
	}
	t.Fatal("watcher did not settle")
}

// describe renders batches as short lines for comparison.
func describe(bs []Batch) []string {
	var out []string
	for _, b := range bs {
		var parts []string
		if b.DisconnectedAbove >= 0 {
			parts = append(parts, fmt.Sprintf("disconnect>%d", b.DisconnectedAbove))
		}
		if len(b.Connected) > 0 {
			var hs []string
			for _, c := range b.Connected {
				hs = append(hs, fmt.Sprint(c.Height))
			}
			parts = append(parts, "connect "+strings.Join(hs, ","))
		}
		for _, s := range b.Seen {
			parts = append(parts, fmt.Sprintf("seen %s:%d %d h%d", s.InvoiceID, s.Payment.Vout, s.Payment.Amount, s.Payment.Height))
		}
		for _, r := range b.Removed {
			parts = append(parts, fmt.Sprintf("removed %s:%d", r.InvoiceID, r.Vout))
		}
		parts = append(parts, fmt.Sprintf("tip %d", b.Tip.Height))
		out = append(out, strings.Join(parts, " | "))
	}
	return out
}

func expectBatches(t *testing.T, sink *fakeSink, want ...string) []Batch {
	t.Helper()
	got := sink.take()
	if d := describe(got); !slices.Equal(d, want) {
		t.Fatalf("batches:\n got  %q\n want %q", d, want)
	}
	return got
}

func TestWatcherNewDatabaseStartsAtTip(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	settle(t, w)
	got := expectBatches(t, sink, "connect 100 | tip 100")
	if got[0].Connected[0].Hash != c.best[100] {
		t.Fatalf("processed hash %s, want %s", got[0].Connected[0].Hash, c.best[100])
	}
	settle(t, w)
	expectBatches(t, sink) // nothing changed, nothing applied
}

func TestWatcherMempoolThenBlock(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a, b := p2wpkh(1), p2wpkh(2)
	w.Watch("inv-a", a, "bcrt1qa")
	w.Watch("inv-b", b, "bcrt1qb")
	settle(t, w)
	sink.take()

	// One transaction pays both invoices and an unwatched script.
	tx := payTx(p2wpkh(99), 5000, a, 1000, b, 2000)
	c.addTx(tx)
	settle(t, w)
	got := expectBatches(t, sink, "seen inv-a:1 1000 h0 | seen inv-b:2 2000 h0 | tip 100")
	p := got[0].Seen[0].Payment
	if p.TxID != tx.TxHash().String() || p.BlockHash != "" || !p.SeenAt.Equal(testNow) {
		t.Fatalf("payment %+v", p)
	}
	settle(t, w)
	expectBatches(t, sink) // examined transactions are not reported again

	h := c.mine()
	settle(t, w)
	got = expectBatches(t, sink, "connect 101 | seen inv-a:1 1000 h101 | seen inv-b:2 2000 h101 | tip 101")
	if got[0].Seen[0].Payment.BlockHash != h.String() {
		t.Fatalf("block hash %q, want %s", got[0].Seen[0].Payment.BlockHash, h)
	}
	c.mine()
	settle(t, w)
	expectBatches(t, sink, "connect 102 | tip 102") // a confirmation: only the tip moves
}

func TestWatcherBlockWithoutMempoolSighting(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	sink.take()
	// Two outputs of one tx pay the same invoice; both are reported once.
	c.mine(payTx(a, 700, a, 300))
	settle(t, w)
	expectBatches(t, sink, "connect 11 | seen inv-a:0 700 h11 | seen inv-a:1 300 h11 | tip 11")
}

func TestWatcherReprocessingChangesNothing(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	a := p2wpkh(1)
	tx := payTx(a, 1000)
	c.mine(tx)
	// The store processed block 10 but crashed before recording 11, whose
	// payment it already knew (from an earlier run that applied it).
	sink.blocks = []Block{{Height: 10, Hash: c.best[10]}}
	w := newTestWatcher(t, c, sink)
	w.Watch("inv-a", a, "")
	w.WatchPayment("inv-a", tx.TxHash().String(), 0, 11)
	settle(t, w)
	expectBatches(t, sink, "connect 11 | tip 11")
}

func TestWatcherResumesFromRecentBlocks(t *testing.T) {
	c, sink := newFakeChain(50), &fakeSink{}
	for h := 40; h <= 50; h++ {
		sink.blocks = append(sink.blocks, Block{Height: int32(h), Hash: c.best[h]})
	}
	a := p2wpkh(7)
	c.mine()
	c.mine(payTx(a, 4200))
	c.mine()
	w := newTestWatcher(t, c, sink)
	w.Watch("inv-a", a, "")
	settle(t, w)
	expectBatches(t, sink, "connect 51 | tip 51", "connect 52 | seen inv-a:0 4200 h52 | tip 52", "connect 53 | tip 53")
}

func TestWatcherReorg(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a, b, keep := p2wpkh(1), p2wpkh(2), p2wpkh(3)
	w.Watch("inv-a", a, "")
	w.Watch("inv-b", b, "")
	w.Watch("inv-keep", keep, "")
	settle(t, w)
	sink.take()

	txA, txB, txKeep := payTx(a, 1000), payTx(b, 2000), payTx(keep, 3000)
	c.mine(txA, txKeep) // 101
	c.mine(txB)         // 102
	settle(t, w)
	expectBatches(t, sink,
		"connect 101 | seen inv-a:0 1000 h101 | seen inv-keep:0 3000 h101 | tip 101",
		"connect 102 | seen inv-b:0 2000 h102 | tip 102")

	// A 2-block reorg to a 3-block branch: txKeep is mined again at 101,
	// txA goes back to the mempool, txB is double-spent away.
	doubleSpend := spendSame(txB, p2wpkh(50), 1999)
	c.fork(100, 3, []*wire.MsgTx{txKeep, doubleSpend}, func(tx *wire.MsgTx) bool { return tx.TxHash() == txA.TxHash() })
	settle(t, w)
	expectBatches(t, sink,
		"disconnect>100 | connect 101,102 | seen inv-a:0 1000 h0 | seen inv-keep:0 3000 h101 | seen inv-b:0 2000 h0 | tip 102",
		"connect 103 | tip 103",
		"removed inv-b:0 | tip 103")
	if sink.blocks[len(sink.blocks)-1].Hash != c.best[103] {
		t.Fatal("sink's processed tip is not the new branch's")
	}

	// txA confirms on the new branch.
	c.mine()
	settle(t, w)
	expectBatches(t, sink, "connect 104 | seen inv-a:0 1000 h104 | tip 104")
}

func TestWatcherShorterBranch(t *testing.T) {
	c, sink := newFakeChain(20), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	txA := payTx(a, 1000)
	c.mine()
	c.mine(txA)
	settle(t, w)
	sink.take()
	// The node's best chain drops to 21 with a different block: the
	// payment from 22 returns to the mempool.
	c.fork(20, 1, nil, func(*wire.MsgTx) bool { return true })
	settle(t, w)
	expectBatches(t, sink, "disconnect>20 | connect 21 | seen inv-a:0 1000 h0 | tip 21")
}

func TestWatcherRBFRemoval(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	sink.take()
	orig := payTx(a, 1000)
	id := c.addTx(orig)
	settle(t, w)
	expectBatches(t, sink, "seen inv-a:0 1000 h0 | tip 10")

	c.dropTx(id)
	c.addTx(spendSame(orig, p2wpkh(66), 990))
	settle(t, w)
	got := expectBatches(t, sink, "removed inv-a:0 | tip 10")
	if got[0].Removed[0].TxID != id.String() {
		t.Fatalf("removed %s, want %s", got[0].Removed[0].TxID, id)
	}
	settle(t, w)
	expectBatches(t, sink) // reported once
}

func TestWatcherRBFReplacementPayingTheInvoice(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	sink.take()
	orig := payTx(a, 1000)
	id := c.addTx(orig)
	settle(t, w)
	sink.take()
	c.dropTx(id)
	c.addTx(spendSame(orig, a, 900)) // a fee bump paying the same invoice
	settle(t, w)
	expectBatches(t, sink, "seen inv-a:0 900 h0 | removed inv-a:0 | tip 10")
}

func TestWatcherNoRemovalWhileTipMoves(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	tx := payTx(a, 1000)
	c.addTx(tx)
	settle(t, w)
	sink.take()

	// A block mining tx arrives right after the mempool was listed: the
	// tx is missing from that list, but must not be reported removed.
	c.onMempool = func() {
		c.onMempool = nil
		c.mine()
	}
	c.dropTx(tx.TxHash())
	c.mu.Lock()
	c.mempool[tx.TxHash()], c.order = tx, append(c.order, tx.TxHash())
	c.mu.Unlock()
	err := w.cycle(context.Background())
	if !errors.Is(err, errStaleTip) {
		t.Fatalf("cycle: %v, want errStaleTip", err)
	}
	settle(t, w)
	expectBatches(t, sink, "connect 11 | seen inv-a:0 1000 h11 | tip 11")
}

func TestWatcherRestoredUnconfirmedPaymentGone(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	sink.blocks = []Block{{Height: 10, Hash: c.best[10]}}
	w := newTestWatcher(t, c, sink)
	tx := payTx(p2wpkh(1), 1000)
	w.Watch("inv-a", p2wpkh(1), "")
	w.WatchPayment("inv-a", tx.TxHash().String(), 0, 0)
	w.WatchPayment("inv-a", "not-a-txid", 0, 0) // logged and ignored
	settle(t, w)
	expectBatches(t, sink, "removed inv-a:0 | tip 10")
}

func TestWatcherApplyFailureRetried(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	sink.take()
	c.mine(payTx(a, 1000))
	sink.failNext = 1
	if err := w.cycle(context.Background()); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("cycle error %v, want the sink's", err)
	}
	if last, _ := w.last(); last.Height != 10 {
		t.Fatalf("watcher advanced to %d after a failed apply", last.Height)
	}
	settle(t, w)
	expectBatches(t, sink, "connect 11 | seen inv-a:0 1000 h11 | tip 11")
}

func TestWatcherUnwatch(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-old", a, "")
	w.Watch("inv-new", a, "") // the script moved to a new invoice
	w.Unwatch("inv-old")      // must not unwatch the new one
	settle(t, w)
	sink.take()
	c.addTx(payTx(a, 1000))
	settle(t, w)
	expectBatches(t, sink, "seen inv-new:0 1000 h0 | tip 10")
	w.Unwatch("inv-new")
	c.mine(payTx(a, 5))
	settle(t, w)
	expectBatches(t, sink, "connect 11 | tip 11")
}

func TestWatcherRunSurvivesNodeOutage(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	c.down = true
	w := newTestWatcher(t, c, sink)
	w.Watch("inv-a", p2wpkh(1), "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
	c.addTx(payTx(p2wpkh(1), 1000))
	for {
		sink.mu.Lock()
		n := len(sink.batches)
		sink.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	expectBatches(t, sink, "connect 10 | tip 10", "seen inv-a:0 1000 h0 | tip 10")
}

func TestWatcherReorgRestoredPayment(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	a := p2wpkh(1)
	tx := payTx(a, 4321)
	c.mine(tx) // 101
	sink.blocks = []Block{{Height: 100, Hash: c.best[100]}, {Height: 101, Hash: c.best[101]}}
	w := newTestWatcher(t, c, sink)
	w.Watch("inv-a", a, "")
	// Restored from the store: no amount; the watcher reads it from the
	// reorged-out block.
	w.WatchPayment("inv-a", tx.TxHash().String(), 0, 101)
	c.fork(100, 2, nil, func(*wire.MsgTx) bool { return false })
	settle(t, w)
	expectBatches(t, sink,
		"disconnect>100 | connect 101 | seen inv-a:0 4321 h0 | tip 101",
		"connect 102 | tip 102",
		"removed inv-a:0 | tip 102")
}

func TestWatcherReorgWithoutOldBlocks(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	tx := payTx(a, 1000)
	old := c.mine(tx)
	settle(t, w)
	sink.take()
	// The node no longer has the reorged-out block: the watcher knows the
	// payment's amount and does not need it.
	c.fork(100, 2, nil, func(*wire.MsgTx) bool { return true })
	delete(c.blocks, old)
	settle(t, w)
	expectBatches(t, sink, "disconnect>100 | connect 101 | seen inv-a:0 1000 h0 | tip 101", "connect 102 | tip 102")
}

// TestWatcherNodeBehind: a node that comes back from a restart (or
// reindexes) and reports a lower tip on the same chain, or a tip below
// every remembered block, is behind, not reorganised: nothing is
// unconfirmed, and once the node has caught up nothing was reported twice.
func TestWatcherNodeBehind(t *testing.T) {
	c, sink := newFakeChain(20), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	w.Watch("inv-a", a, "")
	settle(t, w)
	c.mine(payTx(a, 1000))
	c.mine()
	settle(t, w)
	sink.take()
	c.mu.Lock()
	full := slices.Clone(c.best)
	c.mu.Unlock()
	for _, height := range []int{21, 0} { // on the processed chain; below every remembered block
		c.mu.Lock()
		c.best = full[:height+1]
		c.mu.Unlock()
		settle(t, w)
		expectBatches(t, sink)
	}
	c.mu.Lock()
	c.best = full
	c.mu.Unlock()
	settle(t, w)
	expectBatches(t, sink)
	c.mine()
	settle(t, w)
	expectBatches(t, sink, "connect 23 | tip 23")
}
