package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// This file backs a SQLite database up while kassa runs and checks that a
// file is a kassa database before it is restored.

// ErrNotSQLite is returned by Backup on PostgreSQL, whose backups are
// pg_dump's job.
var ErrNotSQLite = errors.New("not a SQLite database")

// LatestSchemaVersion returns the version of the newest migration this
// build carries.
func LatestSchemaVersion() (int, error) {
	ms, err := migrations()
	if err != nil {
		return 0, fmt.Errorf("read migrations: %w", err)
	}
	return ms[len(ms)-1].version, nil
}

// Backup writes a consistent copy of the SQLite database to dst, which
// must not exist, while other connections and processes keep reading and
// writing: VACUUM INTO copies one read transaction's snapshot. The copy is
// written beside dst and renamed into place once complete and synced, so
// dst is never a partial file; it is left in rollback-journal mode, one
// self-contained file (kassa switches it back to WAL when it opens it).
func (db *DB) Backup(ctx context.Context, dst string) error {
	if db.dialect != SQLite {
		return ErrNotSQLite
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("backup to %s: %w", dst, os.ErrExist)
	}
	tmp, err := tempPath(dst)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO $1`, tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	if err := setRollbackJournal(ctx, tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	// Link, not rename: it fails instead of replacing a dst that appeared
	// meanwhile.
	if err := os.Link(tmp, dst); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}

// tempPath returns an unused name beside path.
func tempPath(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create a file beside %s: %w", path, err)
	}
	name := f.Name()
	f.Close()
	// VACUUM INTO wants a new file.
	if err := os.Remove(name); err != nil {
		return "", err
	}
	return name, nil
}

// setRollbackJournal switches a copied database out of WAL mode, so it is
// one file with nothing beside it.
func setRollbackJournal(ctx context.Context, path string) error {
	conn, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil {
		return fmt.Errorf("set journal mode: %w", err)
	}
	if mode != "delete" {
		return fmt.Errorf("set journal mode: still %s", mode)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// SyncDir makes a directory's entries durable (a file created, renamed or
// removed in it survives a crash).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// FileInfo describes a SQLite file checked by InspectSQLite.
type FileInfo struct {
	Version  int   // its newest applied migration
	Invoices int64 // how many invoices it holds
	Stores   int64 // how many stores it holds
}

// kassaTables must exist in a kassa database of any version.
var kassaTables = []string{"schema_migrations", "stores", "tokens", "invoices", "outbox", "chain_blocks"}

// InspectSQLite checks that the file at path is an intact kassa database
// at a schema version this build knows, without changing it: it must pass
// SQLite's quick_check, have kassa's tables and a version between 1 and
// LatestSchemaVersion. A file with a write-ahead log beside it is refused:
// it is a live database, or a copy of one missing its newest commits.
func InspectSQLite(ctx context.Context, path string) (FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, err
	}
	if !st.Mode().IsRegular() {
		return FileInfo{}, fmt.Errorf("%s is not a regular file", path)
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		return FileInfo{}, fmt.Errorf("%s has a write-ahead log beside it (%s-wal): it is a live database or an incomplete copy; make a backup with kassa backup", path, path)
	}
	head := make([]byte, 16)
	f, err := os.Open(path)
	if err != nil {
		return FileInfo{}, err
	}
	_, err = f.Read(head)
	f.Close()
	if err != nil || string(head) != "SQLite format 3\x00" {
		return FileInfo{}, fmt.Errorf("%s is not a SQLite database", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return FileInfo{}, err
	}
	// immutable: no locks, no journal, no -shm file; nothing is written.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro&immutable=1"}
	conn, err := sql.Open("sqlite", u.String())
	if err != nil {
		return FileInfo{}, err
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return FileInfo{}, fmt.Errorf("%s: integrity check: %w", path, err)
	}
	if check != "ok" {
		return FileInfo{}, fmt.Errorf("%s is damaged: %s", path, check)
	}
	var missing []string
	for _, table := range kassaTables {
		var n int
		err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, table).Scan(&n)
		if err != nil {
			return FileInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		if n == 0 {
			missing = append(missing, table)
		}
	}
	if len(missing) > 0 {
		return FileInfo{}, fmt.Errorf("%s is not a kassa database (no table %s)", path, strings.Join(missing, ", "))
	}
	var info FileInfo
	var v sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return FileInfo{}, fmt.Errorf("%s: read schema version: %w", path, err)
	}
	info.Version = int(v.Int64)
	latest, err := LatestSchemaVersion()
	if err != nil {
		return FileInfo{}, err
	}
	if info.Version < 1 || info.Version > latest {
		return FileInfo{}, fmt.Errorf("%s is at schema version %d; this kassa knows versions 1 to %d (restore it with the kassa that made it)",
			path, info.Version, latest)
	}
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices`).Scan(&info.Invoices); err != nil {
		return FileInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM stores`).Scan(&info.Stores); err != nil {
		return FileInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}
