package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// This file holds what several nodes on one PostgreSQL database need.
//
// Cross-node wake-ups. On PostgreSQL several kassa nodes share one
// database; a commit that queues outbox events also sends NOTIFY on
// outboxChannel, inside its transaction so the notification leaves only if
// the commit does. Every node's ListenCommits fires its local Committed
// wake on each notification, so an event stream on node B sees a payment
// processed on node A within milliseconds, and every node's notification
// workers and the leader's watcher wake without waiting for their poll.
// The payload is the committing session's schema: deployments that share a
// database in different schemas ignore each other's commits.

// outboxChannel is the LISTEN/NOTIFY channel of outbox commits.
const outboxChannel = "kassa_outbox"

// notifyOutbox queues the outbox notification in tx; a no-op on SQLite,
// where one process's commits wake it directly and others poll.
func (db *DB) notifyOutbox(ctx context.Context, tx *sql.Tx) error {
	if db.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, current_schema())`, outboxChannel); err != nil {
		return fmt.Errorf("notify other nodes: %w", err)
	}
	return nil
}

// listenRetry is how long ListenCommits waits before it reconnects.
const listenRetry = time.Second

// ListenCommits fires Committed for every outbox commit any node of this
// database makes, until ctx ends. It holds one pooled connection for
// LISTEN and takes a new one after an error, firing Committed on every
// (re)connection since notifications sent meanwhile are lost. On SQLite it
// only waits for ctx. It returns nil when ctx ends.
func (db *DB) ListenCommits(ctx context.Context, log *slog.Logger) error {
	if db.dialect != Postgres {
		<-ctx.Done()
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	for {
		err := db.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("listening for other nodes' commits failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(listenRetry):
		}
	}
}

// listen LISTENs on one connection until ctx ends or the connection fails.
// The connection is discarded afterwards, never returned to the pool still
// listening.
func (db *DB) listen(ctx context.Context) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	var failed error
	_ = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			failed = fmt.Errorf("driver connection is %T, not pgx", dc)
			return driver.ErrBadConn
		}
		pc := sc.Conn()
		var schema string
		if err := pc.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			failed = fmt.Errorf("read schema: %w", err)
			return driver.ErrBadConn
		}
		if _, err := pc.Exec(ctx, `LISTEN `+outboxChannel); err != nil {
			failed = fmt.Errorf("listen: %w", err)
			return driver.ErrBadConn
		}
		db.commits.fire()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				failed = fmt.Errorf("wait for notification: %w", err)
				return driver.ErrBadConn
			}
			if n.Channel == outboxChannel && n.Payload == schema {
				db.commits.fire()
			}
		}
	})
	if failed == nil {
		failed = errors.New("listener connection ended")
	}
	return failed
}

// ProcessedTip returns the height of the last block the chain watcher
// processed (0 before the first): nodes that do not run the watcher read
// the leader's progress here.
func (db *DB) ProcessedTip(ctx context.Context) (int32, error) {
	var h int64
	if err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(height), 0) FROM chain_blocks`).Scan(&h); err != nil {
		return 0, fmt.Errorf("read processed tip: %w", err)
	}
	return int32(h), nil
}
