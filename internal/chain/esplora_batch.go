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
func (w *EsploraWatcher) apply(ctx context.Context, bb *esBatch) error {
	if err := w.cfg.Sink.Apply(ctx, bb.b); err != nil {
		return fmt.Errorf("apply chain batch at %d: %w", bb.b.Tip.Height, err)
	}
	w.mu.Lock()
	for k, p := range bb.set {
		w.reported[k] = p
	}
	for k := range bb.del {
		delete(w.reported, k)
	}
	// Payments stay recorded while their invoice is watched, so an address
	// poll that lists them again reports nothing; pollTip re-checks only
	// the shallow ones.
	for k, c := range bb.coinSet {
		w.coins[k] = c
	}
	for k := range bb.coinDel {
		delete(w.coins, k)
	}
	w.mu.Unlock()
	w.reschedule(bb)
	return nil
}

// newBatch starts an empty batch (nothing disconnected).
func (w *EsploraWatcher) newBatch() *esBatch {
	return &esBatch{
		w: w, b: Batch{DisconnectedAbove: -1}, now: w.cfg.Clock.Now(),
		idx: map[esKey]int{}, set: map[esKey]esPayment{}, del: map[esKey]struct{}{},
		coinIdx: map[esKey]int{}, spentIdx: map[esKey]int{}, coinSet: map[esKey]esCoin{}, coinDel: map[esKey]struct{}{},
		scriptNext: map[string]scriptSchedule{}, txNext: map[string]time.Time{},
		dueScript: map[string]struct{}{}, dueTx: map[string]struct{}{},
	}
}

// esBatch collects one batch and the tracking changes it causes.
type esBatch struct {
	w   *EsploraWatcher
	b   Batch
	now time.Time
	idx map[esKey]int
	set map[esKey]esPayment
	del map[esKey]struct{}

	// The coins the batch changes, and the schedules it sets once it
	// commits (esplora_coins.go).
	coinIdx, spentIdx map[esKey]int
	coinSet           map[esKey]esCoin
	coinDel           map[esKey]struct{}
	scriptNext        map[string]scriptSchedule
	txNext            map[string]time.Time
	dueScript, dueTx  map[string]struct{}
}

func (bb *esBatch) lookup(k esKey) (esPayment, bool) {
	if _, gone := bb.del[k]; gone {
		return esPayment{}, false
	}
	if p, ok := bb.set[k]; ok {
		return p, true
	}
	bb.w.mu.Lock()
	defer bb.w.mu.Unlock()
	p, ok := bb.w.reported[k]
	return p, ok
}

func (bb *esBatch) seen(k esKey, invoiceID string, amount int64, height int32, blockHash string) {
	s := Seen{InvoiceID: invoiceID, Payment: invoice.Payment{Method: invoice.MethodBTC,
		TxID: k.txid, Vout: k.vout, Amount: money.Sats(amount),
		Height: height, BlockHash: blockHash, SeenAt: bb.now,
	}}
	upsert(bb.idx, &bb.b.Seen, k, s)
	delete(bb.del, k)
	bb.set[k] = esPayment{invoiceID: invoiceID, height: height, blockHash: blockHash, amount: amount}
	bb.coinsMoved(k, height)
}

func (bb *esBatch) remove(k esKey, invoiceID string) {
	if _, ok := bb.del[k]; ok {
		return
	}
	bb.b.Removed = append(bb.b.Removed, Removed{InvoiceID: invoiceID, TxID: k.txid, Vout: k.vout})
	delete(bb.set, k)
	bb.del[k] = struct{}{}
	bb.coinsMoved(k, -1)
}
