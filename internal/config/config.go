// Package config reads kassa's settings from flags, KASSA_* environment
// variables and an optional config file, in that order of precedence, and
// validates them before anything starts.
package config

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
)

// Config is kassa's validated configuration.
type Config struct {
	DataDir     string        // KASSA_DATA_DIR: where the SQLite file and state live
	Listen      string        // KASSA_LISTEN: host:port the HTTP server binds
	PublicURL   string        // KASSA_PUBLIC_URL: the base URL buyers and clients see
	Network     string        // KASSA_NETWORK: mainnet, testnet, signet or regtest
	DatabaseURL string        // KASSA_DATABASE_URL: SQLite path or postgres://
	Chain       string        // KASSA_CHAIN: rpc://user:pass@host:port or esplora+https://host/api
	Rates       string        // KASSA_RATES: rate providers, or fixed:BTC_USD=…
	ChainPoll   time.Duration // KASSA_CHAIN_POLL: how often the chain backend is polled
	LogLevel    string        // KASSA_LOG_LEVEL: debug, info, warn, error
	LogFormat   string        // KASSA_LOG_FORMAT: text, json or auto
	// BitPayAliases accepts signatures made for https://bitpay.com and
	// https://test.bitpay.com, for clients that cannot change their host
	// (KASSA_BITPAY_ALIASES).
	BitPayAliases bool
	// IPNAllowPrivate lets IPNs go to loopback, private and link-local
	// addresses and over plain http (KASSA_IPN_ALLOW_PRIVATE): for
	// development and the demo, never for a public server.
	IPNAllowPrivate bool
	// Signup opens merchant self-registration in the dashboard
	// (KASSA_SIGNUP); applications wait for the operator's approval.
	Signup bool
	// IPNRetryWindow is how long an undelivered IPN or mail is retried
	// (KASSA_IPN_RETRY_WINDOW, default 72h).
	IPNRetryWindow time.Duration
	// RefundAddressWait is how long a buyer asked for a refund address
	// has to give one before the refund fails (KASSA_REFUND_ADDRESS_WAIT,
	// default 720h, 30 days).
	RefundAddressWait time.Duration
	// SMTPURL is the mail server for status mails (KASSA_SMTP_URL):
	// smtp://user:pass@host:587?from=kassa@example.com&tls=starttls|tls|none.
	// Empty means no mail is sent (it waits).
	SMTPURL string
	// NodeID names this node among several on one PostgreSQL database
	// (KASSA_NODE_ID, default hostname-pid): logs and /readyz show it.
	NodeID string
	// InvoiceLimits caps how fast a store without limits of its own
	// creates invoices (KASSA_INVOICE_LIMITS, default 100/h,60/m,10/s).
	InvoiceLimits merchant.Limits
	// DatabaseMaxConns caps this node's connection pool
	// (KASSA_DATABASE_MAX_CONNS, default 16).
	DatabaseMaxConns int
	// HotWalletPassphraseFile is a file holding the hot signer's
	// passphrase (KASSA_HOT_WALLET_PASSPHRASE_FILE); see
	// HotWalletPassphrase.
	HotWalletPassphraseFile string
	// Ops holds built-in TLS and the metrics endpoint's settings (ops.go).
	Ops

	// getenv reads KASSA_HOT_WALLET_PASSPHRASE when it is needed: the
	// passphrase itself is never a field, so no dump of the configuration
	// can show it.
	getenv func(string) string
}

// HotWalletPassphraseEnv is the variable holding the hot signer's
// passphrase. It is read from the environment only, never from a flag
// (flags land in shell history and process lists) or the config file.
const HotWalletPassphraseEnv = "KASSA_HOT_WALLET_PASSPHRASE"

