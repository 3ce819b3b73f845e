package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// migrationSteps are the Go parts of migrations, run after the version's
// SQL in its transaction: a crash anywhere leaves the database as before
// the migration or as after it.
var migrationSteps = map[int]func(ctx context.Context, tx *sql.Tx) error{
	11: movePaymentMethods,
}

// methodsBatch is how many invoices movePaymentMethods rewrites per query.
const methodsBatch = 1000

// movePaymentMethods is migration 0011's step: every invoice's on-chain
// method from its rate, due, address, script, key_index and reused
// columns, and "method":"BTC" on each of its stored payments (all of them
// on-chain before payment methods existed). Then rate and reused go.
func movePaymentMethods(ctx context.Context, tx *sql.Tx) error {
	update, err := tx.PrepareContext(ctx, `UPDATE invoices SET methods = $2, payments = $3 WHERE seq = $1`)
	if err != nil {
		return err
	}
	defer update.Close()
	type row struct {
		seq               int64
		id, rate, address string
		due, keyIndex     int64
		script            []byte
		reused            bool
		payments          string
	}
	for after := int64(0); ; {
		rows, err := tx.QueryContext(ctx, `SELECT seq, id, rate, due, address, script, key_index, reused, payments
			FROM invoices WHERE seq > $1 ORDER BY seq LIMIT $2`, after, methodsBatch)
		if err != nil {
			return err
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.seq, &r.id, &r.rate, &r.due, &r.address, &r.script, &r.keyIndex, &r.reused, &r.payments); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, r := range batch {
			rate, err := decimal.NewFromString(r.rate)
			if err != nil {
				return fmt.Errorf("invoice %s: rate %q: %w", r.id, r.rate, err)
			}
			script := r.script
			if len(script) == 0 {
				script = nil
			}
			methods, err := encodeMethods([]invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: rate,
				Due: money.Sats(r.due), Destination: r.address, Script: script, KeyIndex: uint32(r.keyIndex), Reused: r.reused}})
			if err != nil {
				return fmt.Errorf("invoice %s: %w", r.id, err)
			}
			payments, err := paymentsOnChain(r.payments)
			if err != nil {
				return fmt.Errorf("invoice %s: payments: %w", r.id, err)
			}
			if _, err := update.ExecContext(ctx, r.seq, methods, payments); err != nil {
				return fmt.Errorf("invoice %s: %w", r.id, err)
			}
		}
		after = batch[len(batch)-1].seq
	}
	for _, stmt := range []string{`ALTER TABLE invoices DROP COLUMN rate`, `ALTER TABLE invoices DROP COLUMN reused`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// paymentsOnChain names the on-chain method on every stored payment that
// names none, leaving its other fields as they were.
func paymentsOnChain(stored string) (string, error) {
	var recs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stored), &recs); err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "[]", nil
	}
	for _, r := range recs {
		if _, ok := r["method"]; !ok {
			r["method"] = json.RawMessage(`"` + string(invoice.MethodBTC) + `"`)
		}
	}
	b, err := json.Marshal(recs)
	return string(b), err
}
