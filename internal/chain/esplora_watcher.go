package chain

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
)

// AddressSource is an address-indexed view of the chain: an Esplora
// server.
type AddressSource interface {
	// Network returns the server's network (from its genesis block).
	Network(ctx context.Context) (string, error)
	// TipHash returns the best block's hash.
	TipHash(ctx context.Context) (chainhash.Hash, error)
	// TipHeight returns the best block's height.
	TipHeight(ctx context.Context) (int32, error)
	// BlockHash returns the best chain's block hash at height.
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
	// AddressTxs returns the address's newest transactions, unconfirmed
	// ones included.
	AddressTxs(ctx context.Context, address string) ([]esplora.Tx, error)
	// Tx returns a transaction, or an error matching esplora.ErrNotFound.
	Tx(ctx context.Context, txid string) (esplora.Tx, error)
	// TxStatus returns a transaction's status, or an error matching
	// esplora.ErrNotFound when it is neither confirmed nor in the mempool.
	TxStatus(ctx context.Context, txid string) (esplora.Status, error)
	// Outspends returns the spend status of each of a transaction's
	// outputs, or an error matching esplora.ErrNotFound.
	Outspends(ctx context.Context, txid string) ([]esplora.Outspend, error)
}

var _ AddressSource = (*esplora.Client)(nil)

// EsploraConfig configures an EsploraWatcher.
type EsploraConfig struct {
	// Source is the Esplora server.
	Source AddressSource
	// Sink receives tip changes and address rounds.
	Sink Sink
	// Tick is the time between two rounds (2 s by default). A round reads
	// the tip hash and polls the addresses that are due.
	Tick time.Duration
	// FastInterval is how often an address is polled while its invoice is
	// fresh or has an unconfirmed payment (10 s by default).
	FastInterval time.Duration
	// SlowInterval is how often older addresses are polled (2 min by
	// default).
	SlowInterval time.Duration
	// FreshFor is how long an invoice counts as fresh (1 h by default).
	FreshFor time.Duration
	// MaxBackoff caps the delay after failures and rate limiting (10 min
	// by default).
	MaxBackoff time.Duration
	// MaxPerTick bounds the address polls of one round (20 by default).
	MaxPerTick int
	// ReorgDepth is how many confirmations a payment needs before its
	// status is no longer re-checked when the tip changes, and a coin's
	// spend before the coin is forgotten (6 by default).
	ReorgDepth int32
	// Params is the network, to poll store scripts by address (mainnet
	// if nil).
	Params *chaincfg.Params
	// ScriptInterval is how often a store script that no open invoice
	// watches is polled for coins (10 min by default).
	ScriptInterval time.Duration
	// SpendInterval is how often a transaction with followed coins has its
	// outspends checked (5 min by default).
	SpendInterval time.Duration
	// MaxCoinRequests bounds the requests of script polls and outspend
	// checks together, per minute (30 by default); the intervals stretch
	// when there are more scripts and coins than that allows.
	MaxCoinRequests int
	// Logger logs backoffs (slog.Default() if nil).
	Logger *slog.Logger
	// Clock schedules polls and stamps SeenAt (the system clock if nil).
	Clock Clock
}

// esAddr is a watched address and its polling schedule.
type esAddr struct {
	invoiceID string
	address   string
	script    string // hex, as Esplora reports scriptpubkey
	created   time.Time
	next      time.Time
	failures  int
}

type esKey struct {
	txid string
	vout uint32
}

// esPayment is a payment the Esplora watcher reported.
type esPayment struct {
	invoiceID string
	height    int32
	blockHash string
	amount    int64 // -1 when restored without an amount
}

// EsploraWatcher polls an Esplora server for the watched addresses'
// transactions and the tip. Watch, Unwatch and WatchPayment may be called
// from any goroutine; Run runs in one.
type EsploraWatcher struct {
	cfg EsploraConfig
	log *slog.Logger

	mu       sync.Mutex
	addrs    map[string]*esAddr // by invoice ID; guarded by mu
	reported map[esKey]esPayment
	scripts  map[string]*esScript // store scripts by hex
	coins    map[esKey]esCoin
	checks   map[string]time.Time // next outspends check by txid

	// Owned by Run.
	started     bool
	tip         Block
	haveTip     bool
	pausedUntil time.Time
	pause       time.Duration
	budget      int // coin requests left
	budgetAt    time.Time
}

