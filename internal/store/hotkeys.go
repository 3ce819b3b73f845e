package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
)

// HotKey is a store's hot signer as stored: its private key sealed under
// the operator's passphrase (hotwallet.Seal; the store never sees it in
// clear) and the most it may sign per 24 hours.
type HotKey struct {
	StoreID    string
	Sealed     []byte
	DailyLimit money.Sats
	CreatedAt  time.Time
}

// PutHotKey stores a store's hot key, replacing the one it had.
func (db *DB) PutHotKey(ctx context.Context, k HotKey) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO hot_keys (store_id, sealed, daily_limit, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (store_id) DO UPDATE SET sealed = excluded.sealed, daily_limit = excluded.daily_limit,
				created_at = excluded.created_at`, k.StoreID, k.Sealed, int64(k.DailyLimit), millis(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("store the hot key of store %s: %w", k.StoreID, err)
		}
		return nil
	})
}

// DeleteHotKey removes a store's hot key, or fails with ErrNotFound.
func (db *DB) DeleteHotKey(ctx context.Context, storeID string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		return notFound(execOne(ctx, tx, `DELETE FROM hot_keys WHERE store_id = $1`, storeID))
	})
}

// GetHotKey loads a store's hot key or fails with ErrNotFound.
func (db *DB) GetHotKey(ctx context.Context, storeID string) (HotKey, error) {
	k, err := scanHotKey(db.sql.QueryRowContext(ctx, `SELECT `+hotKeyColumns+` FROM hot_keys WHERE store_id = $1`, storeID))
	if err != nil {
		return HotKey{}, fmt.Errorf("load the hot key of store %s: %w", storeID, notFound(err))
	}
	return k, nil
}

// HotKeys returns every store's hot key.
func (db *DB) HotKeys(ctx context.Context) ([]HotKey, error) {
	ks, err := queryAll(ctx, db, scanHotKey, `SELECT `+hotKeyColumns+` FROM hot_keys ORDER BY store_id`)
	if err != nil {
		return nil, fmt.Errorf("list hot keys: %w", err)
	}
	return ks, nil
}

const hotKeyColumns = `store_id, sealed, daily_limit, created_at`

func scanHotKey(r scanner) (HotKey, error) {
	var (
		k              HotKey
		limit, created int64
	)
	if err := r.Scan(&k.StoreID, &k.Sealed, &limit, &created); err != nil {
		return k, err
	}
	k.DailyLimit, k.CreatedAt = money.Sats(limit), fromMillis(created)
	return k, nil
}

// HotBudget locks the store's hot key row until the unit ends and returns
// its daily limit and what the hot signer signed for the store since
// since. A second unit asking for the same store waits for this one (on
// PostgreSQL the row lock, on SQLite the write transaction), so a check
// against the limit and the HotSigned that follows it are one step on
// every node. It fails with ErrNotFound when the store has no hot key.
func (u *Unit) HotBudget(storeID string, since time.Time) (limit, spent money.Sats, err error) {
	// A no-op update takes the row lock on both databases, which SELECT
	// … FOR UPDATE would not on SQLite.
	var l int64
	err = u.tx.QueryRowContext(u.ctx, `UPDATE hot_keys SET daily_limit = daily_limit WHERE store_id = $1
		RETURNING daily_limit`, storeID).Scan(&l)
	if err != nil {
		return 0, 0, fmt.Errorf("lock the hot key of store %s: %w", storeID, notFound(err))
	}
	var s int64
	err = u.tx.QueryRowContext(u.ctx, `SELECT COALESCE(SUM(amount), 0) FROM hot_signatures
		WHERE store_id = $1 AND signed_at > $2`, storeID, millis(since)).Scan(&s)
	if err != nil {
		return 0, 0, fmt.Errorf("sum the hot signatures of store %s: %w", storeID, err)
	}
	return money.Sats(l), money.Sats(s), nil
}

// HotSigned records that the hot signer signed a spend taking amount from
// the store at at; a spend is recorded once (ErrDuplicate).
func (u *Unit) HotSigned(storeID, spendID string, amount money.Sats, at time.Time) error {
	_, err := u.tx.ExecContext(u.ctx, `INSERT INTO hot_signatures (spend_id, store_id, amount, signed_at)
		VALUES ($1, $2, $3, $4)`, spendID, storeID, int64(amount), millis(at))
	if err != nil {
		return fmt.Errorf("record the hot signature of spend %s: %w", spendID, dupErr(err))
	}
	return nil
}
