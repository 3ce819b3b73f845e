package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// mempoolRound examines the mempool's new transactions and reports the
// unconfirmed payments that left it, if the tip stayed put meanwhile.
func (w *Watcher) mempoolRound(ctx context.Context) error {
	last, ok := w.last()
	if !ok {
		return nil
	}
	ids, err := w.cfg.Source.Mempool(ctx)
	if err != nil {
		return fmt.Errorf("read mempool: %w", err)
	}
	current := make(map[chainhash.Hash]struct{}, len(ids))
	var fresh []chainhash.Hash
	for _, id := range ids {
		current[id] = struct{}{}
		if !w.pool.has(id) {
			fresh = append(fresh, id)
		}
	}
	bb := w.newBatch()
	var ms []match
	// The examined transactions join the index once their matches are
	// applied; if the apply fails they are examined again.
	type examinedTx struct {
		id     chainhash.Hash
		hashes []uint64
	}
	var examined []examinedTx
	var fetched []*wire.MsgTx // for the coins, matched at once
	for len(fresh) > 0 {
		chunk := fresh[:min(len(fresh), mempoolChunk)]
		fresh = fresh[len(chunk):]
		txs, err := w.mempoolTxs(ctx, chunk)
		if err != nil {
			return err
		}
		w.watch.mu.RLock()
		for i, tx := range txs {
			if tx == nil {
				delete(current, chunk[i]) // it left since the list was read
				continue
			}
			hashes := make([]uint64, 0, len(tx.TxOut))
			ms, hashes = w.watch.matchTx(ms, hashes, tx)
			examined = append(examined, examinedTx{chunk[i], hashes})
		}
		w.watch.mu.RUnlock()
		fetched = append(fetched, txs...)
	}
	w.matchCoins(bb, fetched, 0, nil)
	for _, m := range ms {
		if _, known := bb.lookup(m.op); known {
			continue // reported already, perhaps confirmed in a block the node raced
		}
		bb.seen(m.op, m.invoiceID, m.amount, 0, "")
	}

	tipHeight, tipHash, err := w.cfg.Source.Tip(ctx)
	if err != nil {
		return fmt.Errorf("read tip: %w", err)
	}
	if tipHash == last.Hash && tipHeight == last.Height {
		w.mu.Lock()
		for op, t := range w.reported {
			if t.height != 0 {
				continue
			}
			if _, in := current[op.txid]; !in {
				bb.remove(op, t.invoiceID)
			}
		}
		w.mu.Unlock()
		w.goneCoins(bb, current)
	}
	if len(bb.b.Seen) > 0 || len(bb.b.Removed) > 0 || bb.b.coinNews() {
		bb.b.Tip = last
		if err := w.apply(ctx, bb); err != nil {
			return err
		}
	}
	w.pool.retain(current)
	for _, e := range examined {
		w.pool.add(e.id, e.hashes)
	}
	if tipHash != last.Hash && !w.behind {
		return errStaleTip // process the new block now (not while the node catches up)
	}
	return nil
}

// mempoolChunk is how many mempool transactions are fetched in one batch.
const mempoolChunk = 200

// mempoolBatcher is a Source that fetches several mempool transactions in
// one request (the RPC client); the answer for one that left is nil.
type mempoolBatcher interface {
	MempoolTxs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error)
}

// mempoolTxs fetches txids, in one batch when the source can.
func (w *Watcher) mempoolTxs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	if b, ok := w.cfg.Source.(mempoolBatcher); ok {
		txs, err := b.MempoolTxs(ctx, txids)
		if err != nil {
			return nil, fmt.Errorf("mempool transactions: %w", err)
		}
		return txs, nil
	}
	txs := make([]*wire.MsgTx, len(txids))
	for i, id := range txids {
		tx, err := w.cfg.Source.MempoolTx(ctx, id)
		if errors.Is(err, ErrTxNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mempool tx %s: %w", id, err)
		}
		txs[i] = tx
	}
	return txs, nil
}
