package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
)

// APIKey is a legacy API key of a store (BitPay's 2012 API, v0.3), as
// listed: the key itself is never stored, only its hash.
type APIKey struct {
	ID      string
	StoreID string
	// Prefix is the key's first APIKeyPrefixLen characters, enough for a
	// merchant to tell keys apart and far too few to guess the rest.
	Prefix    string
	Label     string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key works
}

// APIKeyPrefixLen is how many leading characters of a key are kept.
const APIKeyPrefixLen = 6

const apiKeyColumns = `id, store_id, prefix, label, created_at, revoked_at`

// hashAPIKey returns the hex SHA-256 of a key. A key holds 256 random bits,
// so a plain hash is as strong as a slow one, and looking a key up by its
// hash leaks nothing through timing about the stored keys.
func hashAPIKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// CreateAPIKey creates a fresh API key for a store and returns it. The
// caller shows it once: only its hash is stored. An unknown store fails.
func (db *DB) CreateAPIKey(ctx context.Context, storeID, label string) (string, error) {
	plain := auth.NewTokenValue()
	now := time.Now().UTC()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM stores WHERE id = $1`, storeID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, store_id, key_hash, prefix, label, created_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, 0)`,
			auth.NewID(), storeID, hashAPIKey(plain), plain[:APIKeyPrefixLen], label, millis(now))
		return dupErr(err)
	})
	if err != nil {
		return "", fmt.Errorf("create API key for store %s: %w", storeID, err)
	}
	return plain, nil
}

// StoreForAPIKey returns the store a working (unrevoked) API key belongs
// to, or fails with ErrNotFound.
func (db *DB) StoreForAPIKey(ctx context.Context, plain string) (string, error) {
	if plain == "" {
		return "", fmt.Errorf("load API key: %w", ErrNotFound)
	}
	var storeID string
	err := db.sql.QueryRowContext(ctx, `SELECT store_id FROM api_keys WHERE key_hash = $1 AND revoked_at = 0`,
		hashAPIKey(plain)).Scan(&storeID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		// The key is a secret: it stays out of the error.
		return "", fmt.Errorf("load API key: %w", err)
	}
	return storeID, nil
}

// ListAPIKeys returns a store's API keys, revoked ones included, oldest
// first.
func (db *DB) ListAPIKeys(ctx context.Context, storeID string) ([]APIKey, error) {
	out, err := queryAll(ctx, db, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE store_id = $1
		ORDER BY created_at, id`, storeID)
	if err != nil {
		return nil, fmt.Errorf("list API keys of store %s: %w", storeID, err)
	}
	return out, nil
}

// RevokeAPIKey stops the API key with this id from working, at once and
// for good, and returns it as revoked. Revoking a revoked key keeps its
// first revocation time. An unknown id fails with ErrNotFound.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	now := millis(time.Now().UTC())
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`, id, now); err != nil {
			return err
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke API key %s: %w", id, err)
	}
	return k, nil
}

func scanAPIKey(r scanner) (APIKey, error) {
	var (
		k                APIKey
		created, revoked int64
	)
	err := r.Scan(&k.ID, &k.StoreID, &k.Prefix, &k.Label, &created, &revoked)
	k.CreatedAt, k.RevokedAt = fromMillis(created), fromMillis(revoked)
	return k, err
}
