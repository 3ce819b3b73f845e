package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// kassa rescan --from HEIGHT matches the blocks from HEIGHT to the node's
// tip against the invoices again, in this process, and commits what it
// finds: a payment kassa missed (it followed another node, its cursor was
// moved past the block, the invoice came back with a restore) is found
// and applied like any other. It takes the data directory's lock, so it
// runs with kassa serve stopped and serve cannot start meanwhile.
//
// The rescan is idempotent. It runs the same chain watcher and processor
// as serve, with the payments the store knows restored first: an output
// already recorded at its height is not reported again, and the invoice
// state machine changes nothing for a fact it already has. Rescanning
// twice, or over blocks serve already processed, changes nothing.
//
// Two things differ from serve, both so that going back in the chain
// cannot move an invoice backwards:
//
//   - Invoices are judged at the node's tip when the rescan started (or
//     later), never at the height of the block being rescanned. Judged at
//     an old height, a payment confirmed after it would count as
//     unconfirmed, and an invoice paid more than an hour ago would turn
//     invalid.
//   - The processed-chain cursor (chain_blocks) is left alone: the rescan
//     keeps its own, from HEIGHT-1, in memory. serve resumes where it was;
//     an interrupted rescan is simply run again.
//
// Invoices are watched as serve watches them (open ones and those closed
// in the last week), plus those closed since the block at HEIGHT was
// mined, so a payment to an invoice that expired meanwhile is found (as a
// late payment).

func runRescan(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "rescan", "rescan --from HEIGHT [flags]")
	from := fs.Int("from", 0, "first block height to scan again (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from < 1 || *from > math.MaxInt32 {
		return fmt.Errorf("%w: --from HEIGHT is required (1 or more)", ErrUsage)
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(cfg.Chain, "://")
	switch scheme {
	case "rpc", "rpcs", "http", "https":
	case "esplora+http", "esplora+https":
		return errors.New("the Esplora backend reads each address's whole history, so it never misses a payment and has no blocks to rescan")
	default:
		return fmt.Errorf("%w: KASSA_CHAIN must name a node (rpc://user:pass@host:port) to rescan", ErrUsage)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		if errors.Is(err, errLocked) {
			return fmt.Errorf("%w; stop it (systemctl stop kassa), rescan, then start it again", err)
		}
		return err
	}
	defer lock.Close()

	tty := isTerminalWriter(env.Stderr)
	prog := &progress{w: env.Stderr, tty: tty}
	log := slog.New(logHandler(prog, cfg, tty))

	db, err := openDB(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	node, err := rpc.New(cfg.Chain)
	if err != nil {
		return fmt.Errorf("KASSA_CHAIN: %w", err)
	}
	sink := &rescanSink{done: make(chan struct{}), onBlock: prog.block}
	g := gateway.New(gateway.Config{Store: db, Rates: noRates{}, Network: cfg.Network, Log: log})
	defer g.Close()
	backend, err := chain.Open(ctx, chain.Options{URL: cfg.Chain, Network: cfg.Network, Sink: sink, PollInterval: cfg.ChainPoll, Log: log})
	if err != nil {
		return fmt.Errorf("chain backend %s: %w", cfg.Redacted().Chain, err)
	}
	tipHeight, tipHash, err := node.Tip(ctx)
	if err != nil {
		return fmt.Errorf("ask the node for its tip: %w", err)
	}
	if int32(*from) > tipHeight {
		return fmt.Errorf("%w: --from %d is above the node's tip %d", ErrUsage, *from, tipHeight)
	}
	startHash, err := node.BlockHash(ctx, int32(*from)-1)
	if err != nil {
		return fmt.Errorf("block hash at %d: %w", *from-1, err)
	}
	firstHash, err := node.BlockHash(ctx, int32(*from))
	if err != nil {
		return fmt.Errorf("block hash at %d: %w", *from, err)
	}
	first, err := node.Block(ctx, firstHash)
	if err != nil {
		return fmt.Errorf("block %d: %w", *from, err)
	}
	// Watch what serve watches, and what closed since the first block.
	window := max(gateway.DefaultLateWindow, time.Since(first.Header.Timestamp)+gateway.DefaultLateWindow)
	var updated, events atomic.Int64
	proc := gateway.NewProcessor(g, gateway.ProcessorConfig{Store: db, LateWindow: window, OnCommit: func(cs []store.Change) {
		updated.Add(int64(len(cs)))
		for _, c := range cs {
			events.Add(int64(len(c.Notes)))
		}
		prog.found(len(cs))
	}})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink.proc = proc
	sink.start = chain.Block{Height: int32(*from) - 1, Hash: startHash}
	sink.tip = chain.Block{Height: tipHeight, Hash: tipHash}
	sink.stop = cancel
	proc.Attach(backend)
	if err := proc.Load(ctx); err != nil {
		return err
	}
	prog.begin(int32(*from), tipHeight, proc.Watching())
	ran := make(chan error, 1)
	go func() { ran <- backend.Run(runCtx) }()
	select {
	case <-sink.done:
	case <-ctx.Done():
	}
	cancel()
	<-ran
	prog.end()
	if !sink.finished() {
		return fmt.Errorf("interrupted after block %d of %d; nothing is lost, run kassa rescan again (it changes nothing twice)",
			prog.height.Load(), tipHeight)
	}
	fmt.Fprintf(env.Stderr, "rescanned blocks %d to %d (%d blocks, %d invoices watched): %d invoice updates, %d notifications\n",
		*from, tipHeight, tipHeight-int32(*from)+1, proc.Watching(), updated.Load(), events.Load())
	return nil
}

// noRates serves no rates: a rescan creates no invoices.
type noRates struct{}

func (noRates) Rate(string) (decimal.Decimal, error) {
	return decimal.Decimal{}, errors.New("a rescan creates no invoices")
}

// rescanSink feeds the rescan's blocks to the processor without touching
// the processed-chain cursor, judging invoices at the tip.
type rescanSink struct {
	proc    chain.Sink
	start   chain.Block // the block before the first one rescanned
	tip     chain.Block // the node's tip when the rescan began
	onBlock func(height int32)
	stop    func()

	done     chan struct{}
	doneOnce sync.Once
}

// RecentBlocks implements chain.Sink: the watcher starts after start.
func (s *rescanSink) RecentBlocks(context.Context) ([]chain.Block, error) {
	return []chain.Block{s.start}, nil
}

// Apply implements chain.Sink. The batch's payments go to the processor
// with the chain progress taken out (the cursor is serve's) and, unless
// the batch is a reorganisation, the tip raised to the rescan's tip.
func (s *rescanSink) Apply(ctx context.Context, b chain.Batch) error {
	connected := b.Connected
	nb := b
	nb.Connected = nil
	if b.DisconnectedAbove < 0 && nb.Tip.Height < s.tip.Height {
		nb.Tip = s.tip
	}
	nb.DisconnectedAbove = -1
	if err := s.proc.Apply(ctx, nb); err != nil {
		return err
	}
	for _, blk := range connected {
		s.onBlock(blk.Height)
		if blk.Height >= s.tip.Height {
			s.doneOnce.Do(func() {
				close(s.done)
				s.stop() // the watcher stops before its mempool round
			})
		}
	}
	return nil
}

func (s *rescanSink) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

var _ chain.Sink = (*rescanSink)(nil)

// progress shows the rescan's progress on w: a bar redrawn in place on a
// terminal, a line every tenth of the way otherwise. Log lines written
// through it go above the bar.
type progress struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	from, to int32
	updates  int
	lastStep int32
	drawn    bool
	started  time.Time
	height   atomic.Int32
}

