package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errBulk marks a failed multi-row insert: some row of the batch is at
// fault, and the writer retries row by row to find out which.
var errBulk = errors.New("multi-row insert failed")

// Rows per multi-row INSERT, well under SQLite's 32766 and PostgreSQL's
// 65535 bind parameters.
const (
	invoiceRowsPerInsert = 512  // 25 parameters a row
	outboxRowsPerInsert  = 1024 // 9 parameters a row
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
