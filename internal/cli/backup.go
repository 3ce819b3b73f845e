package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/store"
)

// kassa backup and kassa restore. A SQLite database is backed up online:
// VACUUM INTO copies one read transaction's snapshot while kassa serve
// keeps writing, and the copy is checked before the command succeeds. A
// restore needs the server stopped (it takes the data directory's lock),
// checks the file is an intact kassa database at a schema version this
// kassa knows, and keeps the database it replaces beside it. PostgreSQL
// databases are pg_dump's and pg_restore's job: both commands say how and
// exit non-zero.

// errUsePostgresTools is returned by backup and restore on PostgreSQL.
var errUsePostgresTools = errors.New("PostgreSQL databases are backed up and restored with pg_dump and pg_restore (see above)")

func runBackup(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "backup", "backup --out FILE [flags]")
	out := fs.String("out", "", "file to write the backup to; it must not exist (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	if cfg.IsPostgres() {
		postgresGuidance(env.Stderr, cfg)
		return errUsePostgresTools
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: kassa backup --out FILE", ErrUsage)
	}
	src := sqlitePath(cfg)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no database to back up: %w", err)
	}
	dst, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	start := time.Now()
	// Open without migrating: the server running beside may be older.
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database %s: %w", src, err)
	}
	err = db.Backup(ctx, dst)
	db.Close()
	if err != nil {
		return err
	}
	info, err := store.InspectSQLite(ctx, dst)
	if err != nil {
		return fmt.Errorf("the backup does not check out: %w", err)
	}
	st, err := os.Stat(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "backed up %s to %s in %s: %s, schema version %d, %d stores, %d invoices\n",
		src, dst, time.Since(start).Round(time.Millisecond), byteSize(st.Size()), info.Version, info.Stores, info.Invoices)
	fmt.Fprintln(env.Stdout, dst)
	return nil
}

func runRestore(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "restore", "restore --from FILE [flags]")
	from := fs.String("from", "", "backup file made by kassa backup (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	if cfg.IsPostgres() {
		postgresGuidance(env.Stderr, cfg)
		return errUsePostgresTools
	}
	if *from == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: kassa restore --from FILE", ErrUsage)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		if errors.Is(err, errLocked) {
			return fmt.Errorf("%w; stop it (systemctl stop kassa), restore, then start it again", err)
		}
		return err
	}
	defer lock.Close()

	target, err := filepath.Abs(sqlitePath(cfg))
	if err != nil {
		return err
	}
	src, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(target); err == nil && os.SameFile(a, b) {
			return fmt.Errorf("%s is the database itself", src)
		}
	}
	info, err := store.InspectSQLite(ctx, src)
	if err != nil {
		return fmt.Errorf("refusing to restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Copy beside the target, check the copy, then swap it in.
	tmp, err := copyBeside(src, target)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := store.InspectSQLite(ctx, tmp); err != nil {
		return fmt.Errorf("the copy of %s does not check out: %w", src, err)
	}
	aside, err := moveAside(target)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("put the restored database in place (the previous one is at %s): %w", aside, err)
	}
	if err := store.SyncDir(filepath.Dir(target)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "restored %s to %s: schema version %d, %d stores, %d invoices\n",
		src, target, info.Version, info.Stores, info.Invoices)
	if aside != "" {
		fmt.Fprintf(env.Stderr, "the previous database is kept at %s\n", aside)
	}
	if latest, err := store.LatestSchemaVersion(); err == nil && info.Version < latest {
		fmt.Fprintf(env.Stderr, "kassa migrates it from version %d to %d when it next starts\n", info.Version, latest)
	}
	fmt.Fprintln(env.Stderr, "invoices created after the backup are not in it; kassa serve resumes the chain from the backup's last block, so payments to the invoices it holds are found again (kassa rescan --from HEIGHT goes further back)")
	return nil
}

// sqlitePath returns the SQLite database file named by KASSA_DATABASE_URL
// (a plain path, sqlite:PATH or file:PATH).
func sqlitePath(cfg *config.Config) string {
	p := strings.TrimPrefix(strings.TrimPrefix(cfg.DatabaseURL, "sqlite:"), "file:")
	p = strings.TrimPrefix(p, "//")
	p, _, _ = strings.Cut(p, "?")
	return p
}

// copyBeside copies src to a new temporary file in target's directory and
// syncs it.
func copyBeside(src, target string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("create a file beside %s: %w", target, err)
	}
	name := out.Name()
	fail := func(err error) (string, error) {
		out.Close()
		os.Remove(name)
		return "", err
	}
	if err := out.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		return fail(fmt.Errorf("copy %s: %w", src, err))
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// moveAside renames the database at path and its -wal and -shm files to
// path.pre-restore-TIME (SQLite pairs a database with the -wal of the same
// name, so the old database keeps its last commits). It returns the new
// name, or "" when there was no database.
func moveAside(path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := path + ".pre-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for _, suffix := range []string{"-wal", "-shm", ""} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("move the current database aside: %w", err)
		}
	}
	return aside, nil
}

// postgresGuidance tells how to back up and restore a PostgreSQL
// database; the URL is shown without its password.
func postgresGuidance(w io.Writer, cfg *config.Config) {
	u := cfg.Redacted().DatabaseURL
	fmt.Fprintf(w, `kassa keeps its data in PostgreSQL here (%s).
Back it up with pg_dump, which takes a consistent snapshot while kassa runs:

  pg_dump --format=custom --file=kassa-$(date +%%F).dump '%s'

Restore into an empty database, with kassa stopped on every node:

  pg_restore --clean --if-exists --no-owner --dbname='%s' kassa-YYYY-MM-DD.dump

Give the password through PGPASSWORD or ~/.pgpass rather than in the URL.
`, u, u, u)
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
