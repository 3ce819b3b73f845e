package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// InvoiceFilter selects a store's invoices (GET /invoices). Zero fields
// do not filter.
type InvoiceFilter struct {
	From, To time.Time // created at or after From, before To
	Status   invoice.Status
	OrderID  string
	ItemCode string
	Limit    int // default and maximum MaxFindLimit
	Offset   int
}

// MaxFindLimit bounds one page of FindInvoices.
const MaxFindLimit = 1000

// FindInvoices returns a store's invoices matching f, newest first.
func (db *DB) FindInvoices(ctx context.Context, storeID string, f InvoiceFilter) ([]invoice.Invoice, error) {
	where := []string{"store_id = $1"}
	args := []any{storeID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if !f.From.IsZero() {
		add("created_at >= ?", millis(f.From))
	}
	if !f.To.IsZero() {
		add("created_at < ?", millis(f.To))
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.OrderID != "" {
		add("order_id = ?", f.OrderID)
	}
	if f.ItemCode != "" {
		// itemCode lives in the echoed fields; both databases read JSON.
		expr := "json_extract(fields, '$.itemCode') = ?"
		if db.dialect == Postgres {
			expr = "(fields::jsonb ->> 'itemCode') = ?"
		}
		add(expr, f.ItemCode)
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxFindLimit {
		limit = MaxFindLimit
	}
	args = append(args, limit, max(f.Offset, 0))
	q := `SELECT ` + invoiceColumns + `, seq FROM invoices WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY created_at DESC, seq DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	invs, _, err := db.invoices(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find invoices of store %s: %w", storeID, err)
	}
	return invs, nil
}
