package chain

import (
	"slices"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// mempoolIndex is the set of mempool transactions the watcher examined,
// with their outputs indexed by the watch set's 64-bit hash of the output
// script. An invoice watched after its payment was examined (created by
// another process, which the gateway learns of late) is found here: the
// hash names candidate outputs, and the caller verifies the full script
// on the refetched transaction, since hashes may collide. A transaction's
// entries leave with it, so the index is as bounded as the node's
// mempool: about 125 bytes per output of two-output transactions, the
// transaction's own entry included (BenchmarkMempoolIndex).
type mempoolIndex struct {
	txs  map[chainhash.Hash][]uint64 // examined txid -> its outputs' script hashes, by vout
	outs map[uint64]outpoint         // script hash -> one output paying it
	more map[uint64][]outpoint       // further outputs whose script has that hash
}

func newMempoolIndex() *mempoolIndex {
	return &mempoolIndex{
		txs:  make(map[chainhash.Hash][]uint64),
		outs: make(map[uint64]outpoint),
		more: make(map[uint64][]outpoint),
	}
}

// has reports whether txid was examined.
func (x *mempoolIndex) has(txid chainhash.Hash) bool {
	_, ok := x.txs[txid]
	return ok
}

// add records an examined transaction and its outputs' script hashes
// (hashes[vout]). Adding a transaction twice changes nothing.
func (x *mempoolIndex) add(txid chainhash.Hash, hashes []uint64) {
	if x.has(txid) {
		return
	}
	x.txs[txid] = hashes
	for vout, h := range hashes {
		ref := outpoint{txid: txid, vout: uint32(vout)}
		if _, taken := x.outs[h]; taken {
			x.more[h] = append(x.more[h], ref)
		} else {
			x.outs[h] = ref
		}
	}
}

// drop forgets a transaction and its outputs.
func (x *mempoolIndex) drop(txid chainhash.Hash) {
	if x.has(txid) {
		x.dropAll(map[chainhash.Hash]struct{}{txid: {}})
	}
}

// retain drops the transactions not in current.
func (x *mempoolIndex) retain(current map[chainhash.Hash]struct{}) {
	gone := make(map[chainhash.Hash]struct{})
	for txid := range x.txs {
		if _, in := current[txid]; !in {
			gone[txid] = struct{}{}
		}
	}
	if len(gone) > 0 {
		x.dropAll(gone)
	}
}

// dropAll forgets the examined transactions in gone. Each script hash
// they paid is filtered once, so a block confirming many payments to one
// reused script costs one pass over that script's outputs.
func (x *mempoolIndex) dropAll(gone map[chainhash.Hash]struct{}) {
	hashes := make(map[uint64]struct{})
	for txid := range gone {
		for _, h := range x.txs[txid] {
			hashes[h] = struct{}{}
		}
		delete(x.txs, txid)
	}
	isGone := func(r outpoint) bool {
		_, g := gone[r.txid]
		return g
	}
	for h := range hashes {
		rest := slices.DeleteFunc(x.more[h], isGone)
		if first, ok := x.outs[h]; ok && isGone(first) {
			if n := len(rest); n > 0 {
				x.outs[h], rest = rest[n-1], rest[:n-1]
			} else {
				delete(x.outs, h)
			}
		}
		if len(rest) == 0 {
			delete(x.more, h)
		} else {
			x.more[h] = rest
		}
	}
}

// find appends to dst the outputs whose script hashes to h.
func (x *mempoolIndex) find(dst []outpoint, h uint64) []outpoint {
	if first, ok := x.outs[h]; ok {
		dst = append(dst, first)
		dst = append(dst, x.more[h]...)
	}
	return dst
}

// len returns how many transactions and outputs are indexed.
func (x *mempoolIndex) len() (txs, outs int) {
	outs = len(x.outs)
	for _, rest := range x.more {
		outs += len(rest)
	}
	return len(x.txs), outs
}
