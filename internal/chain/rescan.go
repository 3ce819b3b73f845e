package chain

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// An invoice created by another process (the CLI while the server runs)
// is watched only when the server notices it, up to a poll later. Its
// payment may by then be in a mempool transaction the watcher examined
// and will not examine again, or in a block already matched without its
// script. So Watch records the script's hash, and the next cycle, after
// the blocks, looks the hashes up in the index of examined mempool
// outputs and in the last RescanDepth processed blocks, and reports what
// pays them in one batch. Everything examined after the cycle took the
// hashes is matched against the scripts anyway.

// takeAdded returns the hashes of the scripts watched since the last
// call and starts a new set.
func (w *Watcher) takeAdded() map[uint64]struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.added) == 0 {
		return nil
	}
	added := w.added
	w.added = make(map[uint64]struct{})
	return added
}

// restoreAdded gives back the hashes of a cycle that failed before its
// rescan committed, for the next cycle.
func (w *Watcher) restoreAdded(added map[uint64]struct{}) {
	if len(added) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	maps.Copy(w.added, added)
}

// rescan reports, in one batch, the examined mempool outputs and the
// outputs of the last RescanDepth processed blocks that pay the scripts
// hashed in added.
func (w *Watcher) rescan(ctx context.Context, added map[uint64]struct{}) error {
	last, ok := w.last()
	if len(added) == 0 || !ok {
		return nil
	}
	bb := w.newBatch()
	// The mempool first: a block's sighting of the same output replaces
	// it in the batch.
	if err := w.rescanMempool(ctx, bb, added); err != nil {
		return err
	}
	if err := w.rescanBlocks(ctx, bb, added); err != nil {
		return err
	}
	if len(bb.b.Seen) == 0 && !bb.b.coinNews() {
		return nil
	}
	bb.b.Tip = last
	w.log.Info("found payments to late-watched scripts", "payments", len(bb.b.Seen), "coins", len(bb.b.Coins))
	return w.apply(ctx, bb)
}

// rescanMempool refetches the examined transactions with an output whose
// script hash is in added and reports their outputs that pay the watched
// scripts (the refetch checks the full script), unless already known.
func (w *Watcher) rescanMempool(ctx context.Context, bb *batchBuilder, added map[uint64]struct{}) error {
	var refs []outpoint
	for h := range added {
		refs = w.pool.find(refs, h)
	}
	if len(refs) == 0 {
		return nil
	}
	ids := make([]chainhash.Hash, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.txid)
	}
	slices.SortFunc(ids, func(a, b chainhash.Hash) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), mempoolChunk)]
		ids = ids[len(chunk):]
		txs, err := w.mempoolTxs(ctx, chunk)
		if err != nil {
			return fmt.Errorf("rescan mempool: %w", err)
		}
		var ms []match
		w.watch.mu.RLock()
		for _, tx := range txs {
			if tx != nil { // nil: it left, perhaps into a block already matched
				ms, _ = w.watch.matchTx(ms, nil, tx)
			}
		}
		w.watch.mu.RUnlock()
		w.matchCoins(bb, txs, 0, added)
		for _, m := range ms {
			if _, late := added[m.script]; !late {
				continue
			}
			if _, known := bb.lookup(m.op); known {
				continue
			}
			bb.seen(m.op, m.invoiceID, m.amount, 0, "")
		}
	}
	return nil
}

// rescanBlocks matches the last RescanDepth processed blocks against the
// scripts hashed in added. A block whose output hashes are remembered is
// refetched only if one of them is in added; a block processed before a
// restart always is.
func (w *Watcher) rescanBlocks(ctx context.Context, bb *batchBuilder, added map[uint64]struct{}) error {
	blocks := w.processed[max(0, len(w.processed)-w.cfg.RescanDepth):]
	for _, blk := range blocks {
		if hashes, ok := w.recent[blk.Hash]; ok && !anyIn(hashes, added) {
			continue
		}
		mb, err := w.cfg.Source.Block(ctx, blk.Hash)
		if err != nil {
			return fmt.Errorf("rescan block %d %s: %w", blk.Height, blk.Hash, err)
		}
		ms, hashes := w.watch.matchBlock(mb)
		w.recent[blk.Hash] = hashes
		ms = slices.DeleteFunc(ms, func(m match) bool {
			_, late := added[m.script]
			return !late
		})
		w.addBlock(bb, blk, ms)
		w.matchCoins(bb, mb.Transactions, blk.Height, added)
	}
	return nil
}

// anyIn reports whether one of hashes is in set.
func anyIn(hashes []uint64, set map[uint64]struct{}) bool {
	for _, h := range hashes {
		if _, ok := set[h]; ok {
			return true
		}
	}
	return false
}

// pruneRecent forgets the output hashes of the blocks that are no longer
// among the last RescanDepth processed.
func (w *Watcher) pruneRecent() {
	keep := w.processed[max(0, len(w.processed)-w.cfg.RescanDepth):]
	for h := range w.recent {
		if !slices.ContainsFunc(keep, func(b Block) bool { return b.Hash == h }) {
			delete(w.recent, h)
		}
	}
}
