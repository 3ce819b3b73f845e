package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/hotwallet"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// runHotSigner turns a store's hot signer on, reading the private key
// from stdin (never a flag: flags land in shell history), or off.
func runHotSigner(ctx context.Context, env Env, cfg *config.Config, db *store.DB, storeID string, limit money.Sats, remove bool) error {
	st, err := requireStore(ctx, db, storeID)
	if err != nil {
		return err
	}
	if remove {
		if err := db.DeleteHotKey(ctx, st.ID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("store %s has no hot signer", st.ID)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "hot signer off for store %q: its sealed key is deleted; spends wait for the merchant's signature\n", st.Name)
		return nil
	}
	if limit <= 0 {
		return fmt.Errorf("%w: --limit SATS is required: the most the hot signer may sign per 24 hours; keep it low", ErrUsage)
	}
	pass, err := cfg.HotWalletPassphrase()
	if err != nil {
		return err
	}
	if pass == nil {
		return fmt.Errorf("%w: set %s or KASSA_HOT_WALLET_PASSPHRASE_FILE: the passphrase that seals the key "+
			"(kassa serve needs the same one)", ErrUsage, config.HotWalletPassphraseEnv)
	}
	if err := hotwallet.CheckPassphrase(pass); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the private key from stdin: %w", err)
	}
	secret := []byte(strings.TrimSpace(line))
	defer clear(secret)
	if len(secret) == 0 {
		return fmt.Errorf("%w: pipe the store's private key (xprv/tprv or a descriptor with it) into "+
			"kassa store hot-signer --store %s --limit SATS", ErrUsage, st.ID)
	}
	sealed, err := hotwallet.New(db, pass).Seal(st, secret, hotwallet.DefaultParams)
	if err != nil {
		return fmt.Errorf("hot signer for store %s: %w", st.ID, err)
	}
	if err := db.PutHotKey(ctx, store.HotKey{StoreID: st.ID, Sealed: sealed, DailyLimit: limit,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "hot signer on for store %q: immediate refunds up to %d sats per 24 hours are signed and sent "+
		"at once; the key is sealed under the passphrase, which kassa serve must be given too\n", st.Name, limit)
	return nil
}

// hotSignerJSON is what kassa store list says of a store's hot signer:
// its limit and since when, never its key; nil when it has none.
func hotSignerJSON(ctx context.Context, db *store.DB, storeID string) (map[string]any, error) {
	k, err := db.GetHotKey(ctx, storeID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"dailyLimit": k.DailyLimit, "since": k.CreatedAt}, nil
}

// hotSigner is kassa serve's hot signer: with a passphrase configured, it
// opens every store's hot key once at start, so that a wrong passphrase is
// an error now rather than at the first refund. Without one, stores that
// have a hot key are named in a warning and their spends wait.
func hotSigner(ctx context.Context, cfg *config.Config, log *slog.Logger, db *store.DB) (spender.HotSigner, error) {
	pass, err := cfg.HotWalletPassphrase()
	if err != nil {
		return nil, fmt.Errorf("hot signer: %w", err)
	}
	if pass == nil {
		keys, err := db.HotKeys(ctx)
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			log.Warn("stores have a hot signer key but no passphrase is set: their spends wait for the merchant's signature",
				"stores", len(keys), "set", config.HotWalletPassphraseEnv+" or KASSA_HOT_WALLET_PASSPHRASE_FILE")
		}
		return nil, nil
	}
	signer := hotwallet.New(db, pass)
	n, err := signer.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("hot signer: %w", err)
	}
	log.Info("hot signer on", "stores", n)
	return signer, nil
}
