package chain

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// coinNames names transactions in describeCoins' lines.
type coinNames map[string]string

func (n coinNames) add(name string, tx *wire.MsgTx) *wire.MsgTx {
	n[tx.TxHash().String()] = name
	return tx
}

func (n coinNames) of(txid string) string {
	if txid == "" {
		return "-"
	}
	if s, ok := n[txid]; ok {
		return s
	}
	return txid[:8]
}

// describeCoins renders the coin side of batches (and whether invoice
// payments were seen) as short lines.
func describeCoins(bs []Batch, names coinNames) []string {
	var out []string
	for _, b := range bs {
		var parts []string
		if b.DisconnectedAbove >= 0 {
			parts = append(parts, fmt.Sprintf("disconnect>%d", b.DisconnectedAbove))
		}
		for _, s := range b.Seen {
			parts = append(parts, fmt.Sprintf("pay %s %s:%d h%d", s.InvoiceID, names.of(s.Payment.TxID), s.Payment.Vout, s.Payment.Height))
		}
		for _, c := range b.Coins {
			parts = append(parts, fmt.Sprintf("coin %s/%s/%d/%d %s:%d %d h%d", c.StoreID, c.InvoiceID, c.Coin.Branch, c.Coin.Index,
				names.of(c.Coin.TxID), c.Coin.Vout, c.Coin.Amount, c.Coin.Height))
		}
		for _, s := range b.Spent {
			parts = append(parts, fmt.Sprintf("spent %s:%d by %s h%d", names.of(s.TxID), s.Vout, names.of(s.SpentBy), s.Height))
		}
		for _, r := range b.CoinsRemoved {
			parts = append(parts, fmt.Sprintf("gone %s:%d", names.of(r.TxID), r.Vout))
		}
		if len(parts) > 0 {
			out = append(out, strings.Join(parts, " | "))
		}
	}
	return out
}

func expectCoins(t *testing.T, sink *fakeSink, names coinNames, want ...string) []Batch {
	t.Helper()
	got := sink.take()
	if d := describeCoins(got, names); !slices.Equal(d, want) {
		t.Fatalf("batches:\n got  %q\n want %q", d, want)
	}
	return got
}

// spend returns a transaction spending the outputs of prev at vouts to
// script.
func spend(script []byte, amount int64, prev *wire.MsgTx, vouts ...uint32) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	for _, v := range vouts {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: v}, Sequence: 0xfffffffd})
	}
	tx.AddTxOut(&wire.TxOut{PkScript: script, Value: amount})
	return tx
}

func TestCoinsPaidSpentAndReorged(t *testing.T) {
	c, sink := newFakeChain(100), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	recv, change, merchant := p2wpkh(1), p2wpkh(2), p2wpkh(77)
	w.Watch("inv-a", recv, "")
	w.WatchScript(StoreScript{StoreID: "s1", InvoiceID: "inv-a", Script: recv, Index: 5})
	w.WatchScript(StoreScript{StoreID: "s1", Script: change, Branch: 1, Index: 2})
	settle(t, w)
	sink.take()
	names := coinNames{}

	// The invoice's payment (with an output to a change address of the
	// store) is a payment and two coins, in the mempool, then at 101.
	pay := names.add("pay", payTx(p2wpkh(99), 5000, recv, 1000, change, 2000))
	c.addTx(pay)
	settle(t, w)
	got := expectCoins(t, sink, names, "pay inv-a pay:1 h0 | coin s1/inv-a/0/5 pay:1 1000 h0 | coin s1//1/2 pay:2 2000 h0")
	if cs := got[0].Coins[0]; !slices.Equal(cs.Coin.Script, recv) || !cs.SeenAt.Equal(testNow) {
		t.Fatalf("coin %+v", cs)
	}
	settle(t, w)
	expectCoins(t, sink, names) // reported once
	c.mine()
	settle(t, w)
	expectCoins(t, sink, names, "pay inv-a pay:1 h101 | coin s1/inv-a/0/5 pay:1 1000 h101 | coin s1//1/2 pay:2 2000 h101")

	// The invoice closes and is unwatched; a late payment to its address
	// is still a coin of its store and invoice.
	w.Unwatch("inv-a")
	late := names.add("late", payTx(recv, 3000))
	c.addTx(late)
	settle(t, w)
	expectCoins(t, sink, names, "coin s1/inv-a/0/5 late:0 3000 h0")

	// The merchant's wallet spends the first coin without kassa: spent in
	// the mempool, then at 102.
	sp := names.add("sp", spend(merchant, 900, pay, 1))
	c.addTx(sp)
	settle(t, w)
	expectCoins(t, sink, names, "spent pay:1 by sp h0")
	c.mine() // 102: sp and late
	settle(t, w)
	expectCoins(t, sink, names, "coin s1/inv-a/0/5 late:0 3000 h102 | spent pay:1 by sp h102")
	c.mine() // 103
	settle(t, w)
	expectCoins(t, sink, names)

	// A reorg from 102 up: late and sp go back to the mempool, and with
	// them the coin's confirmation and the spend's.
	c.fork(101, 3, nil, func(*wire.MsgTx) bool { return true })
	settle(t, w)
	expectCoins(t, sink, names, "disconnect>101 | coin s1/inv-a/0/5 late:0 3000 h0 | spent pay:1 by sp h0")

	// A double spend of sp confirms: the coin is spent by it instead;
	// late leaves the mempool (replaced): its coin is gone.
	ds := names.add("ds", spend(merchant, 800, pay, 1))
	c.dropTx(sp.TxHash())
	c.dropTx(late.TxHash())
	h := c.mine(ds) // 105
	settle(t, w)
	expectCoins(t, sink, names, "spent pay:1 by ds h105", "gone late:0")
	_ = h

	// An unconfirmed spend of the change that leaves the mempool makes
	// it unspent again.
	sc := names.add("sc", spend(merchant, 1500, pay, 2))
	c.addTx(sc)
	settle(t, w)
	expectCoins(t, sink, names, "spent pay:2 by sc h0")
	c.dropTx(sc.TxHash())
	settle(t, w)
	expectCoins(t, sink, names, "spent pay:2 by - h0")
	settle(t, w)
	expectCoins(t, sink, names)
}

