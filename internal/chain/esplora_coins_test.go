package chain

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// regtestAddr is the regtest address of a p2wpkh test script.
func regtestAddr(t *testing.T, script []byte) string {
	t.Helper()
	a, err := address.NewAddressWitnessPubKeyHash(script[2:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// addTx puts a transaction paying scripts (amounts in order) in the fake's
// mempool; spends lists the outputs it spends.
func (f *fakeEsplora) addTx(t *testing.T, txid string, spends []esKey, outs ...any) {
	t.Helper()
	tx := esplora.Tx{TxID: txid}
	for i := 0; i < len(outs); i += 2 {
		script := outs[i].([]byte)
		tx.Vout = append(tx.Vout, esplora.Output{ScriptPubKey: hex.EncodeToString(script),
			Address: regtestAddr(t, script), Value: int64(outs[i+1].(int))})
	}
	f.set(func() {
		f.txs[txid] = tx
		for _, k := range spends {
			f.spentBy[k] = txid
		}
	})
}

func (f *fakeEsplora) unconfirm(txid string) {
	f.set(func() {
		tx := f.txs[txid]
		tx.Status = esplora.Status{}
		f.txs[txid] = tx
	})
}

func esTxID(b byte) string {
	return hex.EncodeToString([]byte{b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b})
}

// TestEsploraCoins drives the Esplora watcher's coins through a
// sequence: an invoice's payment becomes its coin and a change output
// another, both confirm; the invoice closes; the merchant's wallet spends
// one (spent in the mempool, then in a block); a spend that leaves the
// mempool makes its coin unspent again; a spend with change to the store
// makes the change a coin; a reorg takes a spend back to the mempool; a
// buried spend's coin is forgotten.
func TestEsploraCoins(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	recv, change, change2, merchant := p2wpkh(1), p2wpkh(2), p2wpkh(3), p2wpkh(77)
	pay, sp, sc, sp2 := esTxID(0xa1), esTxID(0xb2), esTxID(0xc3), esTxID(0xd4)
	names := coinNames{pay: "pay", sp: "sp", sc: "sc", sp2: "sp2"}

	w.Watch("inv-a", recv, regtestAddr(t, recv))
	w.WatchScript(StoreScript{StoreID: "s1", InvoiceID: "inv-a", Script: recv, Index: 5})
	w.WatchScript(StoreScript{StoreID: "s1", Script: change, Branch: 1, Index: 2})
	w.WatchScript(StoreScript{StoreID: "s1", Script: change2, Branch: 1, Index: 3})
	esCycle(t, w)
	expectCoins(t, sink, names)

	// The invoice's payment, with change to the store, in the mempool.
	f.addTx(t, pay, nil, p2wpkh(99), 5000, recv, 1000, change, 2000)
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectCoins(t, sink, names, "pay inv-a pay:1 h0 | coin s1/inv-a/0/5 pay:1 1000 h0 | coin s1//1/2 pay:2 2000 h0")

	// Mined: the payment's re-check moves its coin; the invoice's next
	// poll sees the change confirmed too.
	f.mine(101, 0, pay)
	esCycle(t, w)
	expectCoins(t, sink, names, "pay inv-a pay:1 h101 | coin s1/inv-a/0/5 pay:1 1000 h101")
	clock.advance(10 * time.Second)
	esCycle(t, w)
	expectCoins(t, sink, names, "coin s1//1/2 pay:2 2000 h101")

	// The invoice closes; the merchant's wallet spends its coin.
	w.Unwatch("inv-a")
	f.addTx(t, sp, []esKey{{pay, 1}}, merchant, 900)
	clock.advance(5 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent pay:1 by sp h0")
	// A block: the spend in the mempool is checked at once.
	f.mine(102, 0, sp)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent pay:1 by sp h102")

	// A spend of the change leaves the mempool: unspent again.
	f.addTx(t, sc, []esKey{{pay, 2}}, merchant, 1500)
	clock.advance(5 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent pay:2 by sc h0")
	f.set(func() { delete(f.txs, sc) })
	clock.advance(5 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent pay:2 by - h0")

	// Another spend pays the store's next change address: a coin, found
	// from the spend itself.
	f.addTx(t, sp2, []esKey{{pay, 2}}, merchant, 1200, change2, 700)
	clock.advance(5 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "coin s1//1/3 sp2:1 700 h0 | spent pay:2 by sp2 h0")

	// A reorg replaces 102: sp is back in the mempool, then mined at 103.
	f.unconfirm(sp)
	f.mine(102, 1)
	esCycle(t, w)
	expectCoins(t, sink, names, "disconnect>101 | spent pay:1 by sp h0")
	f.mine(103, 1, sp, sp2)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent pay:1 by sp h103 | spent pay:2 by sp2 h103")
	clock.advance(10 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "coin s1//1/3 sp2:1 700 h103")

	// Buried six deep, the spent coins are forgotten; the unspent one is
	// still followed.
	for h := int32(104); h <= 109; h++ {
		f.mine(h, 1)
		esCycle(t, w)
	}
	expectCoins(t, sink, names)
	w.mu.Lock()
	_, spent := w.coins[esKey{pay, 1}]
	_, unspent := w.coins[esKey{sp2, 1}]
	w.mu.Unlock()
	if spent || !unspent {
		t.Fatalf("buried: spent coin followed %v, unspent coin followed %v", spent, unspent)
	}
}

// TestEsploraCoinsRestored: after a restart the restored coins' outspends
// are checked at once: a spend the server does not know is undone, an
// unconfirmed coin whose transaction it does not know is gone, a spend
// it knows is reported.
func TestEsploraCoinsRestored(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	sink.blocks = []Block{{Height: 100, Hash: f.hashes[100]}}
	recv := p2wpkh(1)
	old, lost, sp := esTxID(0x01), esTxID(0x02), esTxID(0x03)
	names := coinNames{old: "old", lost: "lost", sp: "sp"}
	f.addTx(t, old, nil, recv, 4000, recv, 6000)
	f.mine(100, 0, old)
	f.addTx(t, sp, []esKey{{old, 0}}, p2wpkh(9), 3900)
	w := newTestEsplora(t, f, sink, clock)
	coin := func(txid string, vout uint32, height int32) CoinSeen {
		return CoinSeen{StoreID: "s1", Coin: wallet.Coin{TxID: txid, Vout: vout, Amount: 1, Script: recv, Index: 1, Height: height}}
	}
	w.WatchCoin(coin(old, 0, 100), "", 0)
	w.WatchCoin(coin(old, 1, 100), esTxID(0xee), 0) // a spend the server never saw
	w.WatchCoin(coin(lost, 0, 0), "", 0)
	esCycle(t, w)
	expectCoins(t, sink, names, "spent old:0 by sp h0 | spent old:1 by - h0 | gone lost:0")
}

// TestEsploraCoinsLatePayment: a closed invoice's address is polled every
// ScriptInterval; a late payment to it is a coin of its store and
// invoice.
func TestEsploraCoinsLatePayment(t *testing.T) {
	f, sink, clock := newFakeEsplora(100), &fakeSink{}, &stepClock{t: testNow}
	w := newTestEsplora(t, f, sink, clock)
	recv := p2wpkh(1)
	late := esTxID(0x1a)
	names := coinNames{late: "late"}
	w.WatchScript(StoreScript{StoreID: "s1", InvoiceID: "inv-old", Script: recv, Index: 4})
	esCycle(t, w)
	f.addTx(t, late, nil, recv, 3000)
	clock.advance(9 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names)
	clock.advance(time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "coin s1/inv-old/0/4 late:0 3000 h0")
	// Gone from the mempool: removed at the next poll.
	f.set(func() { delete(f.txs, late) })
	clock.advance(10 * time.Minute)
	esCycle(t, w)
	expectCoins(t, sink, names, "gone late:0")
}

// TestEsploraCoinsRequestBudget: however many scripts and coins there
// are, their polls and checks stay within MaxCoinRequests a minute, and
// every script is polled in turn: 500 scripts at 30 a minute take about
// 16 minutes a round, each polled once.
func TestEsploraCoinsRequestBudget(t *testing.T) {
	f, clock := newFakeEsplora(100), &stepClock{t: testNow}
	w := newTestEsplora(t, f, &fakeSink{}, clock)
	const scripts = 500
	for i := range scripts {
		w.WatchScript(StoreScript{StoreID: "s1", Script: p2wpkh(uint32(1000 + i)), Index: uint32(i)})
	}
	requests := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.requests }
	esCycle(t, w)
	if got := requests(); got != 30 {
		t.Fatalf("first round: %d requests, want the whole budget, 30", got)
	}
	// Two-second ticks: one request each.
	for i := 1; i <= scripts-30; i++ {
		clock.advance(2 * time.Second)
		esCycle(t, w)
		if got := requests(); got != 30+i {
			t.Fatalf("after %d ticks: %d requests, want %d", i, got, 30+i)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range scripts {
		if a := regtestAddr(t, p2wpkh(uint32(1000+i))); f.calls[a] != 1 {
			t.Fatalf("script %d polled %d times in a round, want once", i, f.calls[a])
		}
	}
}

// TestEsploraCoinsScriptBackoff: a store script whose polls fail is polled
// less and less often, up to 16 intervals apart, and back on schedule
// once it answers.
func TestEsploraCoinsScriptBackoff(t *testing.T) {
	f, clock := newFakeEsplora(100), &stepClock{t: testNow}
	w := newTestEsplora(t, f, &fakeSink{}, clock)
	script := p2wpkh(1)
	addr := regtestAddr(t, script)
	w.WatchScript(StoreScript{StoreID: "s1", Script: script, Index: 1})
	f.set(func() { f.failing[addr] = &esplora.HTTPError{StatusCode: 400, Body: "Invalid Bitcoin address"} })
	polls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[addr] }
	// Fails at 0, then is polled 20, 40, 80, 160, 160 minutes later.
	for i, gap := range []int{0, 20, 40, 80, 160, 160} {
		if gap > 0 {
			clock.advance(time.Duration(gap-1) * time.Minute)
			esCycle(t, w)
			if polls() != i {
				t.Fatalf("poll %d came before its %d minutes", i+1, gap)
			}
			clock.advance(time.Minute)
		}
		esCycle(t, w)
		if polls() != i+1 {
			t.Fatalf("poll %d not made after %d minutes: %d polls", i+1, gap, polls())
		}
	}
	f.set(func() { delete(f.failing, addr) })
	clock.advance(160 * time.Minute)
	esCycle(t, w) // answers: next in 10 minutes
	clock.advance(10 * time.Minute)
	esCycle(t, w)
	if polls() != 8 {
		t.Fatalf("after recovery: %d polls, want 8", polls())
	}
}
