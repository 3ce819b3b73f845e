package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
)

const storeColumns = `id, name, network, key, speed, expiry_ms, gap_limit, default_currency, created_at, sign_ipn`

// CreateStore inserts a merchant store with no address handed out yet
// (next_index 0, last_paid_index -1); a taken id fails with ErrDuplicate.
func (db *DB) CreateStore(ctx context.Context, s merchant.Store) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO stores (`+storeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			s.ID, s.Name, s.Network, s.Key, string(s.Speed), s.Expiry.Milliseconds(), s.GapLimit,
			s.DefaultCurrency, millis(s.CreatedAt), s.SignIPN)
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create store %s: %w", s.ID, err)
	}
	return nil
}

// GetStore loads a merchant store or fails with ErrNotFound.
func (db *DB) GetStore(ctx context.Context, id string) (merchant.Store, error) {
	row := db.sql.QueryRowContext(ctx, `SELECT `+storeColumns+` FROM stores WHERE id = $1`, id)
	s, err := scanStore(row)
	if errors.Is(err, sql.ErrNoRows) {
		return merchant.Store{}, fmt.Errorf("load store %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return merchant.Store{}, fmt.Errorf("load store %s: %w", id, err)
	}
	return s, nil
}

// ListStores returns every merchant store, oldest first.
func (db *DB) ListStores(ctx context.Context) ([]merchant.Store, error) {
	out, err := queryAll(ctx, db, scanStore, `SELECT `+storeColumns+` FROM stores ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return out, nil
}

// GapRun returns how many addresses in a row the store has handed out past
// its last paid one (next_index - 1 - last_paid_index). When it reaches the
// store's gap limit, wallets restored from the key may stop seeing payments.
func (db *DB) GapRun(ctx context.Context, storeID string) (int, error) {
	var next, lastPaid int64
	err := db.sql.QueryRowContext(ctx, `SELECT next_index, last_paid_index FROM stores WHERE id = $1`, storeID).
		Scan(&next, &lastPaid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("gap run of store %s: %w", storeID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("gap run of store %s: %w", storeID, err)
	}
	return int(next - 1 - lastPaid), nil
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query and returns its rows, each read by scan.
func queryAll[T any](ctx context.Context, db *DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanStore(r scanner) (merchant.Store, error) {
	var (
		s         merchant.Store
		speed     string
		expiry    int64
		createdAt int64
	)
	err := r.Scan(&s.ID, &s.Name, &s.Network, &s.Key, &speed, &expiry, &s.GapLimit, &s.DefaultCurrency, &createdAt,
		&s.SignIPN)
	s.Speed = invoice.Speed(speed)
	s.Expiry = time.Duration(expiry) * time.Millisecond
	s.CreatedAt = fromMillis(createdAt)
	return s, err
}
