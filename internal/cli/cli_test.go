package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// run runs the kassa command line in-process with env vars and returns
// stdout, stderr and the exit code.
func run(t *testing.T, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }})
	return out.String(), errb.String(), code
}

func TestScriptableCommands(t *testing.T) {
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest", "KASSA_RATES": "fixed:BTC_USD=50000"}
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key, "--speed", "high")
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)
	if !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{22}$`).MatchString(storeID) {
		t.Fatalf("stdout must carry only the store id, have %q", out)
	}

	out, _, code = run(t, vars, "token", "create", "--store", storeID, "--facade", "pos", "--label", "crm")
	if code != 0 || !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{44}\n$`).MatchString(out) {
		t.Fatalf("token create: %d %q", code, out)
	}
	out, _, code = run(t, vars, "pairing", "create", "--store", storeID, "--facade", "merchant")
	if code != 0 || !regexp.MustCompile(`^[A-Za-z0-9]{7}\n$`).MatchString(out) {
		t.Fatalf("pairing create: %d %q", code, out)
	}
	// A merchant-created code is claimed by the client, not approved.
	if _, errs, code := run(t, vars, "pairing", "approve", strings.TrimSpace(out)); code == 0 || !strings.Contains(errs, "claims it") {
		t.Fatalf("approving a merchant-created code must fail: %d %s", code, errs)
	}

	out, errs, code = run(t, vars, "invoice", "create", "--store", storeID, "--price", "10", "--currency", "USD", "--order-id", "A-1")
	if code != 0 {
		t.Fatalf("invoice create: %d %s", code, errs)
	}
	var inv map[string]any
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("invoice create must print JSON only: %v\n%s", err, out)
	}
	id, _ := inv["id"].(string)
	codes := inv["paymentCodes"].(map[string]any)["BTC"].(map[string]any)
	if bip21, _ := codes["BIP21"].(string); !strings.HasPrefix(bip21, "bitcoin:bcrt1") || !strings.HasSuffix(bip21, "?amount=0.0002") {
		t.Fatalf("BIP21 with amount: %q", bip21)
	}
	if inv["status"] != "new" || inv["exceptionStatus"] != false || inv["orderId"] != "A-1" || inv["url"] != "http://127.0.0.1:8430/invoice?id="+id {
		t.Fatalf("invoice JSON: %s", out)
	}
	out, _, code = run(t, vars, "invoice", "get", id)
	if code != 0 || !strings.Contains(out, `"id": "`+id+`"`) {
		t.Fatalf("invoice get: %d %s", code, out)
	}
	// The gap-limit governor's unpaid run is visible: one unpaid address.
	out, _, code = run(t, vars, "store", "list")
	if code != 0 || !strings.Contains(out, `"unpaidRun": 1`) {
		t.Fatalf("store list must show the unpaid run: %d %s", code, out)
	}
}

