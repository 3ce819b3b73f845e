package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/hotwallet"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestHotSignerCommand turns a store's hot signer on with the key on
// stdin, lists it without the key, refuses what is wrong, and turns it off.
func TestHotSignerCommand(t *testing.T) {
	dir := t.TempDir()
	const pass = "the cli test hot wallet passphrase"
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest"}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", kassatest.Key(t, "cli hot"))
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)
	secret := kassatest.AccountPriv(t, "cli hot")

	// Refused: no passphrase, no limit, another wallet's key, no key.
	withPass := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_HOT_WALLET_PASSPHRASE": pass}
	for _, tc := range []struct {
		vars  map[string]string
		stdin string
		args  []string
		want  string
	}{
		{vars, secret + "\n", []string{"--limit", "50000"}, "KASSA_HOT_WALLET_PASSPHRASE"},
		{withPass, secret + "\n", nil, "--limit SATS is required"},
		{withPass, kassatest.AccountPriv(t, "someone else") + "\n", []string{"--limit", "50000"}, "not the store's key"},
		{withPass, "", []string{"--limit", "50000"}, "pipe the store's private key"},
	} {
		withStdin(t, tc.stdin, func() {
			_, errs, code = run(t, tc.vars, append([]string{"store", "hot-signer", "--store", storeID}, tc.args...)...)
		})
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Fatalf("%v: %d %q, want %q", tc.args, code, errs, tc.want)
		}
		if strings.Contains(errs, secret[4:30]) {
			t.Fatalf("the error shows the key: %s", errs)
		}
	}

	withStdin(t, secret+"\n", func() {
		out, errs, code = run(t, withPass, "store", "hot-signer", "--store", storeID, "--limit", "50000")
	})
	if code != 0 || strings.Contains(out+errs, secret[4:30]) || strings.Contains(out+errs, pass) {
		t.Fatalf("hot-signer: %d %q %q", code, out, errs)
	}
	out, errs, code = run(t, vars, "store", "list")
	var stores []struct {
		HotSigner *struct {
			DailyLimit int64 `json:"dailyLimit"`
		} `json:"hotSigner"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &stores) != nil || len(stores) != 1 || stores[0].HotSigner == nil ||
		stores[0].HotSigner.DailyLimit != 50000 || strings.Contains(out, "prv") {
		t.Fatalf("store list: %d %s %s", code, out, errs)
	}
	// What the database holds is sealed.
	db, err := store.Open(context.Background(), filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := db.GetHotKey(context.Background(), storeID)
	db.Close()
	if err != nil || bytes.Contains(k.Sealed, []byte(secret[4:30])) {
		t.Fatalf("stored hot key: %v", err)
	}

	// kassa serve opens the keys at start: a wrong passphrase stops it.
	for _, p := range []string{pass, "a wrong hot wallet passphrase"} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		env := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_HOT_WALLET_PASSPHRASE": p}
		cfg, err := config.Flags(fs, func(k string) string { return env[k] })()
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(context.Background(), cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		hot, err := hotSigner(context.Background(), cfg, slog.New(slog.DiscardHandler), db)
		db.Close()
		if p == pass && (err != nil || hot == nil) {
			t.Fatalf("the right passphrase: %v", err)
		}
		if p != pass && (!errors.Is(err, hotwallet.ErrWrongPassphrase) || !strings.Contains(err.Error(), storeID)) {
			t.Fatalf("a wrong passphrase: %v", err)
		}
	}

	if _, errs, code = run(t, vars, "store", "hot-signer", "--store", storeID, "--remove"); code != 0 {
		t.Fatalf("remove: %d %s", code, errs)
	}
	if _, errs, code = run(t, vars, "store", "hot-signer", "--store", storeID, "--remove"); code == 0 || !strings.Contains(errs, "has no hot signer") {
		t.Fatalf("remove twice: %d %s", code, errs)
	}
}
