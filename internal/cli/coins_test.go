package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

func TestCoinsCommand(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "kassa.db")
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_DATABASE_URL": dbURL, "KASSA_NETWORK": "regtest",
		"KASSA_RATES": "fixed:BTC_USD=50000"}
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)
	if out, errs, code := run(t, vars, "coins", "--store", storeID); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("coins of a new store: %d %q %s", code, out, errs)
	}
	if _, errs, code := run(t, vars, "coins"); code == 0 || !strings.Contains(errs, "--store") {
		t.Fatalf("coins without --store: %d %s", code, errs)
	}

	// The watcher stores a payment coin (confirmed at 100, tip 102) and a
	// change coin it spent.
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	addr := "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	script, err := wallet.ScriptForAddress(addr, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	pay := store.Coin{Coin: wallet.Coin{TxID: strings.Repeat("ab", 32), Vout: 1, Amount: 20_000, Script: script, Index: 4, Height: 100},
		StoreID: storeID, InvoiceID: "inv1", SeenAt: time.Now()}
	change := store.Coin{Coin: wallet.Coin{TxID: strings.Repeat("cd", 32), Amount: 5_000, Script: script, Branch: 1, Index: 2},
		StoreID: storeID, SeenAt: time.Now().Add(time.Second)}
	err = db.Commit(ctx, nil, &store.ChainUpdate{Rewind: store.NoRewind, Blocks: []store.ChainBlock{{Height: 102, Hash: "h102"}},
		Coins: store.CoinChanges{Seen: []store.Coin{pay, change},
			Spends: []store.CoinSpend{{TxID: change.TxID, Vout: 0, SpentBy: strings.Repeat("ef", 32)}}}})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var coins []map[string]any
	decode := func(args ...string) {
		t.Helper()
		out, errs, code := run(t, vars, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		coins = nil
		if err := json.Unmarshal([]byte(out), &coins); err != nil {
			t.Fatalf("%v must print a JSON array: %v\n%s", args, err, out)
		}
	}
	decode("coins", "--store", storeID)
	want := map[string]any{"txid": pay.TxID, "vout": 1.0, "amount": 20000.0, "address": addr, "branch": 0.0, "index": 4.0,
		"height": 100.0, "confirmations": 3.0, "invoiceId": "inv1", "spentBy": "", "spentHeight": 0.0}
	if len(coins) != 1 || !equalJSON(coins[0], want) {
		t.Fatalf("unspent coins = %v, want [%v]", coins, want)
	}
	decode("coins", "--store", storeID, "--all")
	if len(coins) != 2 || coins[1]["spentBy"] != strings.Repeat("ef", 32) || coins[1]["branch"] != 1.0 || coins[1]["confirmations"] != 0.0 {
		t.Fatalf("all coins = %v", coins)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestStoreKeyOrigin: a store's key gets its origin at creation or later,
// even once the store has invoices (not one address changes); an origin
// that does not fit the key is refused.
func TestStoreKeyOrigin(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_RATES": "fixed:BTC_USD=50000"}
	key, origin := kassatest.Key(t, "origin"), kassatest.Origin(t, "origin")
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 || !strings.Contains(errs, "--key-origin") {
		t.Fatalf("store create without an origin must say how to give it: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)
	if out, errs, code := run(t, vars, "invoice", "create", "--store", storeID, "--price", "5"); code != 0 {
		t.Fatalf("invoice create: %d %s %s", code, out, errs)
	}
	if _, errs, code := run(t, vars, "store", "update", "--store", storeID, "--key-origin", "[d34db33f/84h/1h]"); code == 0 ||
		!strings.Contains(errs, "origin") {
		t.Fatalf("an origin of the wrong depth: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "store", "update", "--store", storeID, "--key-origin", origin); code != 0 {
		t.Fatalf("store update --key-origin on a store with invoices: %d %s", code, errs)
	}
	out, _, _ = run(t, vars, "store", "list")
	if !strings.Contains(out, "wpkh("+origin) {
		t.Fatalf("the key's origin is not stored (%s): %s", origin, out)
	}
	out, errs, code = run(t, vars, "store", "create", "--name", "Two", "--xpub", key, "--key-origin", origin)
	if code != 0 || strings.Contains(errs, "no origin") {
		t.Fatalf("store create --key-origin: %d %s %s", code, out, errs)
	}
}
