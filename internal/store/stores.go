package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
)

const storeColumns = `id, name, network, key, speed, expiry_ms, gap_limit, default_currency, created_at, sign_ipn, invoice_limits`

// storeReadColumns adds what a store is given after it is created (its
// fee policy, 0 for the defaults).
const storeReadColumns = storeColumns + `, fee_floor, fee_ceiling, auto_refunds`

// CreateStore inserts a merchant store with no address handed out yet
// (next_index 0, last_paid_index -1); a taken id fails with ErrDuplicate.
func (db *DB) CreateStore(ctx context.Context, s merchant.Store) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO stores (`+storeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			s.ID, s.Name, s.Network, s.Key, string(s.Speed), s.Expiry.Milliseconds(), s.GapLimit,
			s.DefaultCurrency, millis(s.CreatedAt), s.SignIPN, limitsColumn(s.InvoiceLimits))
		return dupErr(err)
	})
	if err != nil {
		return fmt.Errorf("create store %s: %w", s.ID, err)
	}
	return nil
}

// GetStore loads a merchant store or fails with ErrNotFound.
func (db *DB) GetStore(ctx context.Context, id string) (merchant.Store, error) {
	row := db.sql.QueryRowContext(ctx, `SELECT `+storeReadColumns+` FROM stores WHERE id = $1`, id)
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
	out, err := queryAll(ctx, db, scanStore, `SELECT `+storeReadColumns+` FROM stores ORDER BY created_at, id`)
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
		limits    string
		floor     int64
		ceiling   int64
		auto      bool
	)
	err := r.Scan(&s.ID, &s.Name, &s.Network, &s.Key, &speed, &expiry, &s.GapLimit, &s.DefaultCurrency, &createdAt,
		&s.SignIPN, &limits, &floor, &ceiling, &auto)
	if err != nil {
		return s, err
	}
	if limits != "" {
		l, err := merchant.ParseLimits(limits)
		if err != nil {
			return s, fmt.Errorf("store %s: %w", s.ID, err)
		}
		s.InvoiceLimits = &l
	}
	s.Speed = invoice.Speed(speed)
	s.FeeFloor, s.FeeCeiling = money.Sats(floor), money.Sats(ceiling)
	s.NoAutoRefunds = !auto
	s.Expiry = time.Duration(expiry) * time.Millisecond
	s.CreatedAt = fromMillis(createdAt)
	return s, nil
}

// limitsColumn is a store's invoice limits as stored: "" for the
// server's default.
func limitsColumn(l *merchant.Limits) string {
	if l == nil {
		return ""
	}
	return l.String()
}

// InvoiceBudget is the state of a store's invoice-creation budget: for
// each of the hour, minute and second buckets, the time it is full again
// (zero when never drawn from).
type InvoiceBudget [3]time.Time

// DrawInvoiceBudget reads the store's budget, calls take with it and,
// when take reports ok, stores the budget take returns, all under a lock
// on the store's row, so every node of a PostgreSQL deployment draws from
// one budget. The write is not made durable before the call returns (a
// crash may forget the last draws; a budget is not money).
func (db *DB) DrawInvoiceBudget(ctx context.Context, storeID string, take func(InvoiceBudget) (InvoiceBudget, bool)) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		ok = false
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
		}
		// One statement creates the row on a store's first draw, locks it
		// and reads it: the no-op update takes the row lock on both
		// databases (SQLite's write transaction already excludes every
		// other writer).
		var cur [3]int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO invoice_budgets (store_id, hour_full, minute_full, second_full)
			VALUES ($1, 0, 0, 0) ON CONFLICT (store_id) DO UPDATE SET store_id = excluded.store_id
			RETURNING hour_full, minute_full, second_full`, storeID).Scan(&cur[0], &cur[1], &cur[2]); err != nil {
			return err
		}
		var b InvoiceBudget
		for i, n := range cur {
			if n != 0 {
				b[i] = time.Unix(0, n)
			}
		}
		next, take := take(b)
		if !take {
			return nil
		}
		var out [3]int64
		for i, t := range next {
			if !t.IsZero() {
				out[i] = t.UnixNano()
			}
		}
		ok = true
		_, err := tx.ExecContext(ctx, `UPDATE invoice_budgets SET hour_full = $2, minute_full = $3, second_full = $4
			WHERE store_id = $1`, storeID, out[0], out[1], out[2])
		return err
	})
	if err != nil {
		return false, fmt.Errorf("invoice budget of store %s: %w", storeID, err)
	}
	return ok, nil
}
