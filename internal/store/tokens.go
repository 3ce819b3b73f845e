package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
)

const tokenColumns = `value, store_id, facade, label, sin, active, pairing_code, pairing_expires_at,
	created_at, revoked_at, last_used_at`

// CreateToken inserts an API token; a taken value or pairing code fails
// with ErrDuplicate.
func (db *DB) CreateToken(ctx context.Context, t auth.Token) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			t.Value, t.StoreID, string(t.Facade), t.Label, t.SIN, t.Active, t.PairingCode,
			millis(t.PairingExpiresAt), millis(t.CreatedAt), millis(t.RevokedAt), millis(t.LastUsedAt))
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create token for store %s: %w", t.StoreID, err)
	}
	return nil
}

// UpdateToken overwrites the mutable fields of the token with t's value
// (facade, label, SIN, active, pairing code and its expiry, revocation,
// last use) or fails with ErrNotFound.
func (db *DB) UpdateToken(ctx context.Context, t auth.Token) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return dupErr(execOne(ctx, tx, `UPDATE tokens SET facade = $2, label = $3, sin = $4, active = $5,
			pairing_code = $6, pairing_expires_at = $7, revoked_at = $8, last_used_at = $9
			WHERE value = $1`,
			t.Value, string(t.Facade), t.Label, t.SIN, t.Active, t.PairingCode, millis(t.PairingExpiresAt),
			millis(t.RevokedAt), millis(t.LastUsedAt)))
	})
	if err != nil {
		return fmt.Errorf("update token of store %s: %w", t.StoreID, err)
	}
	return nil
}

// GetToken loads the token with this bearer value or fails with
// ErrNotFound.
func (db *DB) GetToken(ctx context.Context, value string) (auth.Token, error) {
	t, err := db.oneToken(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE value = $1`, value)
	if err != nil {
		// The value is a secret: it stays out of the error.
		return auth.Token{}, fmt.Errorf("load token: %w", err)
	}
	return t, nil
}

// GetTokenByPairingCode loads the token waiting on a pairing code or fails
// with ErrNotFound.
func (db *DB) GetTokenByPairingCode(ctx context.Context, code string) (auth.Token, error) {
	if code == "" {
		return auth.Token{}, fmt.Errorf("load token by empty pairing code: %w", ErrNotFound)
	}
	t, err := db.oneToken(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE pairing_code = $1`, code)
	if err != nil {
		return auth.Token{}, fmt.Errorf("load token by pairing code %s: %w", code, err)
	}
	return t, nil
}

// ListTokens returns a store's tokens, oldest first.
func (db *DB) ListTokens(ctx context.Context, storeID string) ([]auth.Token, error) {
	ts, err := db.tokens(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE store_id = $1 ORDER BY created_at, value`, storeID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of store %s: %w", storeID, err)
	}
	return ts, nil
}

// TokensBySIN returns every token bound to a client id, oldest first.
func (db *DB) TokensBySIN(ctx context.Context, sin string) ([]auth.Token, error) {
	if sin == "" {
		return nil, nil
	}
	ts, err := db.tokens(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE sin = $1 ORDER BY created_at, value`, sin)
	if err != nil {
		return nil, fmt.Errorf("list tokens of SIN %s: %w", sin, err)
	}
	return ts, nil
}

func (db *DB) oneToken(ctx context.Context, query string, arg string) (auth.Token, error) {
	t, err := scanToken(db.sql.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Token{}, ErrNotFound
	}
	return t, err
}

func (db *DB) tokens(ctx context.Context, query string, arg string) ([]auth.Token, error) {
	return queryAll(ctx, db, scanToken, query, arg)
}

func scanToken(r scanner) (auth.Token, error) {
	var (
		t                                      auth.Token
		facade                                 string
		pairingExp, created, revoked, lastUsed int64
	)
	err := r.Scan(&t.Value, &t.StoreID, &facade, &t.Label, &t.SIN, &t.Active, &t.PairingCode, &pairingExp,
		&created, &revoked, &lastUsed)
	t.Facade = auth.Facade(facade)
	t.PairingExpiresAt = fromMillis(pairingExp)
	t.CreatedAt = fromMillis(created)
	t.RevokedAt = fromMillis(revoked)
	t.LastUsedAt = fromMillis(lastUsed)
	return t, err
}

// TouchToken records that the token was used at at, unless a later use
// is recorded already. It is no error when the token is gone.
func (db *DB) TouchToken(ctx context.Context, value string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = $2 WHERE value = $1 AND last_used_at < $2`,
			value, millis(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("record a token's use: %w", err)
	}
	return nil
}

// parkedColumns select a parked token as tokenColumns, for scanToken: no
// store, inactive, never revoked or used.
const parkedColumns = `value, '', facade, label, sin, FALSE, pairing_code, pairing_expires_at, created_at, 0, 0`

// ParkToken stores a client-requested token that names no store yet (its
// StoreID is ""), until PlaceToken gives it one; it sweeps parked tokens
// whose pairing code expired before t was made. A taken value or pairing
// code fails with ErrDuplicate.
func (db *DB) ParkToken(ctx context.Context, t auth.Token) error {
	if t.StoreID != "" || t.Active || t.PairingCode == "" {
		return fmt.Errorf("park token: only an inactive token with a pairing code and no store is parked")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM parked_tokens WHERE pairing_expires_at < $1`, millis(t.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO parked_tokens (value, facade, label, sin, pairing_code,
			pairing_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.Value, string(t.Facade), t.Label, t.SIN, t.PairingCode, millis(t.PairingExpiresAt), millis(t.CreatedAt))
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("park token: %w", err)
	}
	return nil
}

// GetParkedToken loads the parked token waiting on a pairing code or
// fails with ErrNotFound.
func (db *DB) GetParkedToken(ctx context.Context, code string) (auth.Token, error) {
	t, err := db.oneToken(ctx, `SELECT `+parkedColumns+` FROM parked_tokens WHERE pairing_code = $1`, code)
	if err != nil {
		return auth.Token{}, fmt.Errorf("load parked token by pairing code %s: %w", code, err)
	}
	return t, nil
}

// PlaceToken ends the parking of the token waiting on a pairing code: with
// approve, it becomes an active token of the store (and is returned as
// such); without, it is dropped. Both happen at most once: a second call
// fails with ErrNotFound.
func (db *DB) PlaceToken(ctx context.Context, code, storeID string, approve bool) (auth.Token, error) {
	var t auth.Token
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `DELETE FROM parked_tokens WHERE pairing_code = $1
			RETURNING `+parkedColumns, code))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || !approve {
			return err
		}
		t.StoreID, t.Active = storeID, true
		_, err = tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			t.Value, t.StoreID, string(t.Facade), t.Label, t.SIN, t.Active, t.PairingCode,
			millis(t.PairingExpiresAt), millis(t.CreatedAt), millis(t.RevokedAt), millis(t.LastUsedAt))
		return dupErr(err)
	})
	if err != nil {
		return auth.Token{}, fmt.Errorf("place parked token %s in store %s: %w", code, storeID, err)
	}
	return t, nil
}
