package chain

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
)

// apply hands the batch to the sink and, only if it committed, records
// what it reported.
func (w *Watcher) apply(ctx context.Context, bb *batchBuilder) error {
	if err := w.cfg.Sink.Apply(ctx, bb.b); err != nil {
		return fmt.Errorf("apply chain batch at %d: %w", bb.b.Tip.Height, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for op, t := range bb.set {
		w.reported[op] = t
	}
	for op := range bb.del {
		delete(w.reported, op)
	}
	for op, st := range bb.coinSet {
		w.coins[op] = st
	}
	for op := range bb.coinDel {
		delete(w.coins, op)
	}
	return nil
}

// newBatch starts an empty batch (nothing disconnected).
func (w *Watcher) newBatch() *batchBuilder {
	return &batchBuilder{
		w:    w,
		b:    Batch{DisconnectedAbove: -1},
		idx:  make(map[outpoint]int),
		set:  make(map[outpoint]tracked),
		del:  make(map[outpoint]struct{}),
		now:  w.cfg.Clock.Now(),
		rIdx: make(map[outpoint]int),

		coinIdx:  make(map[outpoint]int),
		spentIdx: make(map[outpoint]int),
		coinSet:  make(map[outpoint]coinState),
		coinDel:  make(map[outpoint]struct{}),
	}
}

// batchBuilder collects one batch and the tracking changes it causes,
// which are committed only when the sink accepts the batch.
type batchBuilder struct {
	w    *Watcher
	b    Batch
	idx  map[outpoint]int // index in b.Seen
	rIdx map[outpoint]int // index in b.Removed
	set  map[outpoint]tracked
	del  map[outpoint]struct{}
	now  time.Time

	// The coins' side: indexes in b.Coins and b.Spent, and the coins'
	// tracking once the batch commits.
	coinIdx  map[outpoint]int
	spentIdx map[outpoint]int
	coinSet  map[outpoint]coinState
	coinDel  map[outpoint]struct{}
}

// lookup returns the tracking of op as it will be once the batch commits.
func (bb *batchBuilder) lookup(op outpoint) (tracked, bool) {
	if _, gone := bb.del[op]; gone {
		return tracked{}, false
	}
	if t, ok := bb.set[op]; ok {
		return t, true
	}
	bb.w.mu.Lock()
	defer bb.w.mu.Unlock()
	t, ok := bb.w.reported[op]
	return t, ok
}

// seen records op at height, replacing an earlier entry of the same batch.
func (bb *batchBuilder) seen(op outpoint, invoiceID string, amount int64, height int32, blockHash string) {
	s := Seen{InvoiceID: invoiceID, Payment: invoice.Payment{Method: invoice.MethodBTC,
		TxID:      op.txid.String(),
		Vout:      op.vout,
		Amount:    money.Sats(amount),
		Height:    height,
		BlockHash: blockHash,
		SeenAt:    bb.now,
	}}
	upsert(bb.idx, &bb.b.Seen, op, s)
	delete(bb.del, op)
	bb.set[op] = tracked{invoiceID: invoiceID, height: height, amount: amount}
}

// remove records that op left the chain and the mempool.
func (bb *batchBuilder) remove(op outpoint, invoiceID string) {
	if _, ok := bb.rIdx[op]; ok {
		return
	}
	bb.rIdx[op] = len(bb.b.Removed)
	bb.b.Removed = append(bb.b.Removed, Removed{InvoiceID: invoiceID, TxID: op.txid.String(), Vout: op.vout})
	delete(bb.set, op)
	bb.del[op] = struct{}{}
}

// upsert puts v in list at the index idx records for k, or appends it:
// a batch reports each outpoint once, as it is last.
func upsert[K comparable, V any](idx map[K]int, list *[]V, k K, v V) {
	if i, ok := idx[k]; ok {
		(*list)[i] = v
		return
	}
	idx[k] = len(*list)
	*list = append(*list, v)
}
