package chain

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Coins on Esplora: the watcher keeps every script registered with
// WatchScript (by its hex, with its owner and address) and the coins it
// follows. Three kinds of requests find what happens to them, and all of
// them together stay within MaxCoinRequests a minute:
//
//   - An open invoice's address poll already lists the transactions paying
//     it: any of their outputs paying a store script is a coin, at no extra
//     cost; the payment's status re-checks move the coin with it.
//   - Each store script no open invoice watches (a closed invoice's
//     address, a change address) is polled by address every
//     ScriptInterval, each failure doubling it up to 16 times.
//   - Each transaction with followed coins gets GET /tx/:txid/outspends
//     every SpendInterval (one request for all its coins), and at once
//     after a new block while one of its coins has an unconfirmed spend. A
//     new spender is fetched once (GET /tx/:txid) for its outputs paying
//     store scripts: a spend's change is a coin without waiting for its
//     address's poll.
//
// A reorg (the previous tip left the best chain) takes the coins and
// spends confirmed above the fork back to height 0, as the node watcher
// does, and makes their scripts and transactions due at once, so the next
// polls give them their new heights. A coin whose spend is ReorgDepth deep
// is forgotten.

// esCoin is a coin the Esplora watcher follows.
type esCoin struct {
	owner       StoreScript // without Script
	script      string      // hex
	amount      int64
	height      int32 // 0 while unconfirmed
	spentBy     string
	spentHeight int32
}

// esScript is a watched store script and its polling schedule.
type esScript struct {
	owner    StoreScript
	address  string
	next     time.Time
	failures int
}

// WatchScript adds a store's script to the watch for good. The script is
// polled by its address (for the configured network) when no open
// invoice's poll covers it; a script that is not a standard address's is
// logged and ignored.
func (w *EsploraWatcher) WatchScript(s StoreScript) {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(s.Script, w.cfg.Params)
	if err != nil || len(addrs) != 1 {
		w.log.Warn("ignoring a store script with no address", "store", s.StoreID, "script", hex.EncodeToString(s.Script))
		return
	}
	key := hex.EncodeToString(s.Script)
	owner := s
	owner.Script = nil
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur, ok := w.scripts[key]; ok {
		cur.owner = owner
		return
	}
	w.scripts[key] = &esScript{owner: owner, address: addrs[0].EncodeAddress(), next: w.cfg.Clock.Now()}
}

// WatchCoin restores a coin the store knows and its spend; its
// transaction's outspends are checked on the next coin round.
func (w *EsploraWatcher) WatchCoin(c CoinSeen, spentBy string, spentHeight int32) {
	owner := StoreScript{StoreID: c.StoreID, InvoiceID: c.InvoiceID, Branch: c.Coin.Branch, Index: c.Coin.Index}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.coins[esKey{c.Coin.TxID, c.Coin.Vout}] = esCoin{
		owner: owner, script: hex.EncodeToString(c.Coin.Script), amount: int64(c.Coin.Amount),
		height: max(c.Coin.Height, 0), spentBy: spentBy, spentHeight: max(spentHeight, 0),
	}
	if _, ok := w.checks[c.Coin.TxID]; !ok {
		w.checks[c.Coin.TxID] = time.Time{}
	}
}

// takeRequest spends one of the coin requests' budget: MaxCoinRequests a
// minute, refilled evenly. It reports false when the budget is spent. The
// follow-up requests a job makes (a missing coin's status, a new
// spender) are taken from the budget as they are made, so it may go below
// zero, and the next jobs wait for it.
func (w *EsploraWatcher) takeRequest(now time.Time) bool {
	per := time.Minute / time.Duration(w.cfg.MaxCoinRequests)
	if w.budgetAt.IsZero() {
		w.budgetAt, w.budget = now, w.cfg.MaxCoinRequests
	}
	if n := int(now.Sub(w.budgetAt) / per); n > 0 {
		w.budget = min(w.budget+n, w.cfg.MaxCoinRequests)
		w.budgetAt = w.budgetAt.Add(time.Duration(n) * per)
	}
	if w.budget <= 0 {
		return false
	}
	w.budget--
	return true
}

