package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// ChainStore is what the processor needs beyond Store.
type ChainStore interface {
	Store
	// RecentBlocks returns the processed blocks kept for reorg handling,
	// ascending.
	RecentBlocks(ctx context.Context) ([]store.ChainBlock, error)
	// OpenInvoices returns the invoices the watcher must watch: every open
	// one and those closed at or after closedSince.
	OpenInvoices(ctx context.Context, closedSince time.Time) ([]invoice.Invoice, error)
	// InvoicesAfter returns invoices created after seq, for invoices other
	// processes create while this one serves.
	InvoicesAfter(ctx context.Context, seq int64, limit int) ([]invoice.Invoice, int64, error)
	// LastInvoiceSeq returns the newest creation sequence number, with no
	// lower one still to commit.
	LastInvoiceSeq(ctx context.Context) (int64, error)
	// InvoiceScripts calls fn with every invoice's receiving script,
	// oldest first, for the store-wide script watch.
	InvoiceScripts(ctx context.Context, fn func(store.ScriptOwner) error) error
	// CoinsToWatch returns the coins unspent, or spent unconfirmed or
	// above height.
	CoinsToWatch(ctx context.Context, height int32) ([]store.Coin, error)
}

// Processor connects the chain watcher to the invoices: it implements
// chain.Sink, keeps the watch set in step with the store, and sweeps
// expiries and confirmation deadlines. One runs per deployment (the leader).
type Processor struct {
	g       *Gateway
	db      ChainStore
	backend chain.Backend
	// LateWindow is how long a closed invoice stays watched for late
	// payments.
	lateWindow time.Duration
	onCommit   func([]store.Change)

	mu      sync.Mutex
	tip     int32
	tracked map[string]*tracked // open and recently closed invoices by id
	seq     int64               // last invoice creation sequence seen
}

type tracked struct {
	// version is the invoice's stored version this state is of: an older
	// read (a poll racing a chain batch) never replaces a newer one.
	version  int64
	status   invoice.Status
	deadline time.Time // when a Tick is due (expiry, invalid window, end of watch)
	// confirming is set while new blocks can change the invoice (it has
	// live payments and is not complete).
	confirming bool
}

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	Store      ChainStore
	LateWindow time.Duration // default 7 days
	// OnCommit, when set, is called after changes are committed (the event
	// hub of the checkout and the benchmarks listen here). It must not
	// block.
	OnCommit func([]store.Change)
}

// DefaultLateWindow is how long closed invoices stay watched.
const DefaultLateWindow = 7 * 24 * time.Hour

// NewProcessor returns a Processor for g.
func NewProcessor(g *Gateway, cfg ProcessorConfig) *Processor {
	if cfg.LateWindow <= 0 {
		cfg.LateWindow = DefaultLateWindow
	}
	return &Processor{g: g, db: cfg.Store, lateWindow: cfg.LateWindow, onCommit: cfg.OnCommit, tracked: map[string]*tracked{}}
}

// Attach sets the backend the processor feeds; the backend needs the
// processor as its sink, so it is attached after both exist, before Load.
// From then on every invoice the gateway creates is watched before
// CreateInvoice returns.
func (p *Processor) Attach(b chain.Backend) {
	p.backend = b
	created := func(inv *invoice.Invoice) { p.watch(inv, false) }
	p.g.created.Store(&created)
}

// Detach stops the gateway from reporting the invoices it creates to this
// processor: a node that loses leadership detaches its processor, and the
// next term attaches a new one.
func (p *Processor) Detach() { p.g.created.Store(nil) }

