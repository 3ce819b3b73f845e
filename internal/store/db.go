package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The dialects Dialect reports.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Errors callers match with errors.Is.
var (
	// ErrNotFound is returned when a looked-up record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned by Commit when an invoice changed since it
	// was loaded (its version moved on); nothing of the commit is stored.
	ErrConflict = errors.New("invoice changed concurrently")
	// ErrDuplicate is returned when a unique key is taken: an invoice guid
	// already used in its store, a pairing code, a token or an id.
	ErrDuplicate = errors.New("already exists")
	// ErrClosed is returned by CreateInvoice after Close.
	ErrClosed = errors.New("store is closed")
)

// Options tune a DB; the zero value is a sensible default.
type Options struct {
	// MaxBatch caps how many invoices one group commit writes (default 512).
	MaxBatch int
	// MaxOpenConns caps the connection pool (default 16 on SQLite, 32 on
	// PostgreSQL).
	MaxOpenConns int
}

// DB is kassa's repository over SQLite or PostgreSQL. It is safe for
// concurrent use; Close stops its invoice writer.
type DB struct {
	sql     *sql.DB
	dialect string
	opts    Options

	// writeMu serializes this process's write transactions on SQLite, so
	// writers in one process queue on a mutex instead of SQLite's sleeping
	// busy handler; other processes are still held off by busy_timeout.
	// On PostgreSQL it is unused.
	writeMu sync.Mutex

	// insInvoice and insOutbox are the writer's statements, prepared on
	// the first batch; only the writer goroutine touches them.
	insInvoice, insOutbox *sql.Stmt
	// bulkInvoice and bulkOutbox build the writer's multi-row INSERTs.
	bulkInvoice, bulkOutbox *multiInsert

	reqs      chan *createRequest
	quit      chan struct{}
	done      sync.WaitGroup // the writer and the checkpointer
	closeOnce sync.Once
	// wrote is set after every SQLite commit and cleared by the
	// checkpointer.
	wrote atomic.Bool
	// commits fires after every write transaction commits (Committed).
	commits wake
}

// Open connects to the database at rawURL and starts the invoice writer. A
// postgres:// or postgresql:// URL selects PostgreSQL; sqlite:PATH, file:PATH
// or a plain path selects SQLite. Open does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	return OpenWith(ctx, rawURL, Options{})
}

// OpenWith is Open with explicit Options.
func OpenWith(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	db := &DB{opts: opts}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db.dialect = Postgres
		db.sql, err = sql.Open("pgx", rawURL)
		if opts.MaxOpenConns <= 0 {
			opts.MaxOpenConns = 32
		}
	default:
		db.dialect = SQLite
		db.sql, err = sql.Open("sqlite", sqliteDSN(rawURL))
		if opts.MaxOpenConns <= 0 {
			opts.MaxOpenConns = 16
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db.dialect, err)
	}
	db.sql.SetMaxOpenConns(opts.MaxOpenConns)
	db.sql.SetMaxIdleConns(opts.MaxOpenConns)
	db.sql.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.dialect, err)
	}
	db.opts = opts
	db.start()
	return db, nil
}

// sqliteDSN turns a sqlite:PATH, file:PATH or plain path into modernc's DSN
// with kassa's pragmas: WAL, full fsync on commit, foreign keys, a 10 s busy
// timeout for other processes' writes, and BEGIN IMMEDIATE so a write
// transaction takes the write lock up front instead of failing on upgrade.
// Automatic checkpoints are off: the checkpointer goroutine copies the WAL
// back into the database file, so commits never wait for that. A 64 MiB
// page cache keeps the indexes' hot pages in memory (the default 2 MiB made
// every batch re-read index pages: 30 % slower).
func sqliteDSN(rawURL string) string {
	path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	path = strings.TrimPrefix(path, "//")
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "cache_size(-65536)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close stops the invoice writer, failing queued CreateInvoice calls with
// ErrClosed after the batch in flight commits, and closes the pool.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.quit)
		db.done.Wait()
		for _, st := range []*sql.Stmt{db.insInvoice, db.insOutbox} {
			if st != nil {
				st.Close()
			}
		}
	})
	return db.sql.Close()
}

// writeTx runs fn in a write transaction and commits it. On SQLite the
// transaction is BEGIN IMMEDIATE and serialized with this process's other
// writers.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.dialect == SQLite {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.wrote.Store(true)
	db.commits.fire()
	return nil
}

// checkpointInterval is how often the checkpointer runs while SQLite is
// being written.
const checkpointInterval = 100 * time.Millisecond

// checkpointer runs passive WAL checkpoints for this process's writes, off
// the commit path: a passive checkpoint neither blocks nor waits for
// writers. Without it the commit that crosses SQLite's autocheckpoint
// threshold would also copy the WAL and fsync the database file, a latency
// spike for every caller in its batch. The last connection to close
// checkpoints too, so short-lived CLI processes leave no WAL behind.
func (db *DB) checkpointer() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-db.quit:
			return
		case <-t.C:
		}
		if !db.wrote.Swap(false) {
			continue
		}
		if _, err := db.sql.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			slog.Warn("SQLite checkpoint failed", "err", err)
		}
	}
}

// isUnique reports whether err is a unique-constraint violation on either
// database.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// dupErr wraps a unique violation as ErrDuplicate and leaves other errors.
// execOne runs a statement in tx that must touch a row: none touched is
// ErrNotFound.
func execOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

func dupErr(err error) error {
	if isUnique(err) {
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	}
	return err
}

// millis stores a time as unix milliseconds, the zero time as 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis reverses millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
