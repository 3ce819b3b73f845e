package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// Config configures a node Watcher.
type Config struct {
	// Source is the node.
	Source Source
	// Sink receives every processed block and mempool round.
	Sink Sink
	// PollInterval is the time between two polls of the node (1 s by
	// default; regtest and demos use 100–200 ms).
	PollInterval time.Duration
	// MaxBackoff caps the wait between retries while the node is away or
	// the sink fails (30 s by default).
	MaxBackoff time.Duration
	// KeepBlocks is how many processed blocks are remembered to find a
	// fork point (288 by default, two days).
	KeepBlocks int
	// RescanDepth is how many of the last processed blocks are matched
	// again against scripts watched late, whose payment may have
	// confirmed before Watch was called (6 by default, at most
	// KeepBlocks).
	RescanDepth int
	// Wake, if set, makes the watcher poll at once when it receives (a
	// block or transaction notification).
	Wake <-chan struct{}
	// Notify, if set, is called when Run starts to subscribe to the node's
	// notifications (rpc.Client.Subscribe for btcd's websocket); its
	// channel wakes the watcher like Wake. When it fails the watcher polls.
	Notify func(ctx context.Context) (<-chan struct{}, error)
	// Logger logs retries and reorgs (slog.Default() if nil).
	Logger *slog.Logger
	// Clock stamps payments' SeenAt (the system clock if nil).
	Clock Clock
}

// tracked is a payment the watcher has reported and not yet forgotten.
type tracked struct {
	invoiceID string
	height    int32 // 0 while unconfirmed
	amount    int64 // -1 when restored by WatchPayment, which has none
}

// Watcher follows a node's blocks and mempool and reports the outputs that
// pay watched scripts. Watch, Unwatch and WatchPayment may be called from
// any goroutine; Run runs in one.
type Watcher struct {
	cfg   Config
	log   *slog.Logger
	watch *watchSet
	// scripts holds the stores' scripts (WatchScript) keyed by owner.
	scripts *watchSet

	mu       sync.Mutex
	reported map[outpoint]tracked // guarded by mu
	// coins are the stores' coins followed for spends; guarded by mu.
	coins map[outpoint]coinState
	// added holds the hashes of the scripts watched since the last
	// cycle took them; guarded by mu.
	added map[uint64]struct{}

	// Owned by Run.
	started   bool
	processed []Block // ascending, at most cfg.KeepBlocks
	// recent holds the output script hashes of the last RescanDepth
	// processed blocks, so a rescan refetches only a block that may pay
	// a late script.
	recent map[chainhash.Hash][]uint64
	pool   *mempoolIndex // examined mempool transactions
	// behind is set while the node reports a tip below the processed one.
	behind bool
}

var _ Backend = (*Watcher)(nil)

// resubscribeEvery is how often Run retries subscribing to notifications
// while it has none.
const resubscribeEvery = 5 * time.Minute

// maxStale bounds the cycles run back to back while the chain keeps
// moving under the watcher.
const maxStale = 10

// errStaleTip means the chain moved while the watcher was walking it; the
// next cycle starts over at once.
var errStaleTip = errors.New("chain changed during sync")

// NewWatcher returns a Watcher; Run starts it.
func NewWatcher(cfg Config) (*Watcher, error) {
	if cfg.Source == nil || cfg.Sink == nil {
		return nil, errors.New("chain watcher: Source and Sink are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.KeepBlocks <= 0 {
		cfg.KeepBlocks = 288
	}
	if cfg.RescanDepth <= 0 {
		cfg.RescanDepth = 6
	}
	cfg.RescanDepth = min(cfg.RescanDepth, cfg.KeepBlocks)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	watch, scripts := newWatchSet(), newWatchSet()
	// One seed: the mempool index and the recent blocks' output hashes
	// serve both sets' rescans.
	scripts.seed = watch.seed
	return &Watcher{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "chain"),
		watch:    watch,
		scripts:  scripts,
		reported: make(map[outpoint]tracked),
		coins:    make(map[outpoint]coinState),
		added:    make(map[uint64]struct{}),
		recent:   make(map[chainhash.Hash][]uint64),
		pool:     newMempoolIndex(),
	}, nil
}

// Watch starts watching script for the invoice; the address is ignored.
// The payment may be older than the call (the invoice was created by
// another process): the next cycle looks for it among the mempool
// transactions already examined and in the last RescanDepth blocks.
func (w *Watcher) Watch(invoiceID string, script []byte, _ string) {
	if len(script) > maxScript {
		return
	}
	w.watch.add(invoiceID, script)
	// After the add: a cycle that takes the hash matches everything it
	// examines from then on against the script.
	h := w.watch.scriptHash(script)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.added[h] = struct{}{}
}

