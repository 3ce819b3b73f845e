// Package cli is the kassa command: it parses subcommands and flags, wires
// the packages together and runs them. Every command is scriptable: stdout
// carries only the value (an id, a token, a code, JSON); messages go to
// stderr.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/store"
)

// Version is set at build time with -ldflags "-X .../cli.Version=…".
var Version = "dev"

// Env is what a command runs with: its streams and environment.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway: HTTP server, chain watcher, expiry sweeper", runServe},
		{"demo", "run a regtest node, a demo store and the gateway; 'demo pay ID' pays an invoice", runDemo},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"store", "create and list merchant stores", runStore},
		{"token", "create and list API tokens", runToken},
		{"pairing", "create pairing codes and approve client-requested ones", runPairing},
		{"apikey", "create, list and revoke legacy API keys (BitPay API v0.3)", runAPIKey},
		{"invoice", "create and show invoices", runInvoice},
		{"coins", "list a store's coins as JSON (--store ID; --all with the spent ones)", runCoins},
		{"spend", "list spends, print a spend's PSBT to sign, submit the signed one", runSpend},
		{"ipn", "show an invoice's IPNs and mails and their attempts; sign a store's IPNs", runIPN},
		{"user", "create and list dashboard accounts, reset passwords and 2FA", runUser},
		{"application", "list and approve merchant applications (KASSA_SIGNUP)", runApplication},
		{"backup", "back up the SQLite database while kassa runs (--out FILE)", runBackup},
		{"restore", "restore a backup with the server stopped (--from FILE)", runRestore},
		{"rescan", "match blocks from --from HEIGHT to the tip against the invoices again", runRescan},
		{"version", "print the version", runVersion},
	}
}

// ErrUsage marks a command-line mistake; the message says what to type.
var ErrUsage = errors.New("usage")

// Run runs the kassa command line and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, ErrUsage):
				fmt.Fprintf(env.Stderr, "kassa %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(env.Stderr, "kassa %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(env.Stderr, "kassa: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `kassa is a self-hosted Bitcoin payment gateway that speaks the BitPay API.

Usage: kassa <command> [subcommand] [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes the configuration flags (kassa serve --help lists them);
each flag can also be set as a KASSA_ environment variable or in a config file.
Run 'kassa <command> --help' for a command's own flags.
`)
}

// flagSet returns a FlagSet for a command with the configuration flags
// registered, and a resolver for after Parse.
func flagSet(env Env, name, synopsis string) (*flag.FlagSet, func() (*config.Config, error)) {
	fs := flag.NewFlagSet("kassa "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	resolve := config.Flags(fs, env.Getenv)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: kassa %s\n\nFlags:\n", synopsis)
		printFlags(env.Stderr, fs)
	}
	return fs, resolve
}

// printFlags lists a command's own flags first, then the configuration.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	cfgNames := map[string]bool{}
	for _, s := range config.Settings {
		cfgNames[s.Name] = true
	}
	var own, cfg []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if cfgNames[f.Name] {
			cfg = append(cfg, f)
		} else {
			own = append(own, f)
		}
	})
	sort.Slice(own, func(i, j int) bool { return own[i].Name < own[j].Name })
	for _, f := range own {
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%s\n\t%s%s\n", f.Name, f.Usage, def)
	}
	fmt.Fprint(w, "\nConfiguration (flag, KASSA_ variable or config file):\n")
	for _, f := range cfg {
		fmt.Fprintf(w, "  --%s\n\t%s\n", f.Name, f.Usage)
	}
}

// parse parses args, mapping a bad flag to ErrUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return nil
}

// parseAndOpen parses a command's flags, resolves the configuration and
// opens the database: the prologue of every command that uses the store.
func parseAndOpen(ctx context.Context, env Env, fs *flag.FlagSet, resolve func() (*config.Config, error), args []string) (*config.Config, *store.DB, error) {
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	cfg, err := resolve()
	if err != nil {
		return nil, nil, err
	}
	db, err := openDB(ctx, env, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// openDB opens and migrates the configured database, creating the data
// directory for SQLite.
func openDB(ctx context.Context, env Env, cfg *config.Config) (*store.DB, error) {
	if !cfg.IsPostgres() {
		dir := filepath.Dir(cfg.DatabaseURL)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	db, err := store.OpenWith(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.Redacted().DatabaseURL, err)
	}
	if err := backupBeforeUpgrade(ctx, env, cfg, db); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return db, nil
}

// backupBeforeUpgrade keeps the way back from a schema upgrade: before a
// kassa with newer migrations changes a database an older kassa made, a
// SQLite database is backed up beside itself (DB.schema-N.bak, kept if it
// exists), and the operator is told how to go back; a PostgreSQL
// operator is told to take a pg_dump first (kassa cannot do it for them).
// Each migration is one transaction, so an interrupted upgrade leaves the
// database at a schema the backup's kassa or this one opens.
func backupBeforeUpgrade(ctx context.Context, env Env, cfg *config.Config, db *store.DB) error {
	have, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	latest, err := store.LatestSchemaVersion()
	if err != nil || have == 0 || have >= latest {
		return err
	}
	if cfg.IsPostgres() {
		fmt.Fprintf(env.Stderr, "kassa: upgrading the database schema from %d to %d; take a pg_dump before upgrading kassa: "+
			"to go back, restore it and run the previous kassa\n", have, latest)
		return nil
	}
	path := fmt.Sprintf("%s.schema-%d.bak", sqlitePath(cfg), have)
	err = db.Backup(ctx, path)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("back up the database before upgrading its schema from %d to %d: %w", have, latest, err)
	}
	fmt.Fprintf(env.Stderr, "kassa: upgrading the database schema from %d to %d; the database as it was is in %s: "+
		"to go back, stop kassa, run kassa restore --from %s and start the previous kassa\n", have, latest, path, path)
	return nil
}

// subcommand splits "store create …" into "create" and the rest.
func subcommand(env Env, args []string, name string, subs map[string]string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(env.Stderr, "Usage: kassa %s <subcommand> [flags]\n\nSubcommands:\n", name)
		keys := make([]string, 0, len(subs))
		for k := range subs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(env.Stderr, "  %-8s %s\n", k, subs[k])
		}
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return "", nil, flag.ErrHelp
		}
		return "", nil, fmt.Errorf("%w: missing subcommand", ErrUsage)
	}
	if _, ok := subs[args[0]]; !ok {
		return "", nil, fmt.Errorf("%w: unknown subcommand %q", ErrUsage, args[0])
	}
	return args[0], args[1:], nil
}

func runVersion(_ context.Context, env Env, args []string) error {
	fmt.Fprintln(env.Stdout, Version)
	return nil
}

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "migrate", "migrate [flags]")
	cfg, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(env.Stderr, "database %s is up to date\n", cfg.Redacted().DatabaseURL)
	return nil
}
