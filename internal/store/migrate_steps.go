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
var migrationSteps = map[int]func(ctx context.Context, tx *sql.Tx, dialect string) error{
	11: movePaymentMethods,
	12: outboxSubjects,
}

// withoutForeignKeys are the migrations that rebuild a table other tables
// reference; on SQLite they run with foreign keys off (a table rebuild
// needs it), and are checked for violations before they commit.
var withoutForeignKeys = map[int]bool{12: true}

// methodsBatch is how many invoices movePaymentMethods rewrites per query.
const methodsBatch = 1000

// movePaymentMethods is migration 0011's step: every invoice's on-chain
// method from its rate, due, address, script, key_index and reused
// columns, and "method":"BTC" on each of its stored payments (all of them
// on-chain before payment methods existed). Then rate and reused go.
func movePaymentMethods(ctx context.Context, tx *sql.Tx, _ string) error {
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

// outboxSubjects is migration 0012's step: the outbox's invoice_id becomes
// subject_id beside a subject column ('invoice' for every existing event),
// and the outbox no longer references invoices. PostgreSQL alters the
// table; SQLite, which cannot drop a reference, rebuilds it with the same
// rows, sequence and indexes.
func outboxSubjects(ctx context.Context, tx *sql.Tx, dialect string) error {
	var stmts []string
	if dialect == Postgres {
		var fks []string
		rows, err := tx.QueryContext(ctx, `SELECT conname FROM pg_constraint
			WHERE conrelid = 'outbox'::regclass AND contype = 'f' AND confrelid = 'invoices'::regclass`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			fks = append(fks, name)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, fk := range fks {
			stmts = append(stmts, `ALTER TABLE outbox DROP CONSTRAINT "`+fk+`"`)
		}
		stmts = append(stmts,
			`ALTER TABLE outbox RENAME COLUMN invoice_id TO subject_id`,
			`ALTER TABLE outbox ADD COLUMN subject TEXT NOT NULL DEFAULT 'invoice'`,
			`ALTER INDEX outbox_invoice RENAME TO outbox_subject`)
	} else {
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).Scan(&last); err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("outbox sequence: %w", err)
		}
		stmts = append(stmts, `CREATE TABLE outbox_new (
			seq             INTEGER PRIMARY KEY AUTOINCREMENT,
			id              TEXT NOT NULL,
			subject         TEXT NOT NULL DEFAULT 'invoice',
			subject_id      TEXT NOT NULL,
			store_id        TEXT NOT NULL,
			code            INTEGER NOT NULL,
			name            TEXT NOT NULL,
			status          TEXT NOT NULL,
			exception       TEXT NOT NULL,
			created_at      BIGINT NOT NULL,
			snapshot        TEXT NOT NULL,
			attempts        INTEGER NOT NULL DEFAULT 0,
			next_attempt_at BIGINT NOT NULL DEFAULT 0,
			delivered_at    BIGINT
		)`,
			`INSERT INTO outbox_new (seq, id, subject, subject_id, store_id, code, name, status, exception, created_at,
				snapshot, attempts, next_attempt_at, delivered_at)
			SELECT seq, id, 'invoice', invoice_id, store_id, code, name, status, exception, created_at,
				snapshot, attempts, next_attempt_at, delivered_at FROM outbox`,
			`DROP TABLE outbox`,
			`ALTER TABLE outbox_new RENAME TO outbox`,
			`CREATE INDEX outbox_subject ON outbox (subject_id, seq)`,
			`CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL`,
			`CREATE INDEX outbox_unplanned ON outbox (seq) WHERE delivered_at IS NULL`)
		if last.Valid {
			// The next event's seq continues where the old table's did.
			stmts = append(stmts, fmt.Sprintf(`UPDATE sqlite_sequence SET seq = MAX(seq, %d) WHERE name = 'outbox'`, last.Int64))
		}
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}
