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

// Subject is the kind of resource an outbox event is about. Every
// subject's events share the outbox, the planner and the deliveries; each
// subject brings its event codes, its delivery rules and its bodies
// (package notify). Resource ids are random (auth.NewID), so an id names
// one resource whatever its subject.
type Subject string

// The subjects.
const (
	SubjectInvoice Subject = "invoice"
	SubjectRefund  Subject = "refund"
)

// OutboxEvent is a notification waiting for (or done with) delivery. Its
// snapshot is the resource as it was when the event happened.
type OutboxEvent struct {
	Seq       int64  // commit-ordered position in the outbox
	ID        string // stable random id, the same on every delivery attempt
	Subject   Subject
	SubjectID string // the resource's id
	StoreID   string
	// Code, Status and Exception are the subject's: its event code (an
	// invoice.Code for an invoice, BitPay's 1001-1017), the resource's
	// status at the event, and for an invoice its exception status.
	Code      int
	Name      string
	Status    string
	Exception string
	CreatedAt time.Time
	// Snapshot is the resource at the event as encoding/json wrote it (an
	// invoice.Invoice for SubjectInvoice).
	Snapshot json.RawMessage

	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   time.Time // zero until delivered
}

const insertOutboxSQL = `INSERT INTO outbox (id, subject, subject_id, store_id, code, name, status, exception, created_at, snapshot)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

const outboxColumns = `seq, id, subject, subject_id, store_id, code, name, status, exception, created_at, snapshot,
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
		_, err := insert.ExecContext(ctx, auth.NewID(), string(SubjectInvoice), inv.ID, inv.StoreID, int(n.Code), n.Code.Name(),
			string(n.Status), string(n.Exception), millis(n.At), string(snapshot))
		if err != nil {
			return fmt.Errorf("queue event %d of invoice %s: %w", n.Code, inv.ID, err)
		}
	}
	return nil
}

// Outbox returns the events of a resource (an invoice, say) in the order
// they happened.
func (db *DB) Outbox(ctx context.Context, subjectID string) ([]OutboxEvent, error) {
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE subject_id = $1 ORDER BY seq`, subjectID)
	if err != nil {
		return nil, fmt.Errorf("load outbox of %s: %w", subjectID, err)
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
		var subject string
		err := rows.Scan(&e.Seq, &e.ID, &subject, &e.SubjectID, &e.StoreID, &code, &e.Name, &status, &exception, &created,
			&snapshot, &e.Attempts, &nextAt, &delivered)
		if err != nil {
			return nil, err
		}
		e.Subject = Subject(subject)
		e.Code, e.Status, e.Exception = code, status, exception
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
