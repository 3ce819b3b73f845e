package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// The queries of the invoice event stream (GET /events): its hub follows
// the whole outbox by sequence number, and each stream starts from one
// invoice's events.
//
// On SQLite sequence numbers are handed out inside the single write lock,
// so they grow in commit order. On PostgreSQL an identity value is taken
// at INSERT, so a transaction that commits late can make a lower number
// appear after a higher one was read, and a rolled-back one leaves a
// number that never appears: readers that follow the outbox by position
// treat a missing number as pending for a while (OutboxSeqs) rather than
// as passed. One invoice's events are always in commit order on both
// databases: every change to an invoice holds its row until commit.

// InvoiceByToken loads the invoice whose resource token is token, or fails
// with ErrNotFound.
func (db *DB) InvoiceByToken(ctx context.Context, token string) (invoice.Invoice, error) {
	if token == "" {
		return invoice.Invoice{}, fmt.Errorf("load invoice by empty token: %w", ErrNotFound)
	}
	inv, err := scanInvoice(db.sql.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE token = $1`, token))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		// The token is a credential: it stays out of the error text.
		return invoice.Invoice{}, fmt.Errorf("load invoice by token: %w", err)
	}
	return inv, nil
}

// LatestOutboxSeqs returns the sequence numbers of the n most recent
// outbox events, in ascending order (none for an empty outbox). A reader
// starting to follow the outbox takes the last as its position and the
// numbers missing between them as possibly still in flight.
func (db *DB) LatestOutboxSeqs(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT seq FROM outbox ORDER BY seq DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("load latest outbox positions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("load latest outbox positions: %w", err)
		}
		out = append(out, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load latest outbox positions: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// maxSeqsPerQuery bounds the placeholders of one OutboxSeqs statement, well
// under both databases' limits.
const maxSeqsPerQuery = 500

// OutboxSeqs returns the events with the given sequence numbers that exist
// (are committed), in order; numbers without an event are skipped.
func (db *DB) OutboxSeqs(ctx context.Context, seqs []int64) ([]OutboxEvent, error) {
	var out []OutboxEvent
	for chunk := range slices.Chunk(seqs, maxSeqsPerQuery) {
		marks := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, s := range chunk {
			marks[i] = fmt.Sprintf("$%d", i+1)
			args[i] = s
		}
		evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE seq IN (`+strings.Join(marks, ", ")+`)
			ORDER BY seq`, args...)
		if err != nil {
			return nil, fmt.Errorf("load %d outbox events by position: %w", len(chunk), err)
		}
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b OutboxEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// InvoiceOutboxAfter returns at most limit of an invoice's events with a
// sequence number above seq, in order.
func (db *DB) InvoiceOutboxAfter(ctx context.Context, invoiceID string, seq int64, limit int) ([]OutboxEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE subject_id = $1 AND seq > $2
		ORDER BY seq LIMIT $3`, invoiceID, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("load outbox of invoice %s after %d: %w", invoiceID, seq, err)
	}
	return evs, nil
}

// LatestInvoiceEvent returns an invoice's most recent event, whose
// snapshot is the invoice's current state, or fails with ErrNotFound when
// it has none.
func (db *DB) LatestInvoiceEvent(ctx context.Context, invoiceID string) (OutboxEvent, error) {
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE subject_id = $1
		ORDER BY seq DESC LIMIT 1`, invoiceID)
	if err != nil {
		return OutboxEvent{}, fmt.Errorf("load latest event of invoice %s: %w", invoiceID, err)
	}
	if len(evs) == 0 {
		return OutboxEvent{}, fmt.Errorf("latest event of invoice %s: %w", invoiceID, ErrNotFound)
	}
	return evs[0], nil
}