// HotWalletPassphrase returns the passphrase that seals the stores' hot
// keys: KASSA_HOT_WALLET_PASSPHRASE, or the first line of
// KASSA_HOT_WALLET_PASSPHRASE_FILE, or nil when neither is set (the hot
// signer is off).
func (c Config) HotWalletPassphrase() ([]byte, error) {
	if c.getenv != nil {
		if v := c.getenv(HotWalletPassphraseEnv); v != "" {
			return []byte(v), nil
		}
	}
	if c.HotWalletPassphraseFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.HotWalletPassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("KASSA_HOT_WALLET_PASSPHRASE_FILE: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	clear(b)
	if line == "" {
		return nil, fmt.Errorf("KASSA_HOT_WALLET_PASSPHRASE_FILE: %s is empty", c.HotWalletPassphraseFile)
	}
	return []byte(line), nil
}

// SignatureOrigins returns the origins besides PublicURL that BitAuth
// signatures may be made for.
func (c Config) SignatureOrigins() []string {
	if c.BitPayAliases {
		return []string{"https://bitpay.com", "https://test.bitpay.com"}
	}
	return nil
}

// Setting describes one setting: its flag and variable names, default and
// help. The table drives flags, environment, the file and the README.
type Setting struct {
	Name    string // flag name; the variable is KASSA_ + upper snake case
	Default string
	Help    string
	field   func(*Config) *string
}

// Env returns the setting's environment variable name.
func (s Setting) Env() string {
	return "KASSA_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Settings lists every setting.
var Settings = []Setting{
	{"data-dir", defaultDataDir(), "directory for the SQLite database and state", func(c *Config) *string { return &c.DataDir }},
	{"listen", "127.0.0.1:8430", "address the HTTP server listens on", func(c *Config) *string { return &c.Listen }},
	{"public-url", "", "base URL clients and buyers reach kassa at (default http://LISTEN)", func(c *Config) *string { return &c.PublicURL }},
	{"network", "mainnet", "bitcoin network: mainnet, testnet, signet or regtest", func(c *Config) *string { return &c.Network }},
	{"database-url", "", "database: a SQLite file path (default DATA_DIR/kassa.db) or postgres://user@host/db", func(c *Config) *string { return &c.DatabaseURL }},
	{"chain", "", "chain backend: rpc://user:pass@host:port (Bitcoin Core or btcd) or esplora+https://host/api", func(c *Config) *string { return &c.Chain }},
	{"rates", "kraken;coinbase;bitstamp", "rate providers separated by ';', or fixed:BTC_USD=50000,BTC_EUR=45000", func(c *Config) *string { return &c.Rates }},
	{"chain-poll", "1s", "how often the chain backend is polled", nil},
	{"log-level", "info", "log level: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }},
	{"log-format", "auto", "log format: text, json, or auto (text on a terminal)", func(c *Config) *string { return &c.LogFormat }},
	{"bitpay-aliases", "false", "also accept request signatures made for https://bitpay.com and https://test.bitpay.com", nil},
	{"signup", "false", "let merchants register their own account and store in the dashboard (applications the operator approves)", nil},
	{"ipn-allow-private", "false", "let IPNs reach loopback, private and link-local addresses over http (development only)", nil},
	{"ipn-retry-window", "72h", "how long an undelivered IPN or status mail is retried", nil},
	{"refund-address-wait", "720h", "how long a buyer mailed for a refund address has to give one before the refund fails", nil},
	{"smtp-url", "", "mail server for status mails: smtp://user:pass@host:587?from=kassa@example.com&tls=starttls|tls|none", func(c *Config) *string { return &c.SMTPURL }},
	{"node-id", "", "this node's name among several on one PostgreSQL database (default hostname-pid)", func(c *Config) *string { return &c.NodeID }},
	{"invoice-limits", "100/h,60/m,10/s", "invoice-creation limits of a store without its own: COUNT/PERIOD pairs (s, m, h) or off", nil},
	{"hot-wallet-passphrase-file", "", "file whose first line is the passphrase sealing the stores' hot signer keys (or set KASSA_HOT_WALLET_PASSPHRASE in the environment)", func(c *Config) *string { return &c.HotWalletPassphraseFile }},
	{"database-max-conns", "16", "most connections this node opens to the database; on PostgreSQL keep nodes x (this + 2) under max_connections", nil},
	{"config", "", "optional config file of KEY=value lines (keys as flags or KASSA_ variables)", nil},
}

func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".kassa")
	}
	return ".kassa"
}

// Flags registers every setting on fs and returns a function that resolves
// the configuration after fs.Parse, reading env through getenv.
func Flags(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	vals := map[string]*string{}
	for _, s := range Settings {
		vals[s.Name] = fs.String(s.Name, "", s.Help+" (env "+s.Env()+", default "+quoteDefault(s.Default)+")")
	}
	return func() (*Config, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		resolved := map[string]string{}
		// Defaults, then the file, then the environment, then flags.
		for _, s := range Settings {
			resolved[s.Name] = s.Default
		}
		file := *vals["config"]
		if !set["config"] {
			file = getenv("KASSA_CONFIG")
		}
		if file != "" {
			fromFile, err := readFile(file)
			if err != nil {
				return nil, err
			}
			for k, v := range fromFile {
				resolved[k] = v
			}
		}
		for _, s := range Settings {
			if v, ok := lookupEnv(getenv, s.Env()); ok {
				resolved[s.Name] = v
			}
			if set[s.Name] {
				resolved[s.Name] = *vals[s.Name]
			}
		}
		c, err := build(resolved)
		if err != nil {
			return nil, err
		}
		if c.HotWalletPassphraseFile != "" && getenv(HotWalletPassphraseEnv) != "" {
			return nil, fmt.Errorf("invalid configuration:\n  %s and KASSA_HOT_WALLET_PASSPHRASE_FILE are both set: "+
				"give the passphrase one way", HotWalletPassphraseEnv)
		}
		c.getenv = getenv
		return c, nil
	}
}

