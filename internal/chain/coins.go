package chain

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Coins: besides the invoices' watch set, the node watcher keeps a second
// watch set of every script the stores registered with WatchScript (each
// invoice's address, kept after the invoice is unwatched, and change
// addresses), whose entry names the script's owner instead of an invoice.
// An output paying one is a coin. The watcher follows the coins it knows
// (reported or restored with WatchCoin) by outpoint, so a transaction
// spending one, in a block or the mempool, is reported as Spent whoever
// made it. A reorg takes the coins and spends above the fork back to
// height 0; the mempool round reports the height-0 coins whose
// transaction left (removed) and the height-0 spends whose spender left
// (unspent again), like the payments. A coin is forgotten once its spend
// is deeper than the remembered blocks.

// coinState is a coin the watcher follows.
type coinState struct {
	owner       string // the owner's key in the scripts watch set
	script      string
	amount      int64
	height      int32          // 0 while unconfirmed
	spentBy     chainhash.Hash // zero while unspent
	spentHeight int32
}

func (c coinState) spent() bool { return c.spentBy != chainhash.Hash{} }

// ownerKey packs a script's owner into a watch set ID: the store and
// invoice IDs (no NUL in either), the branch and index, and the script
// itself, so that one key index of two store keys (a changed key) stays
// two owners.
func ownerKey(s StoreScript) string {
	b := make([]byte, 0, len(s.StoreID)+len(s.InvoiceID)+10+len(s.Script))
	b = append(b, s.StoreID...)
	b = append(b, 0)
	b = append(b, s.InvoiceID...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, s.Branch)
	b = binary.BigEndian.AppendUint32(b, s.Index)
	b = append(b, s.Script...)
	return string(b)
}

// parseOwner reverses ownerKey, but for the script.
func parseOwner(key string) (storeID, invoiceID string, branch, index uint32) {
	storeID, rest, _ := strings.Cut(key, "\x00")
	invoiceID, rest, _ = strings.Cut(rest, "\x00")
	if len(rest) >= 8 {
		branch = binary.BigEndian.Uint32([]byte(rest[:4]))
		index = binary.BigEndian.Uint32([]byte(rest[4:8]))
	}
	return storeID, invoiceID, branch, index
}

// WatchScript adds a store's script to the store-wide watch for good. A
// script watched after it was paid is found like an invoice's (the next
// cycle rescans the examined mempool and the last RescanDepth blocks).
func (w *Watcher) WatchScript(s StoreScript) {
	if len(s.Script) > maxScript || strings.ContainsRune(s.StoreID, 0) || strings.ContainsRune(s.InvoiceID, 0) {
		return
	}
	w.scripts.add(ownerKey(s), s.Script)
	h := w.watch.scriptHash(s.Script) // both sets hash with one seed
	w.mu.Lock()
	defer w.mu.Unlock()
	w.added[h] = struct{}{}
}

