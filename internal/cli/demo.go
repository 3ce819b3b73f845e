package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/demo"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// demoDefaults are the settings `kassa demo` uses unless the environment
// or flags say otherwise.
var demoDefaults = map[string]string{
	"KASSA_DATA_DIR":   ".data/demo",
	"KASSA_NETWORK":    "regtest",
	"KASSA_RATES":      "fixed:BTC_USD=50000,BTC_EUR=45000,BTC_GBP=40000",
	"KASSA_CHAIN_POLL": "100ms",
	"KASSA_LOG_FORMAT": "text",
	// The demo's shop and its IPN endpoint run on this machine.
	"KASSA_IPN_ALLOW_PRIVATE": "true",
}

// demoOwner is the demo's dashboard account.
const demoOwner = "demo@kassa.example"

func runDemo(ctx context.Context, env Env, args []string) error {
	getenv := env.Getenv
	env.Getenv = func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return demoDefaults[k]
	}
	if len(args) > 0 && (args[0] == "pay" || args[0] == "mine") {
		return demoClient(ctx, env, args[0], args[1:])
	}
	fs, resolve := flagSet(env, "demo", "demo [flags]   |   kassa demo pay INVOICE [--btc AMOUNT]   |   kassa demo mine [BLOCKS]")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	if cfg.Network != "regtest" {
		return fmt.Errorf("%w: the demo runs on regtest only", ErrUsage)
	}
	if cfg.IsPostgres() {
		return fmt.Errorf("%w: the demo uses its own SQLite database; unset KASSA_DATABASE_URL", ErrUsage)
	}
	// A fresh demo each time: a new regtest chain and an empty database.
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		return fmt.Errorf("reset demo directory: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create demo directory: %w", err)
	}
	nodeDir, err := filepath.Abs(filepath.Join(cfg.DataDir, "btcd"))
	if err == nil {
		err = os.MkdirAll(nodeDir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("create node directory: %w", err)
	}
	fmt.Fprintln(env.Stderr, "starting a btcd regtest node and mining 101 blocks…")
	node, err := regtest.Start(ctx, regtest.Options{DataDir: nodeDir, Mature: true})
	if err != nil {
		return fmt.Errorf("start regtest node (run scripts/install-btcd.sh, or make demo): %w", err)
	}
	defer node.Stop()
	cfg.Chain = node.RPCURL()

	db, err := openDB(ctx, env, cfg)
	if err != nil {
		return err
	}
	key, err := demoMerchantKey()
	if err != nil {
		db.Close()
		return err
	}
	st := merchant.Store{ID: auth.NewID(), Name: "Demo Store", Network: cfg.Network, Key: key, Speed: invoice.SpeedMedium,
		Expiry: merchant.DefaultExpiry, GapLimit: merchant.DefaultGapLimit, DefaultCurrency: "USD",
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := checkStore(&st); err != nil {
		db.Close()
		return err
	}
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Label: "demo", Active: true, CreatedAt: time.Now().UTC()}
	if err := db.CreateStore(ctx, st); err != nil {
		db.Close()
		return err
	}
	if err := db.CreateToken(ctx, tok); err != nil {
		db.Close()
		return err
	}
	// A dashboard owner with a fresh password, so the newcomer can look
	// around /dashboard at once (a real install starts at /dashboard/setup).
	password := auth.NewTokenValue()[:16]
	hash, err := account.HashPassword(password)
	if err != nil {
		db.Close()
		return err
	}
	owner := account.User{ID: auth.NewID(), Email: demoOwner, PasswordHash: hash, Kind: account.KindAdmin, CreatedAt: time.Now().UTC()}
	if err := db.CreateUser(ctx, owner); err != nil {
		db.Close()
		return fmt.Errorf("create the demo owner: %w", err)
	}
	db.Close()

	fmt.Fprintf(env.Stderr, `
kassa demo is running on %s (regtest)

  demo store  %s  (receives to %s)
  pos token   %s

Try it from another terminal:
  export KASSA_DATA_DIR=%s KASSA_NETWORK=regtest KASSA_RATES=%s
  ID=$(./bin/kassa invoice create --store %s --price 10 --currency USD | sed -n 's/.*"id": "\(.*\)".*/\1/p')
  ./bin/kassa demo pay $ID          # the demo wallet pays it (0 confirmations)
  ./bin/kassa demo mine 6           # mine blocks: paid → confirmed → complete
  ./bin/kassa invoice get $ID       # see it move
  curl -s %s/healthz

Or open %[1]s/invoice?id=$ID in a browser: the checkout has Pay and Mine buttons.
The dashboard is at %[1]s/dashboard: sign in as %[9]s with password %[10]s.

Stop with Ctrl-C.
`, cfg.PublicURL, st.ID, st.Key, tok.Value, cfg.DataDir, cfg.Rates, st.ID, cfg.PublicURL, demoOwner, password)

	return serve(ctx, env, cfg, func(mux *http.ServeMux, _ *gateway.Gateway, db *store.DB) {
		demo.Register(mux, db, node)
	})
}

// demoClient asks the running demo to pay an invoice or mine blocks.
func demoClient(ctx context.Context, env Env, what string, args []string) error {
	fs, resolve := flagSet(env, "demo "+what, "demo pay INVOICE [--btc AMOUNT] | demo mine [BLOCKS]")
	btc := fs.String("btc", "", "amount to pay in BTC (pay; default: what is still due)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	form := url.Values{}
	switch what {
	case "pay":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: kassa demo pay INVOICE", ErrUsage)
		}
		form.Set("invoice", fs.Arg(0))
		form.Set("btc", *btc)
	case "mine":
		form.Set("blocks", "1")
		if fs.NArg() == 1 {
			form.Set("blocks", fs.Arg(0))
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+cfg.Listen+"/demo/"+what, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the demo running (make demo)? %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo %s: %s", what, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(env.Stdout, string(body))
	return nil
}

// demoMerchantKey returns the demo merchant's receiving descriptor: a BIP84
// account key derived from a fixed seed, so every demo uses the same wallet.
func demoMerchantKey() (string, error) {
	seed := sha256.Sum256([]byte("kassa demo merchant wallet"))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	for _, i := range []uint32{84, 1, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return "", fmt.Errorf("demo key: %w", err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	return "wpkh(" + pub.String() + "/0/*)", nil
}