// TestCoinsChildBeforeParent: a mempool listing that names a spend before
// the payment it spends still reports both.
func TestCoinsChildBeforeParent(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	w := newTestWatcher(t, c, sink)
	recv := p2wpkh(1)
	w.WatchScript(StoreScript{StoreID: "s1", Script: recv, Index: 1})
	settle(t, w)
	sink.take()
	names := coinNames{}
	parent := names.add("parent", payTx(recv, 1000))
	child := names.add("child", spend(p2wpkh(9), 900, parent, 0))
	c.addTx(child)
	c.addTx(parent)
	settle(t, w)
	expectCoins(t, sink, names, "coin s1//0/1 parent:0 1000 h0 | spent parent:0 by child h0")
	// Both in one block: confirmed and spent there.
	c.mine()
	settle(t, w)
	expectCoins(t, sink, names, "coin s1//0/1 parent:0 1000 h11 | spent parent:0 by child h11")
}

// TestCoinsRestored: coins the store knows are followed after a restart,
// and a spend buried below the remembered blocks is forgotten.
func TestCoinsRestored(t *testing.T) {
	c, sink := newFakeChain(10), &fakeSink{}
	names := coinNames{}
	old := names.add("old", payTx(p2wpkh(1), 4000, p2wpkh(2), 6000))
	c.mine(old) // 11
	w := newTestWatcher(t, c, sink)
	w.cfg.KeepBlocks = 5
	restore := func(vout uint32) CoinSeen {
		return CoinSeen{StoreID: "s1", Coin: wallet.Coin{TxID: old.TxHash().String(), Vout: vout,
			Amount: money.Sats(old.TxOut[vout].Value), Script: old.TxOut[vout].PkScript, Index: vout, Height: 11}}
	}
	w.WatchCoin(restore(0), "", 0)
	w.WatchCoin(restore(1), chainhash.Hash{1}.String(), 0) // a spend the node never saw
	settle(t, w)
	expectCoins(t, sink, names, "spent old:1 by - h0") // left the mempool: unspent again

	sp := names.add("sp", spend(p2wpkh(9), 3900, old, 0))
	c.mine(sp) // 12
	settle(t, w)
	expectCoins(t, sink, names, "spent old:0 by sp h12")
	for range 6 {
		c.mine()
	}
	settle(t, w)
	w.mu.Lock()
	_, kept := w.coins[outpoint{old.TxHash(), 0}]
	_, unspent := w.coins[outpoint{old.TxHash(), 1}]
	w.mu.Unlock()
	if kept || !unspent {
		t.Fatalf("after the spend is buried: spent coin followed %v, unspent coin followed %v", kept, unspent)
	}
}