// matchCoinOutputs adds to the batch the outputs of tx paying store
// scripts that are new, or at another height than known.
func (w *EsploraWatcher) matchCoinOutputs(bb *esBatch, tx esplora.Tx) {
	height := int32(0)
	if tx.Status.Confirmed {
		height = tx.Status.BlockHeight
	}
	for i, out := range tx.Vout {
		w.mu.Lock()
		s, ok := w.scripts[out.ScriptPubKey]
		var owner StoreScript
		if ok {
			owner = s.owner
		}
		w.mu.Unlock()
		if !ok {
			continue
		}
		k := esKey{tx.TxID, uint32(i)}
		c, known := bb.lookupCoin(k)
		if known && c.height == height {
			continue
		}
		if !known {
			c = esCoin{owner: owner, script: out.ScriptPubKey, amount: out.Value}
		}
		bb.coinSeen(k, c, height)
	}
}

// coinsMoved moves a followed coin with its payment (k at height; -1:
// removed).
func (bb *esBatch) coinsMoved(k esKey, height int32) {
	c, ok := bb.lookupCoin(k)
	switch {
	case !ok:
	case height < 0:
		bb.coinRemove(k)
	case c.height != height:
		bb.coinSeen(k, c, height)
	}
}

// unconfirmCoins adds to the batch the coins and spends confirmed above
// fork, back at height 0, and makes their scripts and transactions due.
func (w *EsploraWatcher) unconfirmCoins(bb *esBatch, fork int32) {
	w.mu.Lock()
	var keys []esKey
	for k, c := range w.coins {
		if c.height > fork || c.spentHeight > fork {
			keys = append(keys, k)
		}
	}
	w.mu.Unlock()
	sortKeys(keys)
	for _, k := range keys {
		c, _ := bb.lookupCoin(k)
		if c.height > fork {
			bb.coinSeen(k, c, 0)
			c.height = 0
		}
		if c.spentHeight > fork {
			bb.spend(k, c, c.spentBy, 0)
		}
		bb.due(k.txid, c.script)
	}
}

// dueAfterBlock makes due the transactions whose coins have a spend in
// the mempool: a new block may hold it.
func (w *EsploraWatcher) dueAfterBlock(bb *esBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, c := range w.coins {
		if c.spentBy != "" && c.spentHeight == 0 {
			bb.dueTx[k.txid] = struct{}{}
		}
	}
}

func sortKeys(keys []esKey) {
	slices.SortFunc(keys, func(a, b esKey) int {
		return cmp.Or(strings.Compare(a.txid, b.txid), cmp.Compare(a.vout, b.vout))
	})
}

// pollCoins runs the round's coin requests, within the budget: the store
// scripts that are due (those of open invoices excepted: their invoice's
// poll covers them), then the transactions whose outspends are due, the
// most overdue first.
func (w *EsploraWatcher) pollCoins(ctx context.Context, now time.Time) error {
	type job struct {
		next   time.Time
		script string // a script to poll, or
		txid   string // a transaction to check
	}
	var jobs []job
	w.mu.Lock()
	covered := make(map[string]bool, len(w.addrs))
	for _, a := range w.addrs {
		covered[a.script] = true
	}
	for key, s := range w.scripts {
		if !covered[key] && !s.next.After(now) {
			jobs = append(jobs, job{next: s.next, script: key})
		}
	}
	for txid, next := range w.checks {
		if !next.After(now) {
			jobs = append(jobs, job{next: next, txid: txid})
		}
	}
	w.mu.Unlock()
	if len(jobs) == 0 {
		return nil
	}
	slices.SortFunc(jobs, func(a, b job) int {
		return cmp.Or(a.next.Compare(b.next), strings.Compare(a.script, b.script), strings.Compare(a.txid, b.txid))
	})
	bb := w.newBatch()
	bb.b.Tip = w.tip
	var roundErr error
	for _, j := range jobs {
		if !w.takeRequest(now) {
			break
		}
		var err error
		if j.script != "" {
			err = w.pollScript(ctx, bb, j.script, now)
		} else {
			err = w.checkOutspends(ctx, bb, j.txid, now)
		}
		if err != nil {
			roundErr = err // the server, not the script or coin: stop the round
			break
		}
	}
	if err := w.dropRemovalsIfTipMoved(ctx, bb, w.tip.Hash); err != nil && roundErr == nil {
		roundErr = err
	}
	if !bb.b.coinNews() {
		w.reschedule(bb)
		return roundErr
	}
	if err := w.apply(ctx, bb); err != nil {
		return err // schedules untouched: the same work is done again
	}
	return roundErr
}

