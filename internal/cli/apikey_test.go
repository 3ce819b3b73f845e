package cli

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/store"
)

func TestAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest"}
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)

	out, errs, code = run(t, vars, "apikey", "create", "--store", storeID, "--label", "woo")
	if code != 0 || !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{44}\n$`).MatchString(out) {
		t.Fatalf("apikey create must print only the key: %d %q %s", code, out, errs)
	}
	apiKey := strings.TrimSpace(out)

	out, _, code = run(t, vars, "apikey", "list", "--store", storeID)
	var keys []map[string]any
	if err := json.Unmarshal([]byte(out), &keys); code != 0 || err != nil || len(keys) != 1 {
		t.Fatalf("apikey list: %d %v %s", code, err, out)
	}
	if strings.Contains(out, apiKey) || keys[0]["label"] != "woo" || keys[0]["revoked"] != false ||
		keys[0]["prefix"] != apiKey[:store.APIKeyPrefixLen] {
		t.Fatalf("apikey list must describe the key without it: %s", out)
	}
	id, _ := keys[0]["id"].(string)

	// The key works until it is revoked.
	db, err := store.Open(context.Background(), filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.StoreForAPIKey(context.Background(), apiKey); err != nil || got != storeID {
		t.Fatalf("created key: %q %v", got, err)
	}
	if out, errs, code = run(t, vars, "apikey", "revoke", id); code != 0 || out != "" {
		t.Fatalf("apikey revoke: %d %q %s", code, out, errs)
	}
	if _, err := db.StoreForAPIKey(context.Background(), apiKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked key must not work: %v", err)
	}
	out, _, _ = run(t, vars, "apikey", "list", "--store", storeID)
	if !strings.Contains(out, `"revoked": true`) {
		t.Fatalf("list must show the revocation: %s", out)
	}

	usage := []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", []string{"apikey"}, 2},
		{"unknown subcommand", []string{"apikey", "rotate"}, 2},
		{"create without store", []string{"apikey", "create"}, 2},
		{"create for unknown store", []string{"apikey", "create", "--store", "nope"}, 1},
		{"revoke without id", []string{"apikey", "revoke"}, 2},
		{"revoke unknown id", []string{"apikey", "revoke", "nope"}, 1},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			if out, errs, code := run(t, vars, tc.args...); code != tc.code || out != "" {
				t.Fatalf("exit %d stdout %q (%s), want exit %d and no stdout", code, out, errs, tc.code)
			}
		})
	}
}
