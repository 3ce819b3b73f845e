package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/pglock"
	"github.com/shopspring/decimal"
)

// invoiceColumns are the columns of an invoice row that map to
// invoice.Invoice, in the order scanInvoice and insertInvoiceSQL use.
const invoiceColumns = `id, store_id, token, status, exception, speed, price, currency, methods,
	created_at, expires_at, paid_at, updated_at, cancelled, payments, fields, version, created_by`

// insertInvoiceSQL inserts one invoice. The columns after invoiceColumns
// are derived, kept for the indexes and queries that need them: whether it
// has payments, its order id and guid, the satoshis due by its bound
// method (the dashboard's sums), and its on-chain method's address, script
// and derivation index (the gap-limit governor and the address search).
const insertInvoiceSQL = `INSERT INTO invoices (` + invoiceColumns + `, has_payments, order_id, guid,
	due, address, script, key_index)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
		$23, $24, $25)`

// The positions of the on-chain method's fields in the insertInvoiceSQL
// arguments: the writer fills them once it has allocated the address.
const (
	argMethods  = 8
	argAddress  = 22
	argScript   = 23
	argKeyIndex = 24
)

// updateInvoiceSQL writes the fields a change may move (state, payments,
// the amount due an accepted partial or over payment adjusts, and the echoed
// fields a buyer-contact update changes), guarded by the version the change
// was computed from.
const updateInvoiceSQL = `UPDATE invoices SET status = $3, exception = $4, paid_at = $5, updated_at = $6,
	cancelled = $7, payments = $8, has_payments = $9, due = $10, fields = $11, methods = $12, version = version + 1
	WHERE id = $1 AND version = $2`

// openStatuses are the statuses the chain watcher always watches.
const openStatuses = `('new', 'paid', 'confirmed', 'invalid')`

// paymentRecord is a payment as stored in the payments JSON column; its
// explicit names keep the stored format independent of the API's.
type paymentRecord struct {
	Method    string `json:"method"`
	TxID      string `json:"txid"`
	Vout      uint32 `json:"vout"`
	Amount    int64  `json:"sats"`
	Height    int32  `json:"height,omitempty"`
	BlockHash string `json:"block,omitempty"`
	SeenAt    int64  `json:"seen"`
	Late      bool   `json:"late,omitempty"`
	Removed   bool   `json:"removed,omitempty"`
}

func encodePayments(ps []invoice.Payment) (string, error) {
	if len(ps) == 0 {
		return "[]", nil
	}
	recs := make([]paymentRecord, len(ps))
	for i, p := range ps {
		recs[i] = paymentRecord{string(p.Method), p.TxID, p.Vout, int64(p.Amount), p.Height, p.BlockHash, millis(p.SeenAt),
			p.Late, p.Removed}
	}
	b, err := json.Marshal(recs)
	return string(b), err
}

func decodePayments(s string) ([]invoice.Payment, error) {
	var recs []paymentRecord
	if err := json.Unmarshal([]byte(s), &recs); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	ps := make([]invoice.Payment, len(recs))
	for i, r := range recs {
		ps[i] = invoice.Payment{Method: invoice.MethodID(r.Method), TxID: r.TxID, Vout: r.Vout, Amount: money.Sats(r.Amount),
			Height: r.Height, BlockHash: r.BlockHash, SeenAt: fromMillis(r.SeenAt), Late: r.Late, Removed: r.Removed}
	}
	return ps, nil
}

// methodRecord is a payment method as stored in the methods JSON column.
type methodRecord struct {
	ID          string `json:"id"`
	Currency    string `json:"currency"`
	Rate        string `json:"rate"`
	Due         int64  `json:"sats"`
	Destination string `json:"dest"`
	Script      []byte `json:"script,omitempty"`
	KeyIndex    uint32 `json:"index,omitempty"`
	Reused      bool   `json:"reused,omitempty"`
}

func encodeMethods(ms []invoice.Method) (string, error) {
	recs := make([]methodRecord, len(ms))
	for i, m := range ms {
		recs[i] = methodRecord{string(m.ID), m.Currency, m.Rate.String(), int64(m.Due), m.Destination, m.Script,
			m.KeyIndex, m.Reused}
	}
	b, err := json.Marshal(recs)
	return string(b), err
}

