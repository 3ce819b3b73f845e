package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
)

// OutboxEvent is a notification waiting for (or done with) delivery. Its
// snapshot is the invoice as it was when the event happened.
type OutboxEvent struct {
	Seq       int64  // commit-ordered position in the outbox
	ID        string // stable random id, the same on every delivery attempt
	InvoiceID string
	StoreID   string
	Code      invoice.Code
	Name      string
	Status    invoice.Status
	Exception invoice.Exception
	CreatedAt time.Time
	// Snapshot is the invoice.Invoice at the event, as encoding/json wrote it.
	Snapshot json.RawMessage

	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   time.Time // zero until delivered
}

const insertOutboxSQL = `INSERT INTO outbox (id, invoice_id, store_id, code, name, status, exception, created_at, snapshot)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

const outboxColumns = `seq, id, invoice_id, store_id, code, name, status, exception, created_at, snapshot,
	attempts, next_attempt_at, delivered_at`

// insertNotes adds an invoice's notifications to the outbox with insert, a
// statement of insertOutboxSQL prepared in the caller's transaction.
func insertNotes(ctx context.Context, insert *sql.Stmt, inv *invoice.Invoice, notes []invoice.Notification) error {
	if len(notes) == 0 {
		return nil
	}
	snapshot, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("snapshot invoice %s: %w", inv.ID, err)
	}
	for _, n := range notes {
		_, err := insert.ExecContext(ctx, auth.NewID(), inv.ID, inv.StoreID, int(n.Code), n.Code.Name(),
			string(n.Status), string(n.Exception), millis(n.At), string(snapshot))
		if err != nil {
			return fmt.Errorf("queue event %d of invoice %s: %w", n.Code, inv.ID, err)
		}
	}
	return nil
}

// Outbox returns an invoice's events in the order they happened.
func (db *DB) Outbox(ctx context.Context, invoiceID string) ([]OutboxEvent, error) {
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE invoice_id = $1 ORDER BY seq`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("load outbox of invoice %s: %w", invoiceID, err)
	}
	return evs, nil
}

// OutboxAfter returns at most limit events with a sequence number above
// seq, in order.
func (db *DB) OutboxAfter(ctx context.Context, seq int64, limit int) ([]OutboxEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("load outbox after %d: %w", seq, err)
	}
	return evs, nil
}

func (db *DB) outbox(ctx context.Context, query string, args ...any) ([]OutboxEvent, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var (
			e                 OutboxEvent
			code              int
			status, exception string
			created, nextAt   int64
			snapshot          string
			delivered         sql.NullInt64
		)
		err := rows.Scan(&e.Seq, &e.ID, &e.InvoiceID, &e.StoreID, &code, &e.Name, &status, &exception, &created,
			&snapshot, &e.Attempts, &nextAt, &delivered)
		if err != nil {
			return nil, err
		}
		e.Code = invoice.Code(code)
		e.Status = invoice.Status(status)
		e.Exception = invoice.Exception(exception)
		e.CreatedAt = fromMillis(created)
		e.Snapshot = json.RawMessage(snapshot)
		e.NextAttemptAt = fromMillis(nextAt)
		if delivered.Valid {
			e.DeliveredAt = fromMillis(delivered.Int64)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
