// Package leader elects the one kassa node, among several sharing a
// PostgreSQL database, that runs the chain watcher and the expiry sweeper.
//
// There is no consensus of kassa's own: the leader is the node whose
// dedicated connection holds a session advisory lock
// (pg_try_advisory_lock). Followers try to take it every Retry. The leader
// runs a cheap query on that connection every Check and steps down at the
// first failure: it stops the leader-only work and closes the connection,
// so PostgreSQL releases the lock. A leader killed outright loses the lock
// when PostgreSQL notices its connection is gone: at once when the
// process dies (the kernel closes the socket), within a few seconds of
// TCP keepalives when its machine or network does, and after
// idle_session_timeout when the process hangs.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kassa-pay/kassa/internal/ctxwait"
	"github.com/kassa-pay/kassa/internal/pglock"
)

// The roles Role reports.
const (
	// Single is a node that is alone by construction (SQLite): always the
	// leader.
	Single = "single"
	// Leader is the elected node of several.
	Leader = "leader"
	// Follower is a node of several that is not (or not yet) the leader.
	Follower = "follower"
)

// Config configures an Elector.
type Config struct {
	// URL is the deployment's postgres:// URL; its search_path (if any)
	// names the schema, and deployments in different schemas elect
	// separately.
	URL string
	// NodeID names this node in logs and in pg_stat_activity's
	// application_name.
	NodeID string
	// Retry is how often a follower tries to take the lock (default 1 s).
	Retry time.Duration
	// Check is how often the leader checks its connection (default 1 s).
	Check time.Duration
	// Timeout bounds connecting and each check (default 2 s).
	Timeout time.Duration
	Log     *slog.Logger
}

// Elector campaigns for leadership and runs the leader's work while it
// holds it.
type Elector struct {
	cfg  Config
	role atomic.Value // string
	// terms counts the terms this node won.
	terms atomic.Int64
}

// New returns an Elector; Run starts it.
func New(cfg Config) *Elector {
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Check <= 0 {
		cfg.Check = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	e := &Elector{cfg: cfg}
	e.role.Store(Follower)
	return e
}

// Role returns Leader or Follower.
func (e *Elector) Role() string { return e.role.Load().(string) }

// Terms returns how many times this node became leader.
func (e *Elector) Terms() int64 { return e.terms.Load() }

// LeadFunc is the leader-only work. It runs with a context that ends when
// the node loses leadership or Run's context ends, and must return soon
// after. A nil return with its context still live gives leadership up
// (another node may take it); an error does too and ends Run with it.
type LeadFunc func(ctx context.Context) error

// Run campaigns until ctx ends, running lead for each term won; a term
// ends before the next campaign starts, so lead never runs twice at once.
// It returns nil when ctx ends, or lead's error.
func (e *Elector) Run(ctx context.Context, lead LeadFunc) error {
	var lastErr string
	for {
		conn, key, err := e.connect(ctx)
		if err == nil {
			lastErr = ""
			err = e.campaign(ctx, conn, key, lead)
			var le *leadError
			if errors.As(err, &le) {
				return le.err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && err.Error() != lastErr {
			// Logged once per distinct failure: a database that is down
			// would otherwise log every second.
			lastErr = err.Error()
			e.cfg.Log.Warn("leader election: database unavailable; retrying", "node", e.cfg.NodeID, "err", err)
		}
		if !ctxwait.Sleep(ctx, e.cfg.Retry) {
			return nil
		}
	}
}

// leadError carries the error the leader's work ended with.
type leadError struct{ err error }

func (l *leadError) Error() string { return l.err.Error() }

// connect opens the dedicated connection and derives the lock key from
// its schema.
func (e *Elector) connect(ctx context.Context) (*pgx.Conn, int64, error) {
	pc, err := pgx.ParseConfig(e.cfg.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("parse database URL: %w", err)
	}
	pc.ConnectTimeout = e.cfg.Timeout
	// The server drops the session, and with it the lock, a few seconds
	// after this machine stops answering, and a statement that hangs
	// fails the check.
	for k, v := range map[string]string{
		"application_name":                    "kassa-leader:" + e.cfg.NodeID,
		"tcp_keepalives_idle":                 "2",
		"tcp_keepalives_interval":             "1",
		"tcp_keepalives_count":                "3",
		"statement_timeout":                   "5000",
		"lock_timeout":                        "2000",
		"idle_in_transaction_session_timeout": "5000",
	} {
		pc.RuntimeParams[k] = v
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, pc)
	if err != nil {
		return nil, 0, fmt.Errorf("connect: %w", err)
	}
	// A leader that hangs (stopped, swapping) stops checking; the server
	// then ends its idle session and frees the lock. PostgreSQL before 14
	// lacks the setting and keeps the session until the TCP keepalives
	// fail.
	_, _ = conn.Exec(cctx, `SET idle_session_timeout = '10s'`)
	var schema string
	if err := conn.QueryRow(cctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		conn.Close(context.Background())
		return nil, 0, fmt.Errorf("read schema: %w", err)
	}
	return conn, pglock.Leader(schema), nil
}

// campaign tries to take the lock every Retry on conn, and leads when it
// does. It closes conn before it returns.
func (e *Elector) campaign(ctx context.Context, conn *pgx.Conn, key int64, lead LeadFunc) error {
	defer conn.Close(context.Background())
	for {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		var won bool
		err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&won)
		cancel()
		if err != nil {
			return fmt.Errorf("try the leader lock: %w", err)
		}
		if won {
			return e.lead(ctx, conn, lead)
		}
		if !ctxwait.Sleep(ctx, e.cfg.Retry) {
			return nil
		}
	}
}

// lead runs one term: lead's work while conn stays healthy. A term ends
// when ctx ends (the work stops, then the lock is released), when a check
// fails (the node steps down at once; closing conn frees the lock if the
// server still has it), or when the work returns.
func (e *Elector) lead(ctx context.Context, conn *pgx.Conn, lead LeadFunc) error {
	term := e.terms.Add(1)
	e.cfg.Log.Info("leadership taken: this node runs the chain watcher", "node", e.cfg.NodeID, "term", term)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	e.role.Store(Leader)
	go func() { done <- lead(lctx) }()
	t := time.NewTicker(e.cfg.Check)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			e.role.Store(Follower)
			if err != nil && ctx.Err() == nil {
				e.cfg.Log.Error("leader work failed; giving leadership up", "node", e.cfg.NodeID, "err", err)
				return &leadError{err}
			}
			e.cfg.Log.Info("leadership given up", "node", e.cfg.NodeID, "term", term)
			return nil
		case <-ctx.Done():
			stop()
			<-done
			e.role.Store(Follower)
			// The work has stopped; campaign's close ends the session
			// and frees the lock for the next node.
			e.cfg.Log.Info("leadership released at shutdown", "node", e.cfg.NodeID, "term", term)
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		_, err := conn.Exec(cctx, `SELECT 1`)
		cancel()
		if err != nil && ctx.Err() == nil {
			e.role.Store(Follower)
			e.cfg.Log.Warn("leader lost its database connection; stepping down", "node", e.cfg.NodeID, "term", term, "err", err)
			stop()
			conn.Close(context.Background())
			<-done
			return fmt.Errorf("leader check: %w", err)
		}
	}
}