func decodeMethods(s string) ([]invoice.Method, error) {
	var recs []methodRecord
	if err := json.Unmarshal([]byte(s), &recs); err != nil {
		return nil, err
	}
	ms := make([]invoice.Method, len(recs))
	for i, r := range recs {
		rate, err := decimal.NewFromString(r.Rate)
		if err != nil {
			return nil, fmt.Errorf("method %s: rate %q: %w", r.ID, r.Rate, err)
		}
		ms[i] = invoice.Method{ID: invoice.MethodID(r.ID), Currency: r.Currency, Rate: rate, Due: money.Sats(r.Due),
			Destination: r.Destination, Script: r.Script, KeyIndex: r.KeyIndex, Reused: r.Reused}
	}
	return ms, nil
}

// onChain returns the invoice's on-chain method: the one whose address the
// writer allocates and the chain watcher watches.
func onChain(inv *invoice.Invoice) (*invoice.Method, error) {
	if m := inv.Method(invoice.MethodBTC); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("invoice %s has no on-chain payment method", inv.ID)
}

// insertArgs returns the arguments of insertInvoiceSQL for inv.
func insertArgs(inv *invoice.Invoice) ([]any, error) {
	chain, err := onChain(inv)
	if err != nil {
		return nil, err
	}
	methods, err := encodeMethods(inv.Methods)
	if err != nil {
		return nil, fmt.Errorf("encode methods: %w", err)
	}
	payments, err := encodePayments(inv.Payments)
	if err != nil {
		return nil, fmt.Errorf("encode payments: %w", err)
	}
	fields, err := json.Marshal(inv.Fields)
	if err != nil {
		return nil, fmt.Errorf("encode fields: %w", err)
	}
	script := chain.Script
	if script == nil {
		script = []byte{}
	}
	return []any{inv.ID, inv.StoreID, inv.Token, string(inv.Status), string(inv.Exception), string(inv.Speed),
		inv.Price.String(), inv.Currency, methods, millis(inv.CreatedAt), millis(inv.ExpiresAt),
		millis(inv.PaidAt), millis(inv.UpdatedAt), inv.Cancelled,
		payments, string(fields), inv.Version, inv.CreatedBy,
		len(inv.Payments) > 0, inv.Fields.OrderID, inv.Fields.GUID,
		int64(inv.Due()), chain.Destination, script, int64(chain.KeyIndex)}, nil
}

func scanInvoice(r scanner) (invoice.Invoice, error) {
	var (
		inv                             invoice.Invoice
		status, exception, speed, price string
		created, expires, paid, updated int64
		methods, payments, fields       string
	)
	err := r.Scan(&inv.ID, &inv.StoreID, &inv.Token, &status, &exception, &speed, &price, &inv.Currency, &methods,
		&created, &expires, &paid, &updated, &inv.Cancelled, &payments, &fields, &inv.Version, &inv.CreatedBy)
	if err != nil {
		return inv, err
	}
	inv.Status = invoice.Status(status)
	inv.Exception = invoice.Exception(exception)
	inv.Speed = invoice.Speed(speed)
	if inv.Price, err = decimal.NewFromString(price); err != nil {
		return inv, fmt.Errorf("invoice %s: price %q: %w", inv.ID, price, err)
	}
	inv.CreatedAt = fromMillis(created)
	inv.ExpiresAt = fromMillis(expires)
	inv.PaidAt = fromMillis(paid)
	inv.UpdatedAt = fromMillis(updated)
	if inv.Methods, err = decodeMethods(methods); err != nil {
		return inv, fmt.Errorf("invoice %s: methods: %w", inv.ID, err)
	}
	if inv.Payments, err = decodePayments(payments); err != nil {
		return inv, fmt.Errorf("invoice %s: payments: %w", inv.ID, err)
	}
	if err = json.Unmarshal([]byte(fields), &inv.Fields); err != nil {
		return inv, fmt.Errorf("invoice %s: fields: %w", inv.ID, err)
	}
	return inv, nil
}

// GetInvoice loads an invoice or fails with ErrNotFound.
func (db *DB) GetInvoice(ctx context.Context, id string) (invoice.Invoice, error) {
	inv, err := scanInvoice(db.sql.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("load invoice %s: %w", id, err)
	}
	return inv, nil
}

// GetInvoiceByGUID loads the store's invoice created with a guid or fails
// with ErrNotFound.
func (db *DB) GetInvoiceByGUID(ctx context.Context, storeID, guid string) (invoice.Invoice, error) {
	if guid == "" {
		return invoice.Invoice{}, fmt.Errorf("load invoice by empty guid: %w", ErrNotFound)
	}
	inv, err := scanInvoice(db.sql.QueryRowContext(ctx,
		`SELECT `+invoiceColumns+` FROM invoices WHERE store_id = $1 AND guid = $2`, storeID, guid))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return invoice.Invoice{}, fmt.Errorf("load invoice of store %s by guid %s: %w", storeID, guid, err)
	}
	return inv, nil
}

