package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/leader"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// This file is kassa serve's leader-only work and its election. On SQLite
// the node is alone ("single") and runs the work for its whole life. On
// PostgreSQL several nodes may share the database: every node serves the
// API, the checkout and the dashboard and runs the notification workers,
// and the node holding the leader lock (package leader) runs the chain
// watcher with its processor, the expiry sweeper and the sweep of refund
// address requests. A node that loses the
// lock stops that work; it starts afresh, from the store, when the node
// wins again.

// runLeaderWork runs the chain work on this node: alone on SQLite, or
// whenever this node is elected on PostgreSQL. It returns when ctx ends
// (nil) or with an error that must stop kassa (a node on the wrong
// network).
func runLeaderWork(ctx context.Context, cfg *config.Config, log *slog.Logger, h *health, o *ops, g *gateway.Gateway, db *store.DB, refunds *gateway.Refunds) error {
	if db.Dialect() != store.Postgres {
		return runChainWork(ctx, cfg, log, h, o, g, db, refunds)
	}
	el := leader.New(leader.Config{URL: cfg.DatabaseURL, NodeID: cfg.NodeID, Log: log})
	h.elector.Store(el)
	h.chainState.Store("standby")
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Other nodes' commits wake this node's event streams, notification
	// workers and (when leading) its watcher.
	wg.Go(func() { _ = db.ListenCommits(ctx, log) })
	wg.Go(func() { followTip(ctx, h, g, db) })
	log.Info("several-node mode: campaigning for the chain watcher", "node", cfg.NodeID)
	return el.Run(ctx, func(ctx context.Context) error {
		err := runChainWork(ctx, cfg, log, h, o, g, db, refunds)
		if err != nil && !errors.Is(err, chain.ErrWrongNetwork) {
			// Give the lock up and campaign again; another node may do
			// better.
			log.Warn("chain work failed; leadership given up", "node", cfg.NodeID, "err", err)
			return nil
		}
		return err
	})
}

// runChainWork connects the chain backend and runs it with a fresh
// processor and the sweeper until ctx ends.
func runChainWork(ctx context.Context, cfg *config.Config, log *slog.Logger, h *health, o *ops, g *gateway.Gateway, db *store.DB, refunds *gateway.Refunds) error {
	proc := gateway.NewProcessor(g, gateway.ProcessorConfig{Store: db})
	defer func() {
		proc.Detach()
		h.proc.Store(nil)
		if ctx.Err() != nil && h.elector.Load() != nil {
			h.chainState.Store("standby")
		}
	}()
	// Connect to the chain; a node that is down is retried, a node on the
	// wrong network stops kassa with a clear error.
	h.chainState.Store("connecting")
	var backend chain.Backend
	for {
		var err error
		backend, err = chain.Open(ctx, chain.Options{URL: cfg.Chain, Network: cfg.Network, Sink: o.sink(proc), PollInterval: cfg.ChainPoll, Log: log})
		if err == nil {
			break
		}
		if errors.Is(err, chain.ErrWrongNetwork) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("chain backend unavailable; retrying", "chain", cfg.Redacted().Chain, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	proc.Attach(backend)
	if err := proc.Load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	h.proc.Store(proc)
	h.chainState.Store("watching")
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := backend.Run(ctx); err != nil {
			log.Error("chain backend stopped", "err", err)
			h.chainState.Store("failed: " + err.Error())
		}
	})
	// Invoices other processes and nodes create are picked up when their
	// commit wakes this one, and at the chain's pace besides.
	wg.Go(func() { runProcessor(ctx, log, proc, db, min(cfg.ChainPoll, time.Second)) })
	wg.Go(func() { runRefundSweep(ctx, log, refunds, refundSweepInterval) })
	if eng, err := spendEngine(ctx, cfg, log, g, db, backend); err != nil {
		return err
	} else if eng != nil {
		wg.Go(func() { _ = eng.Run(ctx, max(cfg.ChainPoll, time.Second)) })
	}
	wg.Go(func() { runAutoRefunds(ctx, log, refunds, db, 10*time.Second) })
	log.Info("watching the chain", "chain", cfg.Redacted().Chain, "invoices", proc.Watching())
	wg.Wait()
	return nil
}