// Unwatch stops watching the invoice and forgets its payments.
func (w *Watcher) Unwatch(invoiceID string) {
	w.watch.remove(invoiceID)
	w.mu.Lock()
	defer w.mu.Unlock()
	for op, t := range w.reported {
		if t.invoiceID == invoiceID {
			delete(w.reported, op)
		}
	}
}

// WatchPayment restores a payment the store knows, so that a reorg or a
// removal is reported for it. A malformed txid is logged and ignored.
func (w *Watcher) WatchPayment(invoiceID, txid string, vout uint32, height int32) {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		w.log.Warn("ignoring restored payment with a bad txid", "invoice", invoiceID, "txid", txid, "err", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reported[outpoint{*h, vout}] = tracked{invoiceID: invoiceID, height: max(height, 0), amount: -1}
}

// Run polls the node until ctx is done. A node that fails is retried with
// a growing delay and logged; Run returns nil when ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	var backoff time.Duration
	failures, stale := 0, 0
	var notified <-chan struct{}
	var lastSubscribe time.Time
	for attempt := 0; ; attempt++ {
		if notified == nil && w.cfg.Notify != nil && time.Since(lastSubscribe) >= resubscribeEvery {
			// A node that was down at start may offer notifications later;
			// Core never does, so retries are rare and quiet.
			lastSubscribe = time.Now()
			if ch, err := w.cfg.Notify(ctx); err != nil {
				level := slog.LevelDebug
				if attempt == 0 {
					level = slog.LevelInfo
				}
				w.log.Log(ctx, level, "no push notifications from the node; polling", "interval", w.cfg.PollInterval, "reason", err)
			} else {
				notified = ch
				w.log.Info("subscribed to the node's notifications")
			}
		}
		err := w.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		delay := w.cfg.PollInterval
		switch {
		case errors.Is(err, errStaleTip) && stale < maxStale:
			stale++
			delay = 0
		case err != nil:
			failures++
			backoff = min(max(2*backoff, w.cfg.PollInterval), w.cfg.MaxBackoff)
			delay = backoff
			w.log.Warn("chain poll failed, retrying", "err", err, "failures", failures, "retry_in", delay)
		default:
			if failures > 0 {
				w.log.Info("chain source is back", "after_failures", failures)
			}
			failures, backoff = 0, 0
		}
		if !errors.Is(err, errStaleTip) {
			stale = 0
		}
		if !w.sleep(ctx, delay, notified) {
			return nil
		}
	}
}

func (w *Watcher) sleep(ctx context.Context, d time.Duration, notified <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-w.cfg.Wake:
	case <-notified:
	}
	return true
}

// cycle runs one poll: blocks up to the tip, then the mempool.
func (w *Watcher) cycle(ctx context.Context) error {
	if !w.started {
		if err := w.resume(ctx); err != nil {
			return err
		}
	}
	tipHeight, tipHash, err := w.cfg.Source.Tip(ctx)
	if err != nil {
		return fmt.Errorf("read tip: %w", err)
	}
	added := w.takeAdded()
	if err := w.syncBlocks(ctx, tipHeight, tipHash); err != nil {
		w.restoreAdded(added)
		return err
	}
	if err := w.rescan(ctx, added); err != nil {
		w.restoreAdded(added)
		return err
	}
	return w.mempoolRound(ctx)
}

// resume loads the processed blocks from the sink.
func (w *Watcher) resume(ctx context.Context) error {
	blocks, err := w.cfg.Sink.RecentBlocks(ctx)
	if err != nil {
		return fmt.Errorf("load processed blocks: %w", err)
	}
	slices.SortFunc(blocks, func(a, b Block) int { return int(a.Height) - int(b.Height) })
	if n := len(blocks); n > w.cfg.KeepBlocks {
		blocks = blocks[n-w.cfg.KeepBlocks:]
	}
	w.processed = blocks
	w.started = true
	if n := len(blocks); n > 0 {
		w.log.Info("resuming chain watch", "height", blocks[n-1].Height, "hash", blocks[n-1].Hash)
	}
	return nil
}

func (w *Watcher) last() (Block, bool) {
	if len(w.processed) == 0 {
		return Block{}, false
	}
	return w.processed[len(w.processed)-1], true
}