func quoteDefault(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// readFile reads KEY=value lines; keys are flag names or KASSA_ variables;
// '#' starts a comment.
func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	known := map[string]string{}
	for _, s := range Settings {
		known[s.Name] = s.Name
		known[s.Env()] = s.Name
	}
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s line %d: want KEY=value", path, n)
		}
		k = strings.TrimSpace(k)
		name, ok := known[k]
		if !ok || name == "config" {
			return nil, fmt.Errorf("config file %s line %d: unknown setting %q", path, n, k)
		}
		out[name] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

// Networks lists the networks kassa runs on.
var Networks = []string{"mainnet", "testnet", "signet", "regtest"}

func build(v map[string]string) (*Config, error) {
	c := &Config{}
	for _, s := range Settings {
		if s.field != nil {
			*s.field(c) = strings.TrimSpace(v[s.Name])
		}
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", "KASSA_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")), fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("public-url", "%q is not an http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if !slices.Contains(Networks, c.Network) {
		bad("network", "%q is not one of %s", c.Network, strings.Join(Networks, ", "))
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "kassa.db")
	}
	if c.Chain != "" {
		if u, err := url.Parse(c.Chain); err != nil || !slices.Contains([]string{"rpc", "http", "https", "esplora+https", "esplora+http"}, u.Scheme) {
			bad("chain", "%q is not rpc://user:pass@host:port or esplora+https://host/api", redact(c.Chain))
		}
	}
	d, err := time.ParseDuration(strings.TrimSpace(v["chain-poll"]))
	if err != nil || d < 10*time.Millisecond || d > time.Hour {
		bad("chain-poll", "%q is not a duration between 10ms and 1h", v["chain-poll"])
	}
	c.ChainPoll = d
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if !slices.Contains([]string{"text", "json", "auto"}, c.LogFormat) {
		bad("log-format", "%q is not text, json or auto", c.LogFormat)
	}
	switch strings.ToLower(strings.TrimSpace(v["bitpay-aliases"])) {
	case "true", "1", "yes", "on":
		c.BitPayAliases = true
	case "false", "0", "no", "off", "":
	default:
		bad("bitpay-aliases", "%q is not true or false", v["bitpay-aliases"])
	}
	switch strings.ToLower(strings.TrimSpace(v["signup"])) {
	case "true", "1", "yes", "on":
		c.Signup = true
	case "false", "0", "no", "off", "":
	default:
		bad("signup", "%q is not true or false", v["signup"])
	}
	switch strings.ToLower(strings.TrimSpace(v["ipn-allow-private"])) {
	case "true", "1", "yes", "on":
		c.IPNAllowPrivate = true
	case "false", "0", "no", "off", "":
	default:
		bad("ipn-allow-private", "%q is not true or false", v["ipn-allow-private"])
	}
	if w, err := time.ParseDuration(strings.TrimSpace(v["ipn-retry-window"])); err != nil || w < time.Minute || w > 30*24*time.Hour {
		bad("ipn-retry-window", "%q is not a duration between 1m and 720h", v["ipn-retry-window"])
	} else {
		c.IPNRetryWindow = w
	}
	if w, err := time.ParseDuration(strings.TrimSpace(v["refund-address-wait"])); err != nil || w < time.Minute || w > 365*24*time.Hour {
		bad("refund-address-wait", "%q is not a duration between 1m and 8760h", v["refund-address-wait"])
	} else {
		c.RefundAddressWait = w
	}
	if c.SMTPURL != "" {
		if err := checkSMTPURL(c.SMTPURL); err != nil {
			bad("smtp-url", "%q: %v", redact(c.SMTPURL), err)
		}
	}
	if l, err := merchant.ParseLimits(v["invoice-limits"]); err != nil {
		bad("invoice-limits", "%v", err)
	} else {
		c.InvoiceLimits = l
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v["database-max-conns"])); err != nil || n < 2 || n > 1000 {
		bad("database-max-conns", "%q is not a number between 2 and 1000", v["database-max-conns"])
	} else {
		c.DatabaseMaxConns = n
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = fmt.Sprintf("%s-%d", cmp.Or(host, "kassa"), os.Getpid())
	}
	errs = append(errs, checkOps(c)...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
	}
	return c, nil
}

// redact hides a URL's password for messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redacted returns a copy safe to log: passwords in URLs are masked.
func (c Config) Redacted() Config {
	c.Chain = redact(c.Chain)
	c.DatabaseURL = redact(c.DatabaseURL)
	c.SMTPURL = redact(c.SMTPURL)
	return c
}

// checkSMTPURL validates KASSA_SMTP_URL: smtp:// or smtps:// with a host,
// a from address, and tls one of starttls, tls or none when given.
func checkSMTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return errors.New("want smtp://user:pass@host:port?from=address")
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	q := u.Query()
	from := q.Get("from")
	if from == "" {
		return errors.New("no from= address")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("from=%q is not an email address", from)
	}
	switch q.Get("tls") {
	case "", "starttls", "tls", "none":
	default:
		return fmt.Errorf("tls=%q is not starttls, tls or none", q.Get("tls"))
	}
	return nil
}

// IsPostgres reports whether the database is PostgreSQL.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}
