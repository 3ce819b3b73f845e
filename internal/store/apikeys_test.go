package store

import (
	"context"
	"errors"
	"regexp"
	"testing"
)

func TestAPIKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := newDB(t, b)
		shop, other := newStore(t, db, 20), newStore(t, db, 20)

		plain, err := db.CreateAPIKey(ctx, shop.ID, "woo")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{44}$`).MatchString(plain) {
			t.Fatalf("key %q: want 44 base58 characters", plain)
		}
		second, err := db.CreateAPIKey(ctx, shop.ID, "")
		if err != nil || second == plain {
			t.Fatalf("second key: %q %v", second, err)
		}
		otherKey, err := db.CreateAPIKey(ctx, other.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateAPIKey(ctx, "no-such-store", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key for an unknown store: %v, want ErrNotFound", err)
		}

		lookups := []struct {
			name, key, store string
		}{
			{"first key", plain, shop.ID},
			{"second key", second, shop.ID},
			{"other store's key", otherKey, other.ID},
			{"unknown key", plain[:43] + "!", ""},
			{"prefix only", plain[:APIKeyPrefixLen], ""},
			{"empty", "", ""},
		}
		for _, tc := range lookups {
			t.Run(tc.name, func(t *testing.T) {
				got, err := db.StoreForAPIKey(ctx, tc.key)
				if tc.store == "" {
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("StoreForAPIKey = %q, %v; want ErrNotFound", got, err)
					}
					return
				}
				if err != nil || got != tc.store {
					t.Fatalf("StoreForAPIKey = %q, %v; want %q", got, err, tc.store)
				}
			})
		}

		keys, err := db.ListAPIKeys(ctx, shop.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Fatalf("list: %d keys, want 2", len(keys))
		}
		var woo APIKey
		for _, k := range keys {
			if k.Label == "woo" {
				woo = k
			}
		}
		if woo.ID == "" || woo.StoreID != shop.ID || woo.Prefix != plain[:APIKeyPrefixLen] ||
			woo.CreatedAt.IsZero() || !woo.RevokedAt.IsZero() {
			t.Fatalf("listed key: %+v", woo)
		}
		// The key itself is stored nowhere, only its hash.
		var n int
		if err := db.sql.QueryRow(`SELECT COUNT(*) FROM api_keys WHERE key_hash = $1 OR prefix = $1 OR label = $1 OR id = $1`,
			plain).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the plain key is stored: %d %v", n, err)
		}

		revoked, err := db.RevokeAPIKey(ctx, woo.ID)
		if err != nil || revoked.RevokedAt.IsZero() || revoked.ID != woo.ID {
			t.Fatalf("revoke: %+v %v", revoked, err)
		}
		if _, err := db.StoreForAPIKey(ctx, plain); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a revoked key must not work: %v", err)
		}
		if got, err := db.StoreForAPIKey(ctx, second); err != nil || got != shop.ID {
			t.Fatalf("revoking one key must leave the other: %q %v", got, err)
		}
		again, err := db.RevokeAPIKey(ctx, woo.ID)
		if err != nil || !again.RevokedAt.Equal(revoked.RevokedAt) {
			t.Fatalf("revoking twice must keep the first time: %+v %v", again, err)
		}
		if _, err := db.RevokeAPIKey(ctx, "no-such-key"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v, want ErrNotFound", err)
		}
		keys, _ = db.ListAPIKeys(ctx, shop.ID)
		if len(keys) != 2 {
			t.Fatalf("a revoked key stays listed: %d keys", len(keys))
		}
		if keys, err := db.ListAPIKeys(ctx, "no-such-store"); err != nil || len(keys) != 0 {
			t.Fatalf("list of unknown store: %v %v", keys, err)
		}
	})
}