// Load fills the watch set from the store; call it before running the
// backend.
func (p *Processor) Load(ctx context.Context) error {
	blocks, err := p.db.RecentBlocks(ctx)
	if err != nil {
		return fmt.Errorf("load processed blocks: %w", err)
	}
	if len(blocks) > 0 {
		p.tip = blocks[len(blocks)-1].Height
		p.g.ObserveTip(p.tip)
	}
	// The creation sequence is read first: invoices another node creates
	// while the open ones load are after it, so the first Poll watches
	// them (one loaded twice is watched once).
	seq, err := p.db.LastInvoiceSeq(ctx)
	if err != nil {
		return fmt.Errorf("load invoice sequence: %w", err)
	}
	now := p.g.cfg.Clock()
	invs, err := p.db.OpenInvoices(ctx, now.Add(-p.lateWindow))
	if err != nil {
		return fmt.Errorf("load open invoices: %w", err)
	}
	for i := range invs {
		p.watch(&invs[i], true)
	}
	p.seq = seq
	scripts, coins, err := p.loadCoins(ctx)
	if err != nil {
		return err
	}
	p.g.cfg.Log.Info("watching invoices", "count", len(p.tracked), "scripts", scripts, "coins", coins, "tip", p.tip)
	return nil
}

// loadCoins registers every invoice's script with the backend for good (a
// closed invoice's address paid late is still a coin) and restores the
// coins whose spend a reorg could still change.
func (p *Processor) loadCoins(ctx context.Context) (scripts, coins int, err error) {
	err = p.db.InvoiceScripts(ctx, func(o store.ScriptOwner) error {
		p.backend.WatchScript(chain.StoreScript{StoreID: o.StoreID, InvoiceID: o.InvoiceID, Script: o.Script, Index: o.Index})
		scripts++
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("load invoice scripts: %w", err)
	}
	cs, err := p.db.CoinsToWatch(ctx, p.tip-store.KeepBlocks)
	if err != nil {
		return 0, 0, fmt.Errorf("load coins: %w", err)
	}
	for _, c := range cs {
		p.backend.WatchCoin(chain.CoinSeen{StoreID: c.StoreID, InvoiceID: c.InvoiceID, Coin: c.Coin, SeenAt: c.SeenAt},
			c.SpentBy, c.SpentHeight)
	}
	return scripts, len(cs), nil
}

// watch adds or refreshes an invoice in the watch set.
func (p *Processor) watch(inv *invoice.Invoice, restorePayments bool) {
	p.mu.Lock()
	old, known := p.tracked[inv.ID]
	if !known || old.version <= inv.Version {
		p.tracked[inv.ID] = p.trackState(inv)
	}
	p.mu.Unlock()
	if m := inv.Method(invoice.MethodBTC); m != nil && !known {
		p.backend.Watch(inv.ID, m.Script, m.Destination)
		// The script stays watched after the invoice: what pays it later
		// is still the store's coin.
		p.backend.WatchScript(chain.StoreScript{StoreID: inv.StoreID, InvoiceID: inv.ID, Script: m.Script, Index: m.KeyIndex})
	}
	if restorePayments || !known {
		for _, pay := range inv.Payments {
			if !pay.Removed {
				p.backend.WatchPayment(inv.ID, pay.TxID, pay.Vout, pay.Height)
			}
		}
	}
}

func (p *Processor) trackState(inv *invoice.Invoice) *tracked {
	t := &tracked{version: inv.Version, status: inv.Status}
	// The invoice's own deadline, else the end of the watch for late
	// payments.
	var ok bool
	if t.deadline, ok = inv.Deadline(p.g.cfg.Policy); !ok {
		t.deadline = inv.UpdatedAt.Add(p.lateWindow)
	}
	switch inv.Status {
	case invoice.StatusNew:
		t.confirming = inv.Received() > 0
	case invoice.StatusPaid, invoice.StatusConfirmed, invoice.StatusInvalid:
		t.confirming = true
	default: // complete, expired, declined: watched for late payments only
		t.confirming = inv.Status == invoice.StatusComplete && hasUnconfirmed(inv)
	}
	return t
}

func hasUnconfirmed(inv *invoice.Invoice) bool {
	for _, pay := range inv.Payments {
		if !pay.Removed && pay.Height == 0 {
			return true
		}
	}
	return false
}

// RecentBlocks implements chain.Sink.
func (p *Processor) RecentBlocks(ctx context.Context) ([]chain.Block, error) {
	rows, err := p.db.RecentBlocks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]chain.Block, 0, len(rows))
	for _, r := range rows {
		h, err := chainhash.NewHashFromStr(r.Hash)
		if err != nil {
			return nil, fmt.Errorf("stored block %d: %w", r.Height, err)
		}
		out = append(out, chain.Block{Height: r.Height, Hash: *h})
	}
	return out, nil
}

