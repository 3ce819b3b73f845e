package chain

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// syncBlocks brings the processed blocks to the node's tip: on a new
// database it takes the tip as the start; otherwise it finds the fork
// point, disconnects what was reorged out and connects the new blocks one
// Apply at a time.
func (w *Watcher) syncBlocks(ctx context.Context, tipHeight int32, tipHash chainhash.Hash) error {
	last, ok := w.last()
	if !ok {
		return w.connect(ctx, tipHeight, nil)
	}
	if last.Hash == tipHash {
		return nil
	}
	if w.nodeBehind(tipHeight, tipHash) {
		if !w.behind {
			w.log.Warn("the node is behind the processed chain; waiting for it", "node_tip", tipHeight, "processed_tip", last.Height)
			w.behind = true
		}
		return nil
	}
	w.behind = false
	forkIdx, err := w.findFork(ctx, tipHeight)
	if err != nil {
		return err
	}
	if forkIdx < len(w.processed)-1 {
		if err := w.reorg(ctx, forkIdx, tipHeight); err != nil {
			return err
		}
	}
	for {
		last, _ = w.last()
		if last.Height >= tipHeight {
			return nil
		}
		if err := w.connect(ctx, last.Height+1, &last.Hash); err != nil {
			return err
		}
	}
}

// nodeBehind reports whether a node whose tip lies below the processed one
// is behind rather than reorganised: a node just restarted, reindexing or
// resyncing reports a lower tip for a while. It is behind when its tip is
// below every remembered block (no reorg goes that deep to a shorter
// chain) or is the very block processed at that height. A shorter branch
// proper ends on a block the watcher has not processed, and is followed.
func (w *Watcher) nodeBehind(tipHeight int32, tipHash chainhash.Hash) bool {
	last, _ := w.last()
	if tipHeight >= last.Height {
		return false
	}
	if tipHeight < w.processed[0].Height {
		return true
	}
	i := slices.IndexFunc(w.processed, func(b Block) bool { return b.Height == tipHeight })
	return i >= 0 && w.processed[i].Hash == tipHash
}

// findFork returns the index of the highest processed block still on the
// node's best chain, or -1 if none of the remembered ones is.
func (w *Watcher) findFork(ctx context.Context, tipHeight int32) (int, error) {
	for i := len(w.processed) - 1; i >= 0; i-- {
		p := w.processed[i]
		if p.Height > tipHeight {
			continue
		}
		h, err := w.cfg.Source.BlockHash(ctx, p.Height)
		if err != nil {
			return 0, fmt.Errorf("find fork point: block hash at %d: %w", p.Height, err)
		}
		if h == p.Hash {
			return i, nil
		}
	}
	return -1, nil
}

// fetch returns the best chain's block at height, checking that it
// extends prev when prev is known.
func (w *Watcher) fetch(ctx context.Context, height int32, prev *chainhash.Hash) (Block, *wire.MsgBlock, error) {
	hash, err := w.cfg.Source.BlockHash(ctx, height)
	if err != nil {
		return Block{}, nil, fmt.Errorf("block hash at %d: %w", height, err)
	}
	mb, err := w.cfg.Source.Block(ctx, hash)
	if err != nil {
		return Block{}, nil, fmt.Errorf("block %d %s: %w", height, hash, err)
	}
	if prev != nil && mb.Header.PrevBlock != *prev {
		return Block{}, nil, errStaleTip
	}
	return Block{Height: height, Hash: hash}, mb, nil
}

// connect processes the block at height in its own batch.
func (w *Watcher) connect(ctx context.Context, height int32, prev *chainhash.Hash) error {
	blk, mb, err := w.fetch(ctx, height, prev)
	if err != nil {
		return err
	}
	bb := w.newBatch()
	ms, hashes := w.watch.matchBlock(mb)
	w.addBlock(bb, blk, ms)
	w.matchCoins(bb, mb.Transactions, blk.Height, nil)
	bb.b.Connected = []Block{blk}
	bb.b.Tip = blk
	if err := w.apply(ctx, bb); err != nil {
		return err
	}
	w.pushProcessed(blk, hashes)
	return nil
}