var _ Backend = (*EsploraWatcher)(nil)

// NewEsploraWatcher returns an EsploraWatcher; Run starts it.
func NewEsploraWatcher(cfg EsploraConfig) (*EsploraWatcher, error) {
	if cfg.Source == nil || cfg.Sink == nil {
		return nil, errors.New("esplora watcher: Source and Sink are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Tick, 2*time.Second)
	def(&cfg.FastInterval, 10*time.Second)
	def(&cfg.SlowInterval, 2*time.Minute)
	def(&cfg.FreshFor, time.Hour)
	def(&cfg.MaxBackoff, 10*time.Minute)
	if cfg.MaxPerTick <= 0 {
		cfg.MaxPerTick = 20
	}
	if cfg.ReorgDepth <= 0 {
		cfg.ReorgDepth = 6
	}
	if cfg.Params == nil {
		cfg.Params = &chaincfg.MainNetParams
	}
	def(&cfg.ScriptInterval, 10*time.Minute)
	def(&cfg.SpendInterval, 5*time.Minute)
	if cfg.MaxCoinRequests <= 0 {
		cfg.MaxCoinRequests = 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	return &EsploraWatcher{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "chain", "backend", "esplora"),
		addrs:    make(map[string]*esAddr),
		reported: make(map[esKey]esPayment),
		scripts:  make(map[string]*esScript),
		coins:    make(map[esKey]esCoin),
		checks:   make(map[string]time.Time),
	}, nil
}

// Watch starts polling the invoice's address, at once and then on the
// fresh schedule.
func (w *EsploraWatcher) Watch(invoiceID string, script []byte, address string) {
	if address == "" {
		w.log.Warn("esplora watcher needs an address; invoice not watched", "invoice", invoiceID)
		return
	}
	now := w.cfg.Clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addrs[invoiceID] = &esAddr{
		invoiceID: invoiceID, address: address, script: hex.EncodeToString(script),
		created: now, next: now,
	}
}

// Unwatch stops polling the invoice's address and forgets its payments.
func (w *EsploraWatcher) Unwatch(invoiceID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.addrs, invoiceID)
	for k, p := range w.reported {
		if p.invoiceID == invoiceID {
			delete(w.reported, k)
		}
	}
}

// WatchPayment restores a payment the store knows.
func (w *EsploraWatcher) WatchPayment(invoiceID, txid string, vout uint32, height int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reported[esKey{txid, vout}] = esPayment{invoiceID: invoiceID, height: max(height, 0), amount: -1}
}

// Run polls until ctx is done; failures back off and are logged. It
// returns nil when ctx is done.
func (w *EsploraWatcher) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		err := w.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		delay := w.cfg.Tick
		if err != nil {
			backoff = min(max(2*backoff, w.cfg.Tick), w.cfg.MaxBackoff)
			delay = backoff
			w.log.Warn("esplora poll failed, retrying", "err", err, "retry_in", delay)
		} else {
			backoff = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// cycle runs one round: the tip, then the addresses that are due.
func (w *EsploraWatcher) cycle(ctx context.Context) error {
	if !w.started {
		blocks, err := w.cfg.Sink.RecentBlocks(ctx)
		if err != nil {
			return fmt.Errorf("load processed blocks: %w", err)
		}
		for _, b := range blocks {
			if !w.haveTip || b.Height > w.tip.Height {
				w.tip, w.haveTip = b, true
			}
		}
		w.started = true
	}
	now := w.cfg.Clock.Now()
	if now.Before(w.pausedUntil) {
		return nil
	}
	err := w.pollTip(ctx)
	if err == nil {
		err = w.pollAddresses(ctx, now)
	}
	if err == nil {
		err = w.pollCoins(ctx, now)
	}
	if ok, after := esplora.RateLimited(err); ok {
		w.pause = min(max(2*w.pause, after, w.cfg.FastInterval), w.cfg.MaxBackoff)
		w.pausedUntil = now.Add(w.pause)
		w.log.Warn("esplora rate limit hit; pausing", "for", w.pause)
		return nil
	}
	if err == nil {
		w.pause = 0
	}
	return err
}

// pollTip records a new tip and re-checks the payments a reorg could
// still change.
func (w *EsploraWatcher) pollTip(ctx context.Context) error {
	hash, err := w.cfg.Source.TipHash(ctx)
	if err != nil {
		return fmt.Errorf("read tip hash: %w", err)
	}
	if w.haveTip && hash == w.tip.Hash {
		return nil
	}
	height, err := w.cfg.Source.TipHeight(ctx)
	if err != nil {
		return fmt.Errorf("read tip height: %w", err)
	}
	if at, err := w.cfg.Source.BlockHash(ctx, height); err != nil {
		return fmt.Errorf("read block hash at %d: %w", height, err)
	} else if at != hash {
		return nil // the tip moved between the reads; next round
	}
	tip := Block{Height: height, Hash: hash}
	bb := w.newBatch()
	bb.b.Connected = []Block{tip}
	bb.b.Tip = tip
	if w.haveTip {
		// The previous tip left the best chain: forget it (the watcher
		// records tips only, so the fork is at most one below it).
		prev := w.tip.Hash
		if w.tip.Height <= tip.Height {
			if prev, err = w.cfg.Source.BlockHash(ctx, w.tip.Height); err != nil {
				return fmt.Errorf("read block hash at %d: %w", w.tip.Height, err)
			}
		}
		if prev != w.tip.Hash || tip.Height <= w.tip.Height {
			bb.b.DisconnectedAbove = min(w.tip.Height, tip.Height) - 1
			w.unconfirmCoins(bb, bb.b.DisconnectedAbove)
		}
	}
	w.dueAfterBlock(bb)

	w.mu.Lock()
	var recheck []esKey
	for k, p := range w.reported {
		if p.height == 0 || p.height > tip.Height-w.cfg.ReorgDepth {
			recheck = append(recheck, k)
		}
	}
	w.mu.Unlock()
	slices.SortFunc(recheck, func(a, b esKey) int {
		return cmp.Or(strings.Compare(a.txid, b.txid), cmp.Compare(a.vout, b.vout))
	})
	for _, k := range recheck {
		if err := w.recheck(ctx, bb, k); err != nil {
			return err
		}
	}
	if err := w.dropRemovalsIfTipMoved(ctx, bb, hash); err != nil {
		return err
	}
	if err := w.apply(ctx, bb); err != nil {
		return err
	}
	w.tip, w.haveTip = tip, true
	return nil
}

// recheck asks where a reported payment is now and records any change.
func (w *EsploraWatcher) recheck(ctx context.Context, bb *esBatch, k esKey) error {
	p, ok := bb.lookup(k)
	if !ok {
		return nil
	}
	st, err := w.cfg.Source.TxStatus(ctx, k.txid)
	if errors.Is(err, esplora.ErrNotFound) {
		bb.remove(k, p.invoiceID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of %s: %w", k.txid, err)
	}
	height, hash := int32(0), ""
	if st.Confirmed {
		height, hash = st.BlockHeight, st.BlockHash
	}
	if height == p.height && hash == p.blockHash {
		return nil
	}
	if p.amount < 0 {
		tx, err := w.cfg.Source.Tx(ctx, k.txid)
		if err != nil {
			return fmt.Errorf("transaction %s: %w", k.txid, err)
		}
		if int(k.vout) >= len(tx.Vout) {
			return fmt.Errorf("transaction %s has no output %d", k.txid, k.vout)
		}
		p.amount = tx.Vout[k.vout].Value
	}
	bb.seen(k, p.invoiceID, p.amount, height, hash)
	return nil
}

// dropRemovalsIfTipMoved keeps removals only if the tip is still hash, so
// a transaction that just confirmed is not reported gone.
func (w *EsploraWatcher) dropRemovalsIfTipMoved(ctx context.Context, bb *esBatch, hash chainhash.Hash) error {
	if len(bb.b.Removed) == 0 && len(bb.b.CoinsRemoved) == 0 {
		return nil
	}
	now, err := w.cfg.Source.TipHash(ctx)
	if err != nil {
		return fmt.Errorf("read tip hash: %w", err)
	}
	if now != hash {
		for _, r := range bb.b.Removed {
			delete(bb.del, esKey{r.TxID, r.Vout})
		}
		bb.b.Removed = nil
		for _, r := range bb.b.CoinsRemoved {
			delete(bb.coinDel, esKey{r.TxID, r.Vout})
		}
		bb.b.CoinsRemoved = nil
	}
	return nil
}

// pollAddresses polls the addresses that are due, soonest first.
func (w *EsploraWatcher) pollAddresses(ctx context.Context, now time.Time) error {
	w.mu.Lock()
	var due []*esAddr
	unconfirmed := make(map[string]bool)
	for _, p := range w.reported {
		if p.height == 0 {
			unconfirmed[p.invoiceID] = true
		}
	}
	for _, a := range w.addrs {
		if !a.next.After(now) {
			c := *a
			due = append(due, &c)
		}
	}
	w.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	slices.SortFunc(due, func(a, b *esAddr) int { return a.next.Compare(b.next) })
	due = due[:min(len(due), w.cfg.MaxPerTick)]

	bb := w.newBatch()
	bb.b.Tip = w.tip
	var polled []*esAddr
	var roundErr error
	for _, a := range due {
		err := w.pollAddress(ctx, bb, a)
		if err != nil {
			if ok, _ := esplora.RateLimited(err); ok || errors.Is(err, esplora.ErrUnreachable) || ctx.Err() != nil {
				roundErr = err // the server, not the address: stop the round
				break
			}
			a.failures++
			a.next = now.Add(min(w.cfg.FastInterval<<min(a.failures, 16), w.cfg.MaxBackoff))
			w.log.Warn("esplora address poll failed", "invoice", a.invoiceID, "address", a.address,
				"err", err, "failures", a.failures, "next", a.next)
		} else {
			a.failures = 0
			interval := w.cfg.SlowInterval
			if now.Sub(a.created) < w.cfg.FreshFor || unconfirmed[a.invoiceID] {
				interval = w.cfg.FastInterval
			}
			a.next = now.Add(interval)
		}
		polled = append(polled, a)
	}
	if err := w.dropRemovalsIfTipMoved(ctx, bb, w.tip.Hash); err != nil && roundErr == nil {
		roundErr = err
	}
	if len(bb.b.Seen) > 0 || len(bb.b.Removed) > 0 || bb.b.coinNews() {
		if err := w.apply(ctx, bb); err != nil {
			return err // schedules untouched: the same addresses are polled again
		}
	}
	w.mu.Lock()
	for _, a := range polled {
		if cur, ok := w.addrs[a.invoiceID]; ok && cur.address == a.address {
			cur.next, cur.failures = a.next, a.failures
		}
	}
	w.mu.Unlock()
	return roundErr
}

// pollAddress reads one address's transactions into the batch.
func (w *EsploraWatcher) pollAddress(ctx context.Context, bb *esBatch, a *esAddr) error {
	txs, err := w.cfg.Source.AddressTxs(ctx, a.address)
	if err != nil {
		return fmt.Errorf("transactions of %s: %w", a.address, err)
	}
	present := make(map[string]bool, len(txs))
	for _, tx := range txs {
		present[tx.TxID] = true
		w.matchCoinOutputs(bb, tx)
		height, hash := int32(0), ""
		if tx.Status.Confirmed {
			height, hash = tx.Status.BlockHeight, tx.Status.BlockHash
		}
		for i, out := range tx.Vout {
			if out.ScriptPubKey != a.script {
				continue
			}
			k := esKey{tx.TxID, uint32(i)}
			invoiceID := a.invoiceID
			if p, ok := bb.lookup(k); ok {
				if p.height == height && p.blockHash == hash {
					continue
				}
				invoiceID = p.invoiceID
			}
			bb.seen(k, invoiceID, out.Value, height, hash)
		}
	}
	// Unconfirmed payments missing from the list: confirmed beyond the
	// page, or gone.
	w.mu.Lock()
	var missing []esKey
	for k, p := range w.reported {
		if p.invoiceID == a.invoiceID && p.height == 0 && !present[k.txid] {
			missing = append(missing, k)
		}
	}
	w.mu.Unlock()
	for _, k := range missing {
		if err := w.recheck(ctx, bb, k); err != nil {
			return err
		}
	}
	return nil
}
