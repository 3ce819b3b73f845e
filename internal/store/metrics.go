package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// This file answers the operator's questions cheaply enough to ask at
// every metrics scrape and readiness probe: is the database there, how
// many invoices are in each status, how the notification deliveries fare.

// Ping checks that the database answers a query that reads it (not only
// that a connection opens) and returns the schema version.
func (db *DB) Ping(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("ping %s database: %w", db.dialect, err)
	}
	return int(v.Int64), nil
}

// InvoiceCounts returns how many invoices are in each status (statuses
// with none are absent). It reads the status index only.
func (db *DB) InvoiceCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT status, COUNT(*) FROM invoices GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count invoices by status: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count invoices by status: %w", err)
		}
		out[status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count invoices by status: %w", err)
	}
	return out, nil
}

// TableExists reports whether the database has the table, so callers can
// use tables a later migration adds and still work before it.
func (db *DB) TableExists(ctx context.Context, table string) (bool, error) {
	var n int
	var err error
	if db.dialect == Postgres {
		err = db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = $1`, table).Scan(&n)
	} else {
		err = db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`,
			table).Scan(&n)
	}
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", table, err)
	}
	return n > 0, nil
}

// DeliveryBacklog counts a channel's pending deliveries (deliveries table,
// migration 0003), through its partial index on pending rows.
func (db *DB) DeliveryBacklog(ctx context.Context, channel string) (int64, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND channel = $1`,
		channel).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending %s deliveries: %w", channel, err)
	}
	return n, nil
}

// AttemptTally is a count of delivery attempts.
type AttemptTally struct {
	Attempts int64 // attempts made
	Failures int64 // attempts that failed (recorded with an error)
	LastID   int64 // the attempt id the tally goes up to
}

// attemptSettle is how old a PostgreSQL attempt row must be before it is
// counted: concurrent transactions can commit ids out of order, and a
// tally that moved past a gap would never count the row that fills it.
// Attempts are recorded right after they are made, in short transactions,
// so two minutes leaves a wide margin. SQLite commits ids in order.
const attemptSettle = 2 * time.Minute

// DeliveryAttemptsAfter counts a channel's delivery attempts with an id
// above afterID (delivery_attempts, migration 0003). Attempts are only
// ever added, so a caller keeps running totals by passing the LastID of
// its previous tally: each call reads only the new rows, by primary key.
// On PostgreSQL rows younger than two minutes at now wait for a later
// tally (see attemptSettle).
func (db *DB) DeliveryAttemptsAfter(ctx context.Context, channel string, afterID int64, now time.Time) (AttemptTally, error) {
	t := AttemptTally{LastID: afterID}
	horizon := now
	if db.dialect == Postgres {
		horizon = now.Add(-attemptSettle)
	}
	var last sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT MAX(id) FROM delivery_attempts WHERE id > $1 AND at <= $2`,
		afterID, millis(horizon)).Scan(&last)
	if err != nil {
		return AttemptTally{}, fmt.Errorf("count %s delivery attempts: %w", channel, err)
	}
	if !last.Valid {
		return t, nil
	}
	err = db.sql.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN a.error <> '' THEN 1 ELSE 0 END), 0)
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.id > $1 AND a.id <= $2 AND d.channel = $3`, afterID, last.Int64, channel).Scan(&t.Attempts, &t.Failures)
	if err != nil {
		return AttemptTally{}, fmt.Errorf("count %s delivery attempts: %w", channel, err)
	}
	t.LastID = last.Int64
	return t, nil
}