// serverFault reports an error that is the server's, not one request's.
func serverFault(ctx context.Context, err error) bool {
	ok, _ := esplora.RateLimited(err)
	return ok || errors.Is(err, esplora.ErrUnreachable) || ctx.Err() != nil
}

// pollScript reads one store script's address into the batch and
// schedules its next poll.
func (w *EsploraWatcher) pollScript(ctx context.Context, bb *esBatch, key string, now time.Time) error {
	w.mu.Lock()
	s, ok := w.scripts[key]
	var addr string
	var failures int
	if ok {
		addr, failures = s.address, s.failures
	}
	w.mu.Unlock()
	if !ok {
		return nil
	}
	next, err := now.Add(w.cfg.ScriptInterval), w.scriptTxs(ctx, bb, key, addr)
	if err != nil {
		if serverFault(ctx, err) {
			return err
		}
		failures++
		next = now.Add(w.cfg.ScriptInterval << min(failures, 4)) // up to 16 intervals
		w.log.Warn("esplora script poll failed", "address", addr, "err", err, "failures", failures, "next", next)
	} else {
		failures = 0
	}
	bb.scriptNext[key] = scriptSchedule{next, failures}
	return nil
}

// scriptTxs reads an address's transactions: outputs paying store scripts
// are coins; the script's unconfirmed coins missing from the list are
// looked up (confirmed beyond the page, or gone).
func (w *EsploraWatcher) scriptTxs(ctx context.Context, bb *esBatch, key, addr string) error {
	txs, err := w.cfg.Source.AddressTxs(ctx, addr)
	if err != nil {
		return fmt.Errorf("transactions of %s: %w", addr, err)
	}
	present := make(map[string]bool, len(txs))
	for _, tx := range txs {
		present[tx.TxID] = true
		w.matchCoinOutputs(bb, tx)
	}
	w.mu.Lock()
	var missing []esKey
	for k, c := range w.coins {
		if c.script == key && c.height == 0 && !present[k.txid] {
			missing = append(missing, k)
		}
	}
	w.mu.Unlock()
	sortKeys(missing)
	for _, k := range missing {
		w.budget-- // a request of the round's: the budget may go below 0 and wait
		st, err := w.cfg.Source.TxStatus(ctx, k.txid)
		switch {
		case errors.Is(err, esplora.ErrNotFound):
			bb.coinRemove(k)
		case err != nil:
			return fmt.Errorf("status of %s: %w", k.txid, err)
		case st.Confirmed:
			bb.coinsMoved(k, st.BlockHeight)
		}
	}
	return nil
}

// checkOutspends asks who spends the followed coins of txid and records
// what changed: a new or confirmed spend, a spend gone (unspent again). A
// new spender's outputs paying store scripts are coins. A transaction the
// server does not know removes its unconfirmed coins.
func (w *EsploraWatcher) checkOutspends(ctx context.Context, bb *esBatch, txid string, now time.Time) error {
	next := now.Add(w.cfg.SpendInterval)
	defer func() { bb.txNext[txid] = next }()
	w.mu.Lock()
	var keys []esKey
	for k := range w.coins {
		if k.txid == txid {
			keys = append(keys, k)
		}
	}
	w.mu.Unlock()
	sortKeys(keys)
	outs, err := w.cfg.Source.Outspends(ctx, txid)
	if errors.Is(err, esplora.ErrNotFound) {
		for _, k := range keys {
			if c, ok := bb.lookupCoin(k); ok && c.height == 0 {
				bb.coinRemove(k)
			}
		}
		return nil
	}
	if err != nil {
		if serverFault(ctx, err) {
			return err
		}
		next = now.Add(w.cfg.MaxBackoff)
		w.log.Warn("esplora outspends check failed", "txid", txid, "err", err, "next", next)
		return nil
	}
	for _, k := range keys {
		c, ok := bb.lookupCoin(k)
		if !ok || int(k.vout) >= len(outs) {
			continue
		}
		o := outs[k.vout]
		by, height := "", int32(0)
		if o.Spent {
			by = o.TxID
			if o.Status.Confirmed {
				height = o.Status.BlockHeight
			}
		}
		if by == c.spentBy && height == c.spentHeight {
			continue
		}
		if by != "" && by != c.spentBy {
			w.budget--
			tx, err := w.cfg.Source.Tx(ctx, by)
			if err != nil && serverFault(ctx, err) {
				return err
			}
			if err == nil {
				w.matchCoinOutputs(bb, tx)
			}
		}
		bb.spend(k, c, by, height)
	}
	return nil
}