// spendEngine starts the spend engine beside the watcher: it pays refunds
// from the stores' coins and follows what it sent, through the node or
// the Esplora server the watcher follows.
func spendEngine(ctx context.Context, cfg *config.Config, log *slog.Logger, g *gateway.Gateway, db *store.DB, backend chain.Backend) (*spender.Engine, error) {
	client, rejected, err := spendChain(cfg.Chain)
	if err != nil {
		return nil, fmt.Errorf("spend engine: %w", err)
	}
	hot, err := hotSigner(ctx, cfg, log, db)
	if err != nil {
		return nil, err
	}
	eng := spender.New(spender.Config{Store: db, Chain: client, Rejected: rejected, Policy: g.Policy(), Logger: log, Hot: hot,
		WatchChange: func(storeID string, script []byte, index uint32) {
			backend.WatchScript(chain.StoreScript{StoreID: storeID, Script: script, Branch: 1, Index: index})
		}})
	if err := eng.Load(ctx); err != nil {
		return nil, fmt.Errorf("spend engine: %w", err)
	}
	return eng, nil
}

// runAutoRefunds makes the automatic exception refunds (and cancels those
// whose invoices were credited) every interval until ctx ends.
func runAutoRefunds(ctx context.Context, log *slog.Logger, refunds *gateway.Refunds, db *store.DB, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		made, cancelled, err := refunds.AutoRefunds(ctx, db)
		if err != nil && ctx.Err() == nil {
			log.Warn("automatic refunds", "err", err)
		}
		if made+cancelled > 0 {
			log.Info("automatic refunds", "made", made, "cancelled", cancelled)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollGap spaces the processor's polls for new invoices when commits come
// in quick succession.
const pollGap = 50 * time.Millisecond

// runProcessor polls for invoices created elsewhere on every commit wake
// (at most every pollGap) and every interval, and sweeps deadlines every
// interval, until ctx ends.
func runProcessor(ctx context.Context, log *slog.Logger, proc *gateway.Processor, db *store.DB, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sweep := true
	for {
		wake := db.Committed()
		if err := proc.Poll(ctx); err != nil && ctx.Err() == nil {
			log.Warn("poll failed", "err", err)
		}
		if sweep {
			if err := proc.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("sweep failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep = true
		case <-wake:
			sweep = false
			select {
			case <-ctx.Done():
				return
			case <-time.After(pollGap):
			}
		}
	}
}

// refundSweepInterval spaces the sweeps of refunds whose buyer gave no
// address in time: deadlines are days long, a minute late is nothing.
const refundSweepInterval = time.Minute

// runRefundSweep fails the refunds past their address deadline now and
// every interval until ctx ends.
func runRefundSweep(ctx context.Context, log *slog.Logger, refunds *gateway.Refunds, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := refunds.ExpireAddressRequests(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("refund address sweep failed", "err", err)
		case n > 0:
			log.Info("refunds failed: no address given in time", "refunds", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// followTip keeps the gateway's and the API's chain height in step with
// the leader's progress while this node does not run the watcher.
func followTip(ctx context.Context, h *health, g *gateway.Gateway, db *store.DB) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if h.proc.Load() == nil {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			tip, err := db.ProcessedTip(qctx)
			cancel()
			if err == nil && h.proc.Load() == nil {
				h.storedTip.Store(tip)
				g.ObserveTip(tip)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tip returns the processed chain height: the processor's on the node that
// runs it, the leader's stored progress on the others.
func (h *health) tip() int32 {
	if p := h.proc.Load(); p != nil {
		return p.Tip()
	}
	return h.storedTip.Load()
}

// role returns single, leader or follower (a node of several is a
// follower until its elector runs and wins).
func (h *health) role() string {
	if el := h.elector.Load(); el != nil {
		return el.Role()
	}
	if h.multi {
		return leader.Follower
	}
	return leader.Single
}
