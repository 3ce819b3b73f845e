package chain

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
)

// fakeEsplora is a scripted AddressSource.
type fakeEsplora struct {
	mu      sync.Mutex
	height  int32
	hashes  map[int32]chainhash.Hash
	txs     map[string]esplora.Tx // known txs; absent = not found
	calls   map[string]int        // address polls by address
	failing map[string]error      // address -> error to answer
	limited bool
	// spentBy names the transactions spending each output (txid:vout);
	// a spender missing from txs does not count.
	spentBy map[esKey]string
	// requests counts every request but the tip's.
	requests int
}

func newFakeEsplora(height int32) *fakeEsplora {
	f := &fakeEsplora{hashes: map[int32]chainhash.Hash{}, txs: map[string]esplora.Tx{},
		calls: map[string]int{}, failing: map[string]error{}, spentBy: map[esKey]string{}}
	for h := int32(0); h <= height; h++ {
		f.setBlock(h, 0)
	}
	f.height = height
	return f
}

func (f *fakeEsplora) setBlock(h int32, variant byte) chainhash.Hash {
	var hash chainhash.Hash
	hash[0], hash[1], hash[2], hash[31] = byte(h), byte(h>>8), variant, 0x42
	f.hashes[h] = hash
	return hash
}

// mine makes a new tip (variant tells a competing block at the same
// height) and confirms the given txs in it.
func (f *fakeEsplora) mine(height int32, variant byte, txids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hash := f.setBlock(height, variant)
	f.height = height
	for _, id := range txids {
		tx := f.txs[id]
		tx.Status = esplora.Status{Confirmed: true, BlockHeight: height, BlockHash: hash.String()}
		f.txs[id] = tx
	}
}

func (f *fakeEsplora) pay(txid, addr, script string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txs[txid] = esplora.Tx{TxID: txid, Vout: []esplora.Output{
		{ScriptPubKey: "0014" + "ff", Address: "elsewhere", Value: 5},
		{ScriptPubKey: script, Address: addr, Value: amount},
	}}
}

func (f *fakeEsplora) set(fn func()) { f.mu.Lock(); fn(); f.mu.Unlock() }

func (f *fakeEsplora) err() error {
	if f.limited {
		return fmt.Errorf("GET: %w", &esplora.HTTPError{StatusCode: 429, Body: "Too Many Requests", RetryAfter: 30 * time.Second})
	}
	return nil
}

func (f *fakeEsplora) Network(context.Context) (string, error) { return "regtest", nil }

func (f *fakeEsplora) TipHash(context.Context) (chainhash.Hash, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hashes[f.height], f.err()
}

func (f *fakeEsplora) TipHeight(context.Context) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.height, f.err()
}

func (f *fakeEsplora) BlockHash(_ context.Context, h int32) (chainhash.Hash, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hashes[h], f.err()
}

func (f *fakeEsplora) AddressTxs(_ context.Context, addr string) ([]esplora.Tx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[addr]++
	f.requests++
	if err := f.err(); err != nil {
		return nil, err
	}
	if err := f.failing[addr]; err != nil {
		return nil, err
	}
	var out []esplora.Tx
	for _, tx := range f.txs {
		for _, o := range tx.Vout {
			if o.Address == addr {
				out = append(out, tx)
				break
			}
		}
	}
	return out, nil
}

func (f *fakeEsplora) Tx(_ context.Context, txid string) (esplora.Tx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	tx, ok := f.txs[txid]
	if !ok {
		return tx, &esplora.HTTPError{StatusCode: 404, Body: "Transaction not found"}
	}
	return tx, nil
}

func (f *fakeEsplora) Outspends(_ context.Context, txid string) ([]esplora.Outspend, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if err := f.err(); err != nil {
		return nil, err
	}
	tx, ok := f.txs[txid]
	if !ok {
		return nil, &esplora.HTTPError{StatusCode: 404, Body: "Transaction not found"}
	}
	out := make([]esplora.Outspend, len(tx.Vout))
	for i := range out {
		if by, ok := f.txs[f.spentBy[esKey{txid, uint32(i)}]]; ok {
			out[i] = esplora.Outspend{Spent: true, TxID: by.TxID, Status: by.Status}
		}
	}
	return out, nil
}