func (p *progress) begin(from, to int32, watching int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.from, p.to, p.started, p.lastStep = from, to, time.Now(), 0
	p.height.Store(from - 1)
	fmt.Fprintf(p.w, "rescanning blocks %d to %d against %d invoices\n", from, to, watching)
	if p.tty {
		p.draw()
	}
}

func (p *progress) block(h int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.height.Store(h)
	p.draw()
}

func (p *progress) found(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.updates += n
}

func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\n")
		p.drawn = false
	}
}

// draw shows the current state; the caller holds mu.
func (p *progress) draw() {
	total := p.to - p.from + 1
	done := max(p.height.Load()-p.from+1, 0)
	if total <= 0 {
		return
	}
	pct := int(int64(done) * 100 / int64(total))
	if !p.tty {
		step := int32(pct / 10)
		if step == p.lastStep {
			return
		}
		p.lastStep = step
		fmt.Fprintf(p.w, "rescan: block %d of %d (%d%%), %d invoice updates, %s\n",
			p.height.Load(), p.to, pct, p.updates, time.Since(p.started).Round(time.Second))
		return
	}
	const width = 30
	fill := int(int64(done) * width / int64(total))
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3d%%  block %d/%d  %d invoice updates",
		strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, p.height.Load(), p.to, p.updates)
	p.drawn = true
}

// Write lets log lines through above the bar.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	n, err := p.w.Write(b)
	if p.tty && p.drawn {
		p.draw()
	}
	return n, err
}
