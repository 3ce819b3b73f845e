package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// SaveRateQuotes replaces a rate provider's stored answer with rates, as
// fetched at at.
func (db *DB) SaveRateQuotes(ctx context.Context, source string, rates map[string]decimal.Decimal, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM rate_quotes WHERE source = $1`, source); err != nil {
			return err
		}
		for code, rate := range rates {
			_, err := tx.ExecContext(ctx, `INSERT INTO rate_quotes (source, currency, rate, fetched_at) VALUES ($1, $2, $3, $4)`,
				source, code, rate.String(), millis(at))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save rates of %s: %w", source, err)
	}
	return nil
}

// RateQuotes returns a rate provider's stored answer and when it was
// fetched (the oldest of its rows); none stored is an empty map.
func (db *DB) RateQuotes(ctx context.Context, source string) (map[string]decimal.Decimal, time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT currency, rate, fetched_at FROM rate_quotes WHERE source = $1`, source)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load rates of %s: %w", source, err)
	}
	defer rows.Close()
	out := map[string]decimal.Decimal{}
	var oldest int64
	for rows.Next() {
		var code, text string
		var at int64
		if err := rows.Scan(&code, &text, &at); err != nil {
			return nil, time.Time{}, fmt.Errorf("load rates of %s: %w", source, err)
		}
		rate, err := decimal.NewFromString(text)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("load rates of %s: rate %q of %s: %w", source, text, code, err)
		}
		out[code] = rate
		if oldest == 0 || at < oldest {
			oldest = at
		}
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("load rates of %s: %w", source, err)
	}
	if len(out) == 0 {
		return out, time.Time{}, nil
	}
	return out, fromMillis(oldest), nil
}