func TestPairingApprove(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest"}
	key, _ := demoMerchantKey()
	out, _, _ := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	storeID := strings.TrimSpace(out)
	db, err := store.Open(context.Background(), filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	requested := auth.Token{Value: auth.NewTokenValue(), StoreID: storeID, Facade: auth.FacadeMerchant, SIN: "TfG4ScDgysrSpodWD4Re5UtXmcLbY5CiUHA",
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	expired := requested
	expired.Value, expired.PairingCode, expired.PairingExpiresAt = auth.NewTokenValue(), auth.NewPairingCode(), now.Add(-time.Minute)
	for _, tok := range []auth.Token{requested, expired} {
		if err := db.CreateToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// Parked: requested on a server with several stores, naming none.
	parked := requested
	parked.StoreID, parked.Value, parked.PairingCode = "", auth.NewTokenValue(), auth.NewPairingCode()
	if err := db.ParkToken(context.Background(), parked); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, errs, code := run(t, vars, "pairing", "approve", parked.PairingCode); code == 0 || !strings.Contains(errs, "--store") {
		t.Fatalf("approving a parked request without --store must ask for it: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", "--store", "nope", parked.PairingCode); code == 0 || !strings.Contains(errs, "no store") {
		t.Fatalf("approving a parked request for an unknown store must fail: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", "--store", storeID, parked.PairingCode); code != 0 {
		t.Fatalf("approve a parked request: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", "--store", storeID, parked.PairingCode); code == 0 || !strings.Contains(errs, "already") {
		t.Fatalf("approving a parked request twice must fail: %s", errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", requested.PairingCode); code != 0 {
		t.Fatalf("approve: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", requested.PairingCode); code == 0 || !strings.Contains(errs, "already") {
		t.Fatalf("approving twice must fail: %s", errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", expired.PairingCode); code == 0 || !strings.Contains(errs, "expired") {
		t.Fatalf("an expired code must fail: %s", errs)
	}
	if _, errs, code := run(t, vars, "pairing", "approve", "NOPE123"); code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("an unknown code must fail: %s", errs)
	}
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest"}
	mainnetZpub := "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong network key", []string{"store", "create", "--name", "S", "--xpub", mainnetZpub}, "mainnet"},
		{"malformed descriptor", []string{"store", "create", "--name", "S", "--xpub", "wpkh(nonsense)"}, "receiving key"},
		{"missing name", []string{"store", "create", "--xpub", mainnetZpub}, "--name"},
		{"unknown store", []string{"invoice", "create", "--store", "nope", "--price", "1"}, "no store"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"bad network", []string{"migrate", "--network", "moonnet"}, "KASSA_NETWORK"},
		{"bad listen", []string{"migrate", "--listen", "nowhere"}, "KASSA_LISTEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, vars, tc.args...)
			if code == 0 || out != "" || !strings.Contains(errs, tc.want) {
				t.Fatalf("want a failure naming %q on stderr only; code %d stdout %q stderr %q", tc.want, code, out, errs)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kassa.conf")
	if err := writeFile(file, "# comment\nlisten = 127.0.0.1:1111\nKASSA_NETWORK=signet\nlog-level=debug\n"); err != nil {
		t.Fatal(err)
	}
	fs, resolve := flagSet(Env{Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
		return map[string]string{"KASSA_CONFIG": file, "KASSA_NETWORK": "testnet", "KASSA_LISTEN": "127.0.0.1:2222"}[k]
	}}, "x", "x")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:3333"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:3333" || cfg.Network != "testnet" || cfg.LogLevel != "debug" {
		t.Fatalf("flags > env > file: %+v", cfg)
	}
}

// A store's invoice limits are set by store create and store update,
// shown by store list, and refused with a message naming the flag when
// they cannot be read; a refused update changes nothing.
func TestStoreInvoiceLimits(t *testing.T) {
	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest", "KASSA_INVOICE_LIMITS": "500/h"}
	key, _ := demoMerchantKey()
	if _, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key, "--invoice-limits", "5/fortnight"); code == 0 ||
		!strings.Contains(errs, `--invoice-limits: invoice limits: "5/fortnight": the period must be s, m or h`) {
		t.Fatalf("bad limits at create: %d %s", code, errs)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key, "--invoice-limits", "1000/h,20/s")
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	limited := strings.TrimSpace(out)
	out, _, _ = run(t, vars, "store", "create", "--name", "Other", "--xpub", key)
	other := strings.TrimSpace(out)
	list := func() map[string]string {
		out, errs, code := run(t, vars, "store", "list")
		if code != 0 {
			t.Fatalf("store list: %d %s", code, errs)
		}
		var stores []struct{ ID, InvoiceLimits string }
		if err := json.Unmarshal([]byte(out), &stores); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, s := range stores {
			m[s.ID] = s.InvoiceLimits
		}
		return m
	}
	if m := list(); m[limited] != "1000/h,20/s" || m[other] != "default (500/h)" {
		t.Fatalf("store list: %v", m)
	}
	if _, errs, code := run(t, vars, "store", "update", "--store", other, "--invoice-limits", "off"); code != 0 {
		t.Fatalf("update: %d %s", code, errs)
	}
	for _, bad := range [][]string{
		{"--invoice-limits", "0/s"},
		{"--invoice-limits", "10/s,5/second"},
		{"--name", ""},
		{"--gap-limit", "0"},
		{"--expiry", "30s"},
		{"--speed", "ludicrous"},
		{"--currency", "XYZ"},
	} {
		args := append([]string{"store", "update", "--store", limited}, bad...)
		if _, errs, code := run(t, vars, args...); code == 0 || !strings.Contains(errs, bad[0]) {
			t.Errorf("store update %v: %d %s; want an error naming %s", bad, code, errs, bad[0])
		}
	}
	if _, errs, code := run(t, vars, "store", "update", "--invoice-limits", "off"); code == 0 || !strings.Contains(errs, "--store is required") {
		t.Errorf("update without --store: %d %s", code, errs)
	}
	if m := list(); m[limited] != "1000/h,20/s" || m[other] != "off" {
		t.Fatalf("after updates: %v", m)
	}
}

// TestUpgradeBacksUpFirst: a kassa whose migrations are newer than a
// SQLite database's schema backs the database up beside itself before it
// migrates it, says how to go back, and leaves an existing backup alone;
// the backup holds the database as it was.
func TestUpgradeBacksUpFirst(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest"}
	path := filepath.Join(dir, "kassa.db")
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	key, _ := demoMerchantKey()
	st := merchant.Store{ID: "OldStore", Name: "Old", Network: "regtest", Key: key, Speed: invoice.SpeedMedium,
		Expiry: merchant.DefaultExpiry, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, errs, code := run(t, vars, "migrate")
	backup := path + ".schema-10.bak"
	if code != 0 || !strings.Contains(errs, backup) || !strings.Contains(errs, "kassa restore --from "+backup) {
		t.Fatalf("migrate from schema 10: %d\n%s", code, errs)
	}
	latest, _ := store.LatestSchemaVersion()
	for _, c := range []struct {
		path string
		want int
	}{{path, latest}, {backup, 10}} {
		db, err := store.Open(ctx, c.path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.SchemaVersion(ctx)
		db.Close()
		// The store's row, read as plain SQL: the backup's schema is
		// older than what GetStore reads.
		var n int
		raw, serr := sql.Open("sqlite", c.path)
		if serr == nil {
			serr = raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM stores WHERE id = 'OldStore'`).Scan(&n)
			raw.Close()
		}
		if err != nil || v != c.want || serr != nil || n != 1 {
			t.Errorf("%s: schema %d (%v), want %d; store rows %d (%v)", c.path, v, err, c.want, n, serr)
		}
	}
	// Up to date: no backup, no word of one.
	if _, errs, code := run(t, vars, "migrate"); code != 0 || strings.Contains(errs, ".bak") {
		t.Fatalf("migrate again: %d\n%s", code, errs)
	}
}