// Apply implements chain.Sink: it applies one block's (or one mempool
// round's) payments to their invoices and commits them with the new chain
// state in one transaction.
func (p *Processor) Apply(ctx context.Context, b chain.Batch) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = p.apply(ctx, b); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

func (p *Processor) apply(ctx context.Context, b chain.Batch) error {
	tipMoved := len(b.Connected) > 0 || b.DisconnectedAbove >= 0
	env := p.env(b.Tip.Height)
	events := map[string][]invoice.Event{}
	var order []string
	add := func(id string, ev invoice.Event) {
		if _, ok := events[id]; !ok {
			order = append(order, id)
		}
		events[id] = append(events[id], ev)
	}
	for _, s := range b.Seen {
		add(s.InvoiceID, invoice.PaymentSeen{Payment: s.Payment})
	}
	for _, r := range b.Removed {
		add(r.InvoiceID, invoice.PaymentRemoved{TxID: r.TxID, Vout: r.Vout})
	}
	if tipMoved {
		p.mu.Lock()
		for id, t := range p.tracked {
			if t.confirming {
				if _, ok := events[id]; !ok {
					order = append(order, id)
					events[id] = nil
				}
			}
		}
		p.mu.Unlock()
	}
	changes, err := p.applyEvents(ctx, order, events, env)
	if err != nil {
		return err
	}
	var cu *store.ChainUpdate
	if tipMoved {
		cu = &store.ChainUpdate{Rewind: b.DisconnectedAbove}
		for _, blk := range b.Connected {
			cu.Blocks = append(cu.Blocks, store.ChainBlock{Height: blk.Height, Hash: blk.Hash.String()})
		}
	}
	if coins := coinChanges(b); coins != nil {
		if cu == nil {
			cu = &store.ChainUpdate{Rewind: store.NoRewind}
		}
		cu.Coins = *coins
	}
	if len(changes) == 0 && cu == nil {
		return nil
	}
	if err := p.db.Commit(ctx, changes, cu); err != nil {
		return fmt.Errorf("commit chain batch at tip %d: %w", b.Tip.Height, err)
	}
	p.mu.Lock()
	if tipMoved {
		p.tip = b.Tip.Height
		p.g.ObserveTip(b.Tip.Height)
	}
	p.mu.Unlock()
	p.committed(changes)
	return nil
}

// coinChanges returns the batch's coin news as the store writes them, nil
// when there are none.
func coinChanges(b chain.Batch) *store.CoinChanges {
	if len(b.Coins) == 0 && len(b.Spent) == 0 && len(b.CoinsRemoved) == 0 {
		return nil
	}
	var c store.CoinChanges
	for _, s := range b.Coins {
		c.Seen = append(c.Seen, store.Coin{Coin: s.Coin, StoreID: s.StoreID, InvoiceID: s.InvoiceID, SeenAt: s.SeenAt})
	}
	for _, s := range b.Spent {
		c.Spends = append(c.Spends, store.CoinSpend{TxID: s.TxID, Vout: s.Vout, SpentBy: s.SpentBy, Height: s.Height})
	}
	for _, r := range b.CoinsRemoved {
		c.Removed = append(c.Removed, store.Outpoint{TxID: r.TxID, Vout: r.Vout})
	}
	return &c
}