// scriptSchedule is a script's next poll and failure count.
type scriptSchedule struct {
	next     time.Time
	failures int
}

// reschedule records the round's schedules, the transactions and scripts
// the batch made due, and forgets the coins whose spend is buried and the
// checks of transactions without followed coins.
func (w *EsploraWatcher) reschedule(bb *esBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, s := range bb.scriptNext {
		if cur, ok := w.scripts[key]; ok {
			cur.next, cur.failures = s.next, s.failures
		}
	}
	for txid, next := range bb.txNext {
		w.checks[txid] = next
	}
	for key := range bb.dueScript {
		if cur, ok := w.scripts[key]; ok {
			cur.next = time.Time{}
		}
	}
	for txid := range bb.dueTx {
		w.checks[txid] = time.Time{}
	}
	floor := bb.b.Tip.Height - w.cfg.ReorgDepth
	followed := make(map[string]bool, len(w.coins))
	for k, c := range w.coins {
		if c.spentBy != "" && c.spentHeight > 0 && c.spentHeight <= floor {
			delete(w.coins, k)
			continue
		}
		followed[k.txid] = true
		if _, ok := w.checks[k.txid]; !ok {
			w.checks[k.txid] = bb.now.Add(w.cfg.SpendInterval)
		}
	}
	for txid := range w.checks {
		if !followed[txid] {
			delete(w.checks, txid)
		}
	}
}

// lookupCoin returns the coin at k as it will be once the batch commits.
func (bb *esBatch) lookupCoin(k esKey) (esCoin, bool) {
	if _, gone := bb.coinDel[k]; gone {
		return esCoin{}, false
	}
	if c, ok := bb.coinSet[k]; ok {
		return c, true
	}
	bb.w.mu.Lock()
	defer bb.w.mu.Unlock()
	c, ok := bb.w.coins[k]
	return c, ok
}

// coinSeen reports the coin c at k at height.
func (bb *esBatch) coinSeen(k esKey, c esCoin, height int32) {
	c.height = height
	script, _ := hex.DecodeString(c.script)
	cs := CoinSeen{StoreID: c.owner.StoreID, InvoiceID: c.owner.InvoiceID, SeenAt: bb.now, Coin: wallet.Coin{
		TxID: k.txid, Vout: k.vout, Amount: money.Sats(c.amount), Script: script,
		Branch: c.owner.Branch, Index: c.owner.Index, Height: height,
	}}
	upsert(bb.coinIdx, &bb.b.Coins, k, cs)
	delete(bb.coinDel, k)
	bb.coinSet[k] = c
}

// spend reports that by spends the coin c at k at height; by "" makes it
// unspent.
func (bb *esBatch) spend(k esKey, c esCoin, by string, height int32) {
	if by == "" {
		height = 0
	}
	c.spentBy, c.spentHeight = by, height
	sp := Spent{TxID: k.txid, Vout: k.vout, SpentBy: by, Height: height}
	upsert(bb.spentIdx, &bb.b.Spent, k, sp)
	bb.coinSet[k] = c
}

// coinRemove reports that the coin at k no longer exists.
func (bb *esBatch) coinRemove(k esKey) {
	if _, done := bb.coinDel[k]; done {
		return
	}
	bb.b.CoinsRemoved = append(bb.b.CoinsRemoved, CoinRemoved{TxID: k.txid, Vout: k.vout})
	delete(bb.coinSet, k)
	bb.coinDel[k] = struct{}{}
}

// due makes a coin's transaction and script due at once once the batch
// commits.
func (bb *esBatch) due(txid, script string) {
	bb.dueTx[txid] = struct{}{}
	bb.dueScript[script] = struct{}{}
}