// WatchCoin restores a coin the store knows. A malformed txid is logged
// and ignored.
func (w *Watcher) WatchCoin(c CoinSeen, spentBy string, spentHeight int32) {
	h, err := chainhash.NewHashFromStr(c.Coin.TxID)
	if err != nil {
		w.log.Warn("ignoring restored coin with a bad txid", "txid", c.Coin.TxID, "err", err)
		return
	}
	st := coinState{
		owner: ownerKey(StoreScript{StoreID: c.StoreID, InvoiceID: c.InvoiceID, Script: c.Coin.Script,
			Branch: c.Coin.Branch, Index: c.Coin.Index}),
		script: string(c.Coin.Script),
		amount: int64(c.Coin.Amount),
		height: max(c.Coin.Height, 0),
	}
	if spentBy != "" {
		by, err := chainhash.NewHashFromStr(spentBy)
		if err != nil {
			w.log.Warn("ignoring a restored coin's spend with a bad txid", "coin", c.Coin.TxID, "spent_by", spentBy, "err", err)
		} else {
			st.spentBy, st.spentHeight = *by, max(spentHeight, 0)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.coins[outpoint{*h, c.Coin.Vout}] = st
}

// matchCoins adds to the batch what txs, at height (0: the mempool), do to
// the stores' coins: outputs paying a store script become coins, inputs
// spending a known coin mark it spent. Outputs go first, so a child seen
// before its parent (mempool order is arbitrary) still spends its coin.
// With only set (a rescan for late scripts), only outputs whose script
// hash is in it count and inputs are not looked at. A coin or spend
// already known as it is now is left out.
func (w *Watcher) matchCoins(bb *batchBuilder, txs []*wire.MsgTx, height int32, only map[uint64]struct{}) {
	ids := make([]chainhash.Hash, len(txs))
	hashed := make([]bool, len(txs))
	id := func(i int) chainhash.Hash {
		if !hashed[i] {
			ids[i], hashed[i] = txs[i].TxHash(), true
		}
		return ids[i]
	}
	s := w.scripts
	s.mu.RLock()
	if len(s.entries) > len(s.free) {
		for t, tx := range txs {
			if tx == nil {
				continue
			}
			for i, out := range tx.TxOut {
				key := unsafeString(out.PkScript)
				h := s.hash(s.seed, key)
				if _, late := only[h]; only != nil && !late {
					continue
				}
				slot, ok := s.findScriptHashed(h, key)
				if !ok {
					continue
				}
				op := outpoint{id(t), uint32(i)}
				st, known := bb.lookupCoin(op)
				if known && (height == 0 || st.height == height) {
					continue // known; from the mempool, perhaps confirmed in a block the node raced
				}
				if !known {
					e := s.entries[slot]
					st = coinState{owner: entryInvoice(e), script: entryScript(e), amount: out.Value}
				}
				bb.coinSeen(op, st, height)
			}
		}
	}
	s.mu.RUnlock()
	w.mu.Lock()
	following := len(w.coins) > 0
	w.mu.Unlock()
	if only != nil || !following && len(bb.coinSet) == 0 {
		return
	}
	for t, tx := range txs {
		if tx == nil {
			continue
		}
		for _, in := range tx.TxIn {
			op := outpoint{in.PreviousOutPoint.Hash, in.PreviousOutPoint.Index}
			st, ok := bb.lookupCoin(op)
			if !ok {
				continue
			}
			by := id(t)
			if st.spentBy == by && st.spentHeight == height || height == 0 && st.spentHeight > 0 {
				continue
			}
			bb.spend(op, st, by, height)
		}
	}
}

// unconfirmCoins adds to the batch the coins and spends confirmed at or
// above from (reorged out), back at height 0, in a stable order.
func (w *Watcher) unconfirmCoins(bb *batchBuilder, from int32) {
	type entry struct {
		op outpoint
		st coinState
	}
	var moved []entry
	w.mu.Lock()
	for op, st := range w.coins {
		if st.height >= from || st.spentHeight >= from {
			moved = append(moved, entry{op, st})
		}
	}
	w.mu.Unlock()
	slices.SortFunc(moved, func(a, b entry) int {
		return cmp.Or(bytes.Compare(a.op.txid[:], b.op.txid[:]), cmp.Compare(a.op.vout, b.op.vout))
	})
	for _, m := range moved {
		st := m.st
		if st.height >= from {
			bb.coinSeen(m.op, st, 0)
			st.height = 0
		}
		if st.spentHeight >= from {
			bb.spend(m.op, st, st.spentBy, 0)
		}
	}
}

// goneCoins adds to the batch the unconfirmed coins whose transaction is
// not in the mempool (current) and the unconfirmed spends whose spender is
// not: removed, and unspent again.
func (w *Watcher) goneCoins(bb *batchBuilder, current map[chainhash.Hash]struct{}) {
	var ops []outpoint
	w.mu.Lock()
	for op, st := range w.coins {
		if st.height == 0 || st.spent() && st.spentHeight == 0 {
			ops = append(ops, op)
		}
	}
	w.mu.Unlock()
	slices.SortFunc(ops, func(a, b outpoint) int {
		return cmp.Or(bytes.Compare(a.txid[:], b.txid[:]), cmp.Compare(a.vout, b.vout))
	})
	for _, op := range ops {
		st, ok := bb.lookupCoin(op)
		if !ok {
			continue
		}
		if _, in := current[op.txid]; st.height == 0 && !in {
			bb.coinRemove(op)
			continue
		}
		if _, in := current[st.spentBy]; st.spent() && st.spentHeight == 0 && !in {
			bb.spend(op, st, chainhash.Hash{}, 0)
		}
	}
}

// forgetBuried drops the coins whose spend confirmed below floor, the
// lowest remembered block: no reorg the watcher can see undoes it.
func (w *Watcher) forgetBuried(floor int32) {
	for op, st := range w.coins {
		if st.spent() && st.spentHeight > 0 && st.spentHeight < floor {
			delete(w.coins, op)
		}
	}
}

// lookupCoin returns the coin at op as it will be once the batch commits.
func (bb *batchBuilder) lookupCoin(op outpoint) (coinState, bool) {
	if _, gone := bb.coinDel[op]; gone {
		return coinState{}, false
	}
	if st, ok := bb.coinSet[op]; ok {
		return st, true
	}
	bb.w.mu.Lock()
	defer bb.w.mu.Unlock()
	st, ok := bb.w.coins[op]
	return st, ok
}

// coinSeen reports the coin st at op at height.
func (bb *batchBuilder) coinSeen(op outpoint, st coinState, height int32) {
	st.height = height
	storeID, invoiceID, branch, index := parseOwner(st.owner)
	c := CoinSeen{StoreID: storeID, InvoiceID: invoiceID, SeenAt: bb.now, Coin: wallet.Coin{
		TxID: op.txid.String(), Vout: op.vout, Amount: money.Sats(st.amount), Script: []byte(st.script),
		Branch: branch, Index: index, Height: height,
	}}
	upsert(bb.coinIdx, &bb.b.Coins, op, c)
	delete(bb.coinDel, op)
	bb.coinSet[op] = st
}

// spend reports that by spends the coin st at op at height; a zero by
// makes it unspent.
func (bb *batchBuilder) spend(op outpoint, st coinState, by chainhash.Hash, height int32) {
	st.spentBy, st.spentHeight = by, height
	sp := Spent{TxID: op.txid.String(), Vout: op.vout, Height: height}
	if st.spent() {
		sp.SpentBy = by.String()
	} else {
		st.spentHeight, sp.Height = 0, 0
	}
	upsert(bb.spentIdx, &bb.b.Spent, op, sp)
	bb.coinSet[op] = st
}

// coinRemove reports that the coin at op no longer exists.
func (bb *batchBuilder) coinRemove(op outpoint) {
	if _, done := bb.coinDel[op]; done {
		return
	}
	bb.b.CoinsRemoved = append(bb.b.CoinsRemoved, CoinRemoved{TxID: op.txid.String(), Vout: op.vout})
	delete(bb.coinSet, op)
	bb.coinDel[op] = struct{}{}
}

// coinNews reports whether the batch changes any coin.
func (b *Batch) coinNews() bool {
	return len(b.Coins) > 0 || len(b.Spent) > 0 || len(b.CoinsRemoved) > 0
}