// applyEvents runs each invoice's events (then a Tick) through the state
// machine and returns the invoices that changed.
func (p *Processor) applyEvents(ctx context.Context, order []string, events map[string][]invoice.Event, env invoice.Env) ([]store.Change, error) {
	var changes []store.Change
	for _, id := range order {
		inv, err := p.db.GetInvoice(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			p.g.cfg.Log.Warn("watched invoice is gone", "invoice", id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load invoice %s: %w", id, err)
		}
		cur := inv
		var notes []invoice.Notification
		for _, ev := range append(events[id], invoice.Tick{}) {
			next, n, err := invoice.Apply(cur, ev, env)
			if err != nil {
				p.g.cfg.Log.Warn("chain event refused", "invoice", id, "err", err)
				continue
			}
			cur = next
			notes = append(notes, n...)
		}
		if len(notes) > 0 || !cur.UpdatedAt.Equal(inv.UpdatedAt) {
			c := cur
			changes = append(changes, store.Change{Invoice: &c, Notes: notes})
		}
	}
	return changes, nil
}

func (p *Processor) env(tip int32) invoice.Env {
	return invoice.Env{Now: p.g.cfg.Clock().UTC().Truncate(time.Millisecond), Tip: tip, Policy: p.g.cfg.Policy}
}

// committed refreshes the watch set after changes were stored.
func (p *Processor) committed(changes []store.Change) {
	if p.onCommit != nil {
		p.onCommit(changes)
	}
	for _, c := range changes {
		p.mu.Lock()
		p.tracked[c.Invoice.ID] = p.trackState(c.Invoice)
		p.mu.Unlock()
		for _, n := range c.Notes {
			p.g.cfg.Log.Info("invoice event", "invoice", c.Invoice.ID, "event", n.Code.Name(), "status", n.Status, "exception", string(n.Exception))
		}
	}
}

// Sweep ticks every watched invoice whose deadline has passed (expiry, the
// invalid window) and drops invoices whose late-payment watch has ended.
func (p *Processor) Sweep(ctx context.Context) error {
	env := p.env(0)
	p.mu.Lock()
	env.Tip = p.tip
	var due []string
	for id, t := range p.tracked {
		if !env.Now.Before(t.deadline) {
			due = append(due, id)
		}
	}
	p.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	var changes []store.Change
	for _, id := range due {
		inv, err := p.db.GetInvoice(ctx, id)
		if err != nil {
			return fmt.Errorf("sweep invoice %s: %w", id, err)
		}
		next, notes, err := invoice.Apply(inv, invoice.Tick{}, env)
		if err != nil {
			return fmt.Errorf("sweep invoice %s: %w", id, err)
		}
		if len(notes) > 0 || !next.UpdatedAt.Equal(inv.UpdatedAt) {
			changes = append(changes, store.Change{Invoice: &next, Notes: notes})
			continue
		}
		if next.Status.IsFinal() || next.Status == invoice.StatusInvalid || next.Status == invoice.StatusConfirmed {
			// Nothing changed and the late window is over: stop watching.
			p.mu.Lock()
			delete(p.tracked, id)
			p.mu.Unlock()
			p.backend.Unwatch(id)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if err := p.db.Commit(ctx, changes, nil); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent change won; the next sweep retries
		}
		return fmt.Errorf("commit sweep: %w", err)
	}
	p.committed(changes)
	return nil
}

// Poll starts watching invoices created since the last poll, by this
// process or another one (the CLI while serve runs).
func (p *Processor) Poll(ctx context.Context) error {
	for {
		invs, last, err := p.db.InvoicesAfter(ctx, p.seq, 1000)
		if err != nil {
			return fmt.Errorf("poll new invoices: %w", err)
		}
		if len(invs) == 0 {
			return nil
		}
		for i := range invs {
			p.watch(&invs[i], false)
		}
		p.seq = last
	}
}

// Run polls for new invoices and sweeps deadlines every interval until ctx
// ends; the backend runs separately.
func (p *Processor) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.g.cfg.Log.Warn("poll failed", "err", err)
		}
		if err := p.Sweep(ctx); err != nil && ctx.Err() == nil {
			p.g.cfg.Log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tip returns the height of the last processed block.
func (p *Processor) Tip() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tip
}

// Watching returns how many invoices are watched.
func (p *Processor) Watching() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tracked)
}