// reorg disconnects the processed blocks above w.processed[forkIdx] and, in
// the same batch, connects the new chain up to the old height (or the tip
// if lower), so a payment that is in both branches never shows as
// unconfirmed in between.
func (w *Watcher) reorg(ctx context.Context, forkIdx int, tipHeight int32) error {
	old := w.processed[forkIdx+1:]
	var forkHeight int32
	var prev *chainhash.Hash
	if forkIdx >= 0 {
		fork := w.processed[forkIdx]
		forkHeight, prev = fork.Height, &fork.Hash
	} else {
		forkHeight = w.processed[0].Height - 1
		w.log.Error("reorg deeper than the remembered blocks; rescanning from the oldest",
			"remembered_from", w.processed[0].Height)
	}
	w.log.Warn("chain reorganisation", "fork_height", forkHeight, "disconnected", len(old), "new_tip", tipHeight)

	bb := w.newBatch()
	bb.b.DisconnectedAbove = forkHeight
	if err := w.unconfirm(ctx, bb, old); err != nil {
		return err
	}
	w.unconfirmCoins(bb, old[0].Height)
	var connected []Block
	var hashes [][]uint64
	oldTop := old[len(old)-1].Height
	for h := forkHeight + 1; h <= min(oldTop, tipHeight); h++ {
		blk, mb, err := w.fetch(ctx, h, prev)
		if err != nil {
			return err
		}
		ms, hs := w.watch.matchBlock(mb)
		w.addBlock(bb, blk, ms)
		w.matchCoins(bb, mb.Transactions, blk.Height, nil)
		connected = append(connected, blk)
		hashes = append(hashes, hs)
		prev = &blk.Hash
	}
	bb.b.Connected = connected
	keep := w.processed[:forkIdx+1]
	if n := len(connected); n > 0 {
		bb.b.Tip = connected[n-1]
	} else if len(keep) > 0 {
		bb.b.Tip = keep[len(keep)-1]
	} else {
		bb.b.Tip = Block{Height: forkHeight}
	}
	if err := w.apply(ctx, bb); err != nil {
		return err
	}
	w.processed = slices.Clone(keep)
	for i, b := range connected {
		w.pushProcessed(b, hashes[i])
	}
	w.pruneRecent()
	return nil
}

// pushProcessed appends a block whose effects were applied; hashes are
// its output script hashes, kept while it is among the last RescanDepth.
func (w *Watcher) pushProcessed(b Block, hashes []uint64) {
	w.processed = append(w.processed, b)
	if n := len(w.processed); n > w.cfg.KeepBlocks {
		w.processed = slices.Delete(w.processed, 0, n-w.cfg.KeepBlocks)
	}
	w.recent[b.Hash] = hashes
	w.pruneRecent()
	// Payments deeper than the remembered blocks can no longer be
	// reorged as far as the watcher can tell; forget them.
	floor := w.processed[0].Height
	w.mu.Lock()
	defer w.mu.Unlock()
	for op, t := range w.reported {
		if t.height > 0 && t.height < floor {
			delete(w.reported, op)
		}
	}
	w.forgetBuried(floor)
}

// addBlock adds a block's payments, matched in ms, to the batch. A
// payment already reported at this height is left out: the sink has it.
func (w *Watcher) addBlock(bb *batchBuilder, blk Block, ms []match) {
	for _, m := range ms {
		invoiceID := m.invoiceID
		if t, ok := bb.lookup(m.op); ok {
			if t.height == blk.Height {
				continue
			}
			invoiceID = t.invoiceID
		}
		bb.seen(m.op, invoiceID, m.amount, blk.Height, blk.Hash.String())
	}
}

// unconfirm adds to the batch the payments of the reorged-out blocks,
// back at height 0, in a stable order. A payment restored without its
// amount has it read from its old block, which nodes keep.
func (w *Watcher) unconfirm(ctx context.Context, bb *batchBuilder, old []Block) error {
	type entry struct {
		op outpoint
		t  tracked
	}
	var gone []entry
	w.mu.Lock()
	for op, t := range w.reported {
		if t.height >= old[0].Height {
			gone = append(gone, entry{op, t})
		}
	}
	w.mu.Unlock()
	slices.SortFunc(gone, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.t.height, b.t.height), strings.Compare(a.t.invoiceID, b.t.invoiceID),
			bytes.Compare(a.op.txid[:], b.op.txid[:]), cmp.Compare(a.op.vout, b.op.vout))
	})
	blocks := make(map[int32]*wire.MsgBlock)
	for _, g := range gone {
		if g.t.amount < 0 {
			amount, err := w.amountFromBlock(ctx, old, blocks, g.op, g.t.height)
			if err != nil {
				return err
			}
			g.t.amount = amount
		}
		bb.seen(g.op, g.t.invoiceID, g.t.amount, 0, "")
	}
	return nil
}

// amountFromBlock reads an output's value from the reorged-out block at
// height.
func (w *Watcher) amountFromBlock(ctx context.Context, old []Block, cache map[int32]*wire.MsgBlock, op outpoint, height int32) (int64, error) {
	mb, ok := cache[height]
	if !ok {
		i := slices.IndexFunc(old, func(b Block) bool { return b.Height == height })
		if i < 0 {
			return 0, fmt.Errorf("no processed block at %d for payment %s:%d", height, op.txid, op.vout)
		}
		var err error
		if mb, err = w.cfg.Source.Block(ctx, old[i].Hash); err != nil {
			return 0, fmt.Errorf("reorged-out block %d %s: %w", height, old[i].Hash, err)
		}
		cache[height] = mb
	}
	for _, tx := range mb.Transactions {
		if tx.TxHash() == op.txid && int(op.vout) < len(tx.TxOut) {
			return tx.TxOut[op.vout].Value, nil
		}
	}
	return 0, fmt.Errorf("payment %s:%d is not in block %d", op.txid, op.vout, height)
}