// ListInvoices returns a store's newest invoices, newest first, at most
// limit of them.
func (db *DB) ListInvoices(ctx context.Context, storeID string, limit int) ([]invoice.Invoice, error) {
	if limit <= 0 {
		return nil, nil
	}
	invs, _, err := db.invoices(ctx, `SELECT `+invoiceColumns+`, seq FROM invoices WHERE store_id = $1
		ORDER BY created_at DESC, seq DESC LIMIT $2`, storeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list invoices of store %s: %w", storeID, err)
	}
	return invs, nil
}

// OpenInvoices returns the invoices the chain watcher must watch: every one
// in status new, paid, confirmed or invalid, and every other one updated at
// or after closedSince (so late payments are still seen). They come in
// creation order.
func (db *DB) OpenInvoices(ctx context.Context, closedSince time.Time) ([]invoice.Invoice, error) {
	invs, _, err := db.invoices(ctx, `SELECT `+invoiceColumns+`, seq FROM invoices
		WHERE status IN `+openStatuses+` OR updated_at >= $1 ORDER BY seq`, millis(closedSince))
	if err != nil {
		return nil, fmt.Errorf("load open invoices: %w", err)
	}
	return invs, nil
}

// InvoicesAfter returns at most limit invoices created after the creation
// sequence number seq, in creation order, and the sequence number of the
// last one (seq itself when there are none). Polling with the last one
// returned misses nothing, even for invoices other processes create: on
// SQLite one writer at a time commits sequence numbers in order; on
// PostgreSQL creation batches of several nodes commit concurrently, each
// holding pglock.Create shared, so the read takes it exclusively: once it
// holds it no batch is in flight, every number handed out so far is
// committed or rolled back for good, and later batches get higher ones.
func (db *DB) InvoicesAfter(ctx context.Context, seq int64, limit int) ([]invoice.Invoice, int64, error) {
	if limit <= 0 {
		return nil, seq, nil
	}
	const query = `SELECT ` + invoiceColumns + `, seq FROM invoices WHERE seq > $1 ORDER BY seq LIMIT $2`
	var (
		invs []invoice.Invoice
		last int64
		err  error
	)
	if db.dialect == Postgres {
		err = db.readTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pglock.Create); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			invs, last, err = scanInvoices(tx.QueryContext(ctx, query, seq, limit))
			return err
		})
	} else {
		invs, last, err = db.invoices(ctx, query, seq, limit)
	}
	if err != nil {
		return nil, seq, fmt.Errorf("load invoices after %d: %w", seq, err)
	}
	if len(invs) == 0 {
		last = seq
	}
	return invs, last, nil
}

// LastInvoiceSeq returns the highest invoice creation sequence number (0
// with none), read like InvoicesAfter: no lower number is still to commit.
func (db *DB) LastInvoiceSeq(ctx context.Context) (int64, error) {
	const query = `SELECT COALESCE(MAX(seq), 0) FROM invoices`
	var seq int64
	var err error
	if db.dialect == Postgres {
		err = db.readTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pglock.Create); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			return tx.QueryRowContext(ctx, query).Scan(&seq)
		})
	} else {
		err = db.sql.QueryRowContext(ctx, query).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("read the last invoice sequence: %w", err)
	}
	return seq, nil
}

// readTx runs fn in a transaction that is committed when fn succeeds: for
// reads that need a transaction's locks.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// invoices runs a query selecting invoiceColumns and seq, returning the
// invoices and the largest seq seen.
func (db *DB) invoices(ctx context.Context, query string, args ...any) ([]invoice.Invoice, int64, error) {
	return scanInvoices(db.sql.QueryContext(ctx, query, args...))
}

// scanInvoices reads rows of invoiceColumns and seq.
func scanInvoices(rows *sql.Rows, err error) ([]invoice.Invoice, int64, error) {
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		out     []invoice.Invoice
		lastSeq int64
	)
	for rows.Next() {
		var seq int64
		inv, err := scanInvoice(seqScanner{rows, &seq})
		if err != nil {
			return nil, 0, err
		}
		out = append(out, inv)
		lastSeq = max(lastSeq, seq)
	}
	return out, lastSeq, rows.Err()
}

// seqScanner appends the trailing seq column to a row scan.
type seqScanner struct {
	rows *sql.Rows
	seq  *int64
}

func (s seqScanner) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.seq)...) }
