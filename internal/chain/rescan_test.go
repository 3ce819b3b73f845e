package chain

import (
	"hash/maphash"
	"testing"
)

// hashFuncs are the watch set's real hash and one under which every script
// collides, so only the full-script checks keep reports exact.
var hashFuncs = map[string]func(maphash.Seed, string) uint64{
	"maphash":   maphash.String,
	"colliding": func(maphash.Seed, string) uint64 { return 7 },
}

// TestWatcherLateWatch covers invoices watched after their payment was
// examined: created by another process, noticed by the server later.
func TestWatcherLateWatch(t *testing.T) {
	a, other := p2wpkh(1), p2wpkh(2)
	tests := []struct {
		name string
		// pay runs before Watch; the watcher processes it after, and
		// whenever pay calls step.
		pay  func(c *fakeChain, step func())
		want []string
	}{{
		name: "in the mempool",
		pay: func(c *fakeChain, _ func()) {
			c.addTx(payTx(p2wpkh(90), 5, a, 1000, other, 7))
		},
		want: []string{"seen inv-a:1 1000 h0 | tip 10"},
	}, {
		name: "mined two blocks ago",
		pay: func(c *fakeChain, _ func()) {
			c.mine(payTx(a, 1000, p2wpkh(90), 5)) // 11
			c.mine()                              // 12
		},
		want: []string{"seen inv-a:0 1000 h11 | tip 12"},
	}, {
		name: "mempool and block in one batch",
		pay: func(c *fakeChain, _ func()) {
			c.mine(payTx(a, 1000)) // 11
			c.addTx(payTx(a, 200))
		},
		want: []string{"seen inv-a:0 200 h0 | seen inv-a:0 1000 h11 | tip 11"},
	}, {
		name: "deeper than RescanDepth",
		pay: func(c *fakeChain, _ func()) {
			c.mine(payTx(a, 1000)) // 11
			for range 6 {
				c.mine()
			}
		},
		want: nil, // the limit the configuration accepts
	}, {
		name: "replaced before Watch",
		pay: func(c *fakeChain, step func()) {
			orig := payTx(a, 1000)
			id := c.addTx(orig)
			step() // examined, then replaced
			c.dropTx(id)
			c.addTx(spendSame(orig, p2wpkh(66), 990))
		},
		want: nil,
	}}
	for hname, hash := range hashFuncs {
		for _, tt := range tests {
			t.Run(hname+"/"+tt.name, func(t *testing.T) {
				c, sink := newFakeChain(10), &fakeSink{}
				w := newTestWatcher(t, c, sink)
				w.watch.hash = hash
				w.Watch("inv-other", other, "") // watched all along
				settle(t, w)
				tt.pay(c, func() { settle(t, w) })
				settle(t, w)
				sink.take()

				w.Watch("inv-a", a, "")
				settle(t, w)
				expectBatches(t, sink, tt.want...)
				w.Watch("inv-a", a, "") // watched again: nothing new
				settle(t, w)
				expectBatches(t, sink)
			})
		}
	}
}

func TestWatcherLateWatchThenConfirmed(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	settle(t, w)
	c.addTx(payTx(a, 1000))
	settle(t, w)
	sink.take()
	// Watched twice before the cycle: one report.
	w.Watch("inv-a", a, "")
	w.Watch("inv-a", a, "")
	settle(t, w)
	expectBatches(t, sink, "seen inv-a:0 1000 h0 | tip 10")
	h := c.mine()
	settle(t, w)
	got := expectBatches(t, sink, "connect 11 | seen inv-a:0 1000 h11 | tip 11")
	if got[0].Seen[0].Payment.BlockHash != h.String() {
		t.Fatalf("block hash %s, want %s", got[0].Seen[0].Payment.BlockHash, h)
	}
	if txs, outs := w.pool.len(); txs != 0 || outs != 0 {
		t.Fatalf("index holds %d transactions, %d outputs after they were mined", txs, outs)
	}
}

func TestWatcherLateWatchBlockHash(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	settle(t, w)
	h := c.mine(payTx(a, 1000))
	c.mine()
	settle(t, w)
	sink.take()
	w.Watch("inv-a", a, "")
	settle(t, w)
	got := expectBatches(t, sink, "seen inv-a:0 1000 h11 | tip 12")
	if p := got[0].Seen[0].Payment; p.BlockHash != h.String() || p.TxID != c.blocks[h].Transactions[1].TxHash().String() {
		t.Fatalf("payment %+v, want block %s", p, h)
	}
}

// TestWatcherLateWatchFetchesOnlyHits checks the hot path: a late script
// nothing paid refetches no block and no transaction.
func TestWatcherLateWatchFetchesOnlyHits(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	settle(t, w)
	for i := range 8 {
		c.addTx(payTx(p2wpkh(uint32(100+i)), 1000))
		c.mine()
	}
	c.addTx(payTx(p2wpkh(99), 1000))
	settle(t, w)
	sink.take()
	c.mu.Lock()
	c.blockCalls = 0
	c.mu.Unlock()
	for i := range 50 {
		w.Watch("inv", p2wpkh(uint32(1000+i)), "")
	}
	w.Watch("inv-paid", p2wpkh(103), "") // paid at height 14
	settle(t, w)
	expectBatches(t, sink, "seen inv-paid:0 1000 h14 | tip 18")
	if c.blockCalls != 1 {
		t.Fatalf("rescan fetched %d blocks, want 1", c.blockCalls)
	}
}

// TestWatcherLateWatchAfterRestart: blocks processed before a restart have
// no remembered hashes and are refetched for the scripts watched at start.
func TestWatcherLateWatchAfterRestart(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	a := p2wpkh(1)
	c.mine(payTx(a, 1000)) // 11, processed by the previous run without a's script
	sink.blocks = []Block{{Height: 10, Hash: c.best[10]}, {Height: 11, Hash: c.best[11]}}
	w := newTestWatcher(t, c, sink)
	w.Watch("inv-a", a, "")
	settle(t, w)
	expectBatches(t, sink, "seen inv-a:0 1000 h11 | tip 11")
}

func TestWatcherLateWatchApplyFailureRetried(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a := p2wpkh(1)
	settle(t, w)
	c.addTx(payTx(a, 1000))
	settle(t, w)
	sink.take()
	w.Watch("inv-a", a, "")
	sink.failNext = 1
	if err := w.cycle(t.Context()); err == nil {
		t.Fatal("cycle succeeded with a failing sink")
	}
	settle(t, w)
	expectBatches(t, sink, "seen inv-a:0 1000 h0 | tip 10")
}

func TestWatcherLateWatchMovedAndUnwatched(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	a, b := p2wpkh(1), p2wpkh(2)
	settle(t, w)
	c.addTx(payTx(a, 1000, b, 2000))
	settle(t, w)
	sink.take()
	w.Watch("inv-old", a, "")
	w.Watch("inv-new", a, "") // the script moved before the cycle
	w.Watch("inv-b", b, "")
	w.Unwatch("inv-b") // gone before the cycle
	settle(t, w)
	expectBatches(t, sink, "seen inv-new:0 1000 h0 | tip 10")
}
