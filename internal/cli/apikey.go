package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/store"
)

// runAPIKey manages the legacy API keys of BitPay's 2012 API (v0.3), which
// old plugins send as the HTTP Basic user name to /api/invoice.
func runAPIKey(ctx context.Context, env Env, args []string) error {
	sub, args, err := subcommand(env, args, "apikey", map[string]string{
		"create": "create a legacy API key (HTTP Basic, /api/invoice) and print it",
		"list":   "list a store's API keys as JSON (never the keys themselves)",
		"revoke": "revoke an API key by its id (kassa apikey revoke ID)",
	})
	if err != nil {
		return err
	}
	synopsis := "apikey " + sub + " --store ID [flags]"
	if sub == "revoke" {
		synopsis = "apikey revoke [flags] ID"
	}
	fs, resolve := flagSet(env, "apikey "+sub, synopsis)
	storeID := fs.String("store", "", "store id (create, list)")
	label := fs.String("label", "", "label shown in key lists (create)")
	_, db, err := parseAndOpen(ctx, env, fs, resolve, args)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "revoke" {
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: kassa apikey revoke ID", ErrUsage)
		}
		k, err := db.RevokeAPIKey(ctx, fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no API key with id %q", fs.Arg(0))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "revoked API key %s (%s…) of store %s\n", k.ID, k.Prefix, k.StoreID)
		return nil
	}
	if _, err := requireStore(ctx, db, *storeID); err != nil {
		return err
	}
	if sub == "list" {
		keys, err := db.ListAPIKeys(ctx, *storeID)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(keys))
		for _, k := range keys {
			m := map[string]any{"id": k.ID, "prefix": k.Prefix, "label": k.Label, "created": k.CreatedAt,
				"revoked": !k.RevokedAt.IsZero()}
			if !k.RevokedAt.IsZero() {
				m["revokedAt"] = k.RevokedAt
			}
			out = append(out, m)
		}
		return printJSON(env, out)
	}
	key, err := db.CreateAPIKey(ctx, *storeID, *label)
	if err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	fmt.Fprintln(env.Stdout, key)
	fmt.Fprintf(env.Stderr, "created API key for store %s: clients send it as the HTTP Basic user name; "+
		"it is shown only now, keep it secret\n", *storeID)
	return nil
}
