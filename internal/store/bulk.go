package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// errBulk marks a failed multi-row insert: some row of the batch is at
// fault, and the writer retries row by row to find out which.
var errBulk = errors.New("multi-row insert failed")

// Rows per multi-row INSERT, well under SQLite's 32766 and PostgreSQL's
// 65535 bind parameters.
const (
	invoiceRowsPerInsert = 512  // 25 parameters a row
	outboxRowsPerInsert  = 1024 // 10 parameters a row
)

// multiInsert holds multi-row INSERT texts by row count, so each is built
// once. Only the writer goroutine uses it.
type multiInsert struct {
	head    string // INSERT INTO t (cols) VALUES
	columns int
	byRows  map[int]string
}

func newMultiInsert(single string) *multiInsert {
	head, values, _ := strings.Cut(single, "VALUES")
	return &multiInsert{head: head + "VALUES ", columns: strings.Count(values, "$"), byRows: make(map[int]string)}
}

// sql returns the statement inserting rows rows.
func (m *multiInsert) sql(rows int) string {
	if s, ok := m.byRows[rows]; ok {
		return s
	}
	var b strings.Builder
	b.WriteString(m.head)
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range m.columns {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			n++
		}
		b.WriteByte(')')
	}
	m.byRows[rows] = b.String()
	return m.byRows[rows]
}

// exec inserts rows (each a full argument list) in chunks of perInsert.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, rows [][]any, perInsert int) error {
	for len(rows) > 0 {
		chunk := rows[:min(perInsert, len(rows))]
		rows = rows[len(chunk):]
		args := make([]any, 0, len(chunk)*m.columns)
		for _, r := range chunk {
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, m.sql(len(chunk)), args...); err != nil {
			return err
		}
	}
	return nil
}

// insertBulk inserts every invoice of the batch and their outbox events
// with multi-row INSERTs: on PostgreSQL one round trip per table instead
// of one per row. An error means some row failed (errBulk).
func (db *DB) insertBulk(ctx context.Context, tx *sql.Tx, reqs []*createRequest) error {
	if db.bulkInvoice == nil {
		db.bulkInvoice = newMultiInsert(insertInvoiceSQL)
		db.bulkOutbox = newMultiInsert(insertOutboxSQL)
	}
	invoices := make([][]any, 0, len(reqs))
	var events [][]any
	for _, r := range reqs {
		row, err := r.row()
		if err != nil {
			return fmt.Errorf("%w: %w", errBulk, err)
		}
		invoices = append(invoices, row)
		evs, err := r.events()
		if err != nil {
			return fmt.Errorf("%w: %w", errBulk, err)
		}
		events = append(events, evs...)
	}
	if err := db.bulkInvoice.exec(ctx, tx, invoices, invoiceRowsPerInsert); err != nil {
		return fmt.Errorf("%w: %w", errBulk, err)
	}
	if err := db.bulkOutbox.exec(ctx, tx, events, outboxRowsPerInsert); err != nil {
		return fmt.Errorf("%w: %w", errBulk, err)
	}
	return nil
}

// seedBatch is how many invoices SeedInvoices commits per transaction.
const seedBatch = 20_000

// SeedInvoices inserts n invoices that gen fills in (gen(i, inv) for i in
// 0..n-1, inv zeroed before each call) straight into the invoices table in
// large transactions: no writer, no gap-limit governor, no outbox events.
// gen sets every field, the id, store, address and key index included; the
// stores must exist. Each store's next derivation index is moved past the
// largest key index seeded. It is for benchmarks, load tests and demos
// (package sample makes plausible invoices): a million invoices take tens
// of seconds, not the hours CreateInvoice would.
func (db *DB) SeedInvoices(ctx context.Context, n int, gen func(i int, inv *invoice.Invoice)) error {
	next := map[string]int64{}
	var multi *multiInsert
	if db.dialect == Postgres {
		multi = newMultiInsert(insertInvoiceSQL)
	}
	batch := make([][]any, 0, min(n, seedBatch))
	for start := 0; start < n; start += seedBatch {
		batch = batch[:0]
		for i := start; i < min(n, start+seedBatch); i++ {
			var inv invoice.Invoice
			gen(i, &inv)
			args, err := insertArgs(&inv)
			if err != nil {
				return fmt.Errorf("seed invoice %d: %w", i, err)
			}
			batch = append(batch, args)
			if m := inv.Method(invoice.MethodBTC); m != nil {
				next[inv.StoreID] = max(next[inv.StoreID], int64(m.KeyIndex)+1)
			}
		}
		err := db.writeTx(ctx, func(tx *sql.Tx) error {
			if multi != nil {
				return multi.exec(ctx, tx, batch, invoiceRowsPerInsert)
			}
			st, err := tx.PrepareContext(ctx, insertInvoiceSQL)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, args := range batch {
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed invoices %d to %d: %w", start, start+len(batch)-1, dupErr(err))
		}
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, id := range slices.Sorted(maps.Keys(next)) {
			if _, err := tx.ExecContext(ctx, `UPDATE stores SET next_index = CASE WHEN next_index < $2 THEN $2
				ELSE next_index END WHERE id = $1`, id, next[id]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed invoices: update stores: %w", err)
	}
	// Leave the database as it would be after a while in service: on
	// PostgreSQL statistics gathered and the visibility map set (which
	// index-only scans rely on), as autovacuum would; on SQLite the WAL
	// copied back into the database file, as the checkpointer would, but
	// at once rather than under the first readers.
	stmt := `PRAGMA wal_checkpoint(TRUNCATE)`
	if db.dialect == Postgres {
		stmt = `VACUUM (ANALYZE) invoices` // not in a transaction
	}
	if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("seed invoices: %s: %w", stmt, err)
	}
	return nil
}