func (f *fakeEsplora) TxStatus(ctx context.Context, txid string) (esplora.Status, error) {
	tx, err := f.Tx(ctx, txid)
	return tx.Status, err
}

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *stepClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestEsplora(t *testing.T, f AddressSource, sink Sink, clock Clock) *EsploraWatcher {
	t.Helper()
	if f == nil {
		f = newFakeEsplora(0)
	}
	w, err := NewEsploraWatcher(EsploraConfig{
		Source: f, Sink: sink, Clock: clock,
		FastInterval: 10 * time.Second, SlowInterval: 2 * time.Minute, FreshFor: time.Hour,
		Params: &chaincfg.RegressionNetParams,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func esCycle(t *testing.T, w *EsploraWatcher) {
	t.Helper()
	if err := w.cycle(context.Background()); err != nil {
		t.Fatalf("cycle: %v", err)
	}
}

const (
	esAddrA = "bcrt1qexampleaddressa"
	esTx1   = "1111111111111111111111111111111111111111111111111111111111111111"
	esTx2   = "2222222222222222222222222222222222222222222222222222222222222222"
)

var esScriptA = p2wpkh(1)

func TestEsploraWatcherMempoolConfirmReorg(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	w.Watch("inv-a", esScriptA, esAddrA)
	esCycle(t, w)
	expectBatches(t, sink, "connect 100 | tip 100")
	if f.calls[esAddrA] != 1 {
		t.Fatalf("a new invoice's address is polled at once; polls %d", f.calls[esAddrA])
	}

	f.pay(esTx1, esAddrA, hex.EncodeToString(esScriptA), 150_000)
	esCycle(t, w)
	expectBatches(t, sink) // not due yet
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectBatches(t, sink, "seen inv-a:1 150000 h0 | tip 100")

	f.mine(101, 0, esTx1)
	esCycle(t, w)
	got := expectBatches(t, sink, "connect 101 | seen inv-a:1 150000 h101 | tip 101")
	if got[0].Seen[0].Payment.BlockHash != f.hashes[101].String() {
		t.Fatalf("block hash %q", got[0].Seen[0].Payment.BlockHash)
	}
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectBatches(t, sink) // the address poll agrees: nothing new

	// A competing block replaces 101 without the payment: it is back in
	// the mempool.
	f.set(func() {
		tx := f.txs[esTx1]
		tx.Status = esplora.Status{}
		f.txs[esTx1] = tx
	})
	f.mine(101, 1)
	esCycle(t, w)
	expectBatches(t, sink, "disconnect>100 | connect 101 | seen inv-a:1 150000 h0 | tip 101")
}

func TestEsploraWatcherRemoved(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	w.Watch("inv-a", esScriptA, esAddrA)
	f.pay(esTx1, esAddrA, hex.EncodeToString(esScriptA), 1000)
	esCycle(t, w)
	expectBatches(t, sink, "connect 100 | tip 100", "seen inv-a:1 1000 h0 | tip 100")

	// Replaced by a transaction paying elsewhere: gone from both.
	f.set(func() { delete(f.txs, esTx1) })
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectBatches(t, sink, "removed inv-a:1 | tip 100")
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectBatches(t, sink)
}

func TestEsploraWatcherRestoredPaymentReorged(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	sink.blocks = []Block{{Height: 99, Hash: f.hashes[99]}, {Height: 100, Hash: f.hashes[100]}}
	f.pay(esTx2, "old-address", "0014aa", 777)
	f.mine(100, 0, esTx2)
	w := newTestEsplora(t, f, sink, clock)
	w.WatchPayment("inv-old", esTx2, 1, 100)
	// The block holding it is replaced; the tx is back unconfirmed. The
	// watcher learns the amount from the transaction.
	f.set(func() {
		tx := f.txs[esTx2]
		tx.Status = esplora.Status{}
		f.txs[esTx2] = tx
	})
	f.mine(100, 9)
	esCycle(t, w)
	expectBatches(t, sink, "disconnect>99 | connect 100 | seen inv-old:1 777 h0 | tip 100")
}

func TestEsploraWatcherSchedule(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	w.Watch("inv-a", esScriptA, esAddrA)
	polls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[esAddrA] }
	esCycle(t, w)

	// Fresh: every 10 s.
	for i := 2; i <= 4; i++ {
		clock.advance(10 * time.Second)
		esCycle(t, w)
		if polls() != i {
			t.Fatalf("fresh address: %d polls, want %d", polls(), i)
		}
	}
	// A server error backs the address off: 20 s, then 40 s.
	f.set(func() { f.failing[esAddrA] = &esplora.HTTPError{StatusCode: 503, Body: "busy"} })
	clock.advance(10 * time.Second)
	esCycle(t, w) // poll 5 fails
	clock.advance(10 * time.Second)
	esCycle(t, w)
	if polls() != 5 {
		t.Fatalf("backing off: %d polls, want 5", polls())
	}
	clock.advance(10 * time.Second)
	esCycle(t, w) // poll 6 fails again, next in 40 s
	clock.advance(30 * time.Second)
	esCycle(t, w)
	if polls() != 6 {
		t.Fatalf("backing off: %d polls, want 6", polls())
	}
	f.set(func() { delete(f.failing, esAddrA) })
	clock.advance(10 * time.Second)
	esCycle(t, w)
	if polls() != 7 {
		t.Fatalf("after backoff: %d polls, want 7", polls())
	}
	// Old invoices: every 2 min.
	clock.advance(time.Hour)
	esCycle(t, w) // poll 8, next in 2 min
	clock.advance(time.Minute)
	esCycle(t, w)
	if polls() != 8 {
		t.Fatalf("old address: %d polls, want 8", polls())
	}
	clock.advance(time.Minute)
	esCycle(t, w)
	if polls() != 9 {
		t.Fatalf("old address: %d polls, want 9", polls())
	}
}

func TestEsploraWatcherRateLimit(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	esCycle(t, w)
	sink.take()
	w.Watch("inv-a", esScriptA, esAddrA)
	f.set(func() { f.limited = true })
	esCycle(t, w) // 429 on the tip: paused for Retry-After (30 s)
	f.set(func() { f.limited = false })
	clock.advance(20 * time.Second)
	esCycle(t, w)
	if f.calls[esAddrA] != 0 {
		t.Fatal("polled during the rate-limit pause")
	}
	clock.advance(10 * time.Second)
	esCycle(t, w)
	if f.calls[esAddrA] != 1 {
		t.Fatalf("not polled after the pause: %d", f.calls[esAddrA])
	}
}

func TestEsploraWatcherApplyFailureRetried(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	esCycle(t, w)
	sink.take()
	w.Watch("inv-a", esScriptA, esAddrA)
	f.pay(esTx1, esAddrA, hex.EncodeToString(esScriptA), 1000)
	sink.failNext = 1
	if err := w.cycle(context.Background()); err == nil {
		t.Fatal("cycle hid the sink's failure")
	}
	esCycle(t, w) // due again at once: its schedule was not advanced
	expectBatches(t, sink, "seen inv-a:1 1000 h0 | tip 100")
}

func TestEsploraWatcherTipReorgedOut(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	esCycle(t, w)
	f.mine(101, 0)
	esCycle(t, w)
	sink.take()
	// 101 is replaced and 102 built on the replacement.
	f.mine(101, 1)
	f.mine(102, 1)
	esCycle(t, w)
	expectBatches(t, sink, "disconnect>100 | connect 102 | tip 102")
	f.mine(103, 1)
	esCycle(t, w)
	expectBatches(t, sink, "connect 103 | tip 103")
}

// TestEsploraWatcherLateWatch: an address's history holds payments made
// before Watch (an invoice created by another process), so the first poll
// finds them, in the mempool or mined.
func TestEsploraWatcherLateWatch(t *testing.T) {
	tests := []struct {
		name string
		mine bool
		want string
	}{
		{"in the mempool", false, "seen inv-a:1 150000 h0 | tip 103"},
		{"mined two blocks ago", true, "seen inv-a:1 150000 h101 | tip 103"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
			w := newTestEsplora(t, f, sink, clock)
			esCycle(t, w)
			f.pay(esTx1, esAddrA, hex.EncodeToString(esScriptA), 150_000)
			if tt.mine {
				f.mine(101, 0, esTx1)
			} else {
				f.mine(101, 0)
			}
			f.mine(102, 0)
			f.mine(103, 0)
			esCycle(t, w)
			sink.take()
			w.Watch("inv-a", esScriptA, esAddrA)
			esCycle(t, w)
			expectBatches(t, sink, tt.want)
		})
	}
}
