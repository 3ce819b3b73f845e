package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/shopspring/decimal"
)

const refundColumns = `id, store_id, invoice_id, token, guid, reference, status, amount, currency, rate, notify_url, sats,
	buyer_pays_fee, immediate, cancellable, address, txid, fee, requested_at, updated_at, fail_reason, version, email,
	address_secret, address_deadline`

// Refund joins a refund's new state and its events: a refund with Version
// 0 is inserted (a guid the store used already fails with ErrDuplicate),
// any other is written only if its stored version is still Version (else
// the unit fails with ErrConflict). Its events go to the outbox under
// SubjectRefund with the refund as their snapshot. When the unit commits,
// r.Version is the stored one.
func (u *Unit) Refund(r *refund.Refund, notes []refund.Notification) error {
	next := *r
	next.Version++
	if r.Version == 0 {
		_, err := u.tx.ExecContext(u.ctx, `INSERT INTO refunds (`+refundColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
			next.ID, next.StoreID, next.InvoiceID, next.Token, next.GUID, next.Reference, string(next.Status),
			next.Amount.String(), next.Currency, next.Rate.String(), next.NotificationURL, int64(next.Sats), next.BuyerPaysFee, next.Immediate, next.Cancellable,
			next.Address, next.TxID, int64(next.Fee), millis(next.RequestedAt), millis(next.UpdatedAt), next.FailReason,
			next.Version, next.Email, next.AddressSecret, millis(next.AddressDeadline))
		if err != nil {
			return fmt.Errorf("insert refund %s: %w", r.ID, dupErr(err))
		}
	} else {
		res, err := u.tx.ExecContext(u.ctx, `UPDATE refunds SET status = $3, address = $4, txid = $5, fee = $6,
			updated_at = $7, fail_reason = $8, address_deadline = $9, version = version + 1 WHERE id = $1 AND version = $2`,
			r.ID, r.Version, string(next.Status), next.Address, next.TxID, int64(next.Fee), millis(next.UpdatedAt),
			next.FailReason, millis(next.AddressDeadline))
		if err := versioned(res, err, "refund", r.ID, r.Version); err != nil {
			return err
		}
	}
	for _, n := range notes {
		err := u.Emit(Event{Subject: SubjectRefund, SubjectID: next.ID, StoreID: next.StoreID, Code: int(n.Code),
			Name: n.Code.Name(), Status: string(n.Status), At: n.At, Snapshot: &next})
		if err != nil {
			return err
		}
	}
	u.refunds = append(u.refunds, r)
	return nil
}

// GetRefund loads a refund or fails with ErrNotFound.
func (db *DB) GetRefund(ctx context.Context, id string) (refund.Refund, error) {
	r, err := scanRefund(db.sql.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds WHERE id = $1`, id))
	if err != nil {
		return refund.Refund{}, fmt.Errorf("load refund %s: %w", id, notFound(err))
	}
	return r, nil
}

// GetRefundByGUID loads a store's refund by the client's guid or fails
// with ErrNotFound.
func (db *DB) GetRefundByGUID(ctx context.Context, storeID, guid string) (refund.Refund, error) {
	if guid == "" {
		return refund.Refund{}, fmt.Errorf("load refund by empty guid: %w", ErrNotFound)
	}
	r, err := scanRefund(db.sql.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds
		WHERE store_id = $1 AND guid = $2`, storeID, guid))
	if err != nil {
		return refund.Refund{}, fmt.Errorf("load refund by guid %s: %w", guid, notFound(err))
	}
	return r, nil
}

// InvoiceRefunds returns an invoice's refunds, oldest first.
func (db *DB) InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.Refund, error) {
	rs, err := queryAll(ctx, db, scanRefund, `SELECT `+refundColumns+` FROM refunds
		WHERE invoice_id = $1 ORDER BY requested_at, id`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("load refunds of invoice %s: %w", invoiceID, err)
	}
	return rs, nil
}

// RefundsPastAddressDeadline returns up to limit refunds still waiting
// for their buyer's address (created, without one) whose address
// deadline is at or before now, oldest deadline first.
func (db *DB) RefundsPastAddressDeadline(ctx context.Context, now time.Time, limit int) ([]refund.Refund, error) {
	rs, err := queryAll(ctx, db, scanRefund, `SELECT `+refundColumns+` FROM refunds
		WHERE status = 'created' AND address = '' AND address_deadline > 0 AND address_deadline <= $1
		ORDER BY address_deadline, id LIMIT $2`, millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("refunds past their address deadline: %w", err)
	}
	return rs, nil
}

// StoreRefunds returns a store's latest refunds, newest first, at most
// limit of them; status, when not "", keeps those in that status.
func (db *DB) StoreRefunds(ctx context.Context, storeID string, status refund.Status, limit int) ([]refund.Refund, error) {
	q, args := `SELECT `+refundColumns+` FROM refunds WHERE store_id = $1`, []any{storeID}
	if status != "" {
		q, args = q+` AND status = $2`, append(args, string(status))
	}
	args = append(args, limit)
	rs, err := queryAll(ctx, db, scanRefund, q+fmt.Sprintf(` ORDER BY requested_at DESC, id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list refunds of store %s: %w", storeID, err)
	}
	return rs, nil
}

// versioned checks an UPDATE … WHERE version = $n of one row: an error
// names the row, and no row changed is ErrConflict (it was changed since
// it was read at version).
func versioned(res sql.Result, err error, kind, id string, version int64) error {
	if err != nil {
		return fmt.Errorf("update %s %s: %w", kind, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update %s %s: %w", kind, id, err)
	} else if n == 0 {
		return fmt.Errorf("%s %s at version %d: %w", kind, id, version, ErrConflict)
	}
	return nil
}

// StoreHasAddress reports whether address is one a store's invoices were
// given to be paid at: a refund must never pay the store itself.
func (db *DB) StoreHasAddress(ctx context.Context, storeID, address string) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE address = $1 AND store_id = $2`,
		address, storeID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up address of store %s: %w", storeID, err)
	}
	return n > 0, nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func scanRefund(r scanner) (refund.Refund, error) {
	var (
		x                    refund.Refund
		status, amount, rate string
		sats, fee            int64
		requested, updated   int64
		deadline             int64
	)
	err := r.Scan(&x.ID, &x.StoreID, &x.InvoiceID, &x.Token, &x.GUID, &x.Reference, &status, &amount, &x.Currency,
		&rate, &x.NotificationURL, &sats, &x.BuyerPaysFee, &x.Immediate, &x.Cancellable, &x.Address, &x.TxID, &fee, &requested, &updated,
		&x.FailReason, &x.Version, &x.Email, &x.AddressSecret, &deadline)
	if err != nil {
		return x, err
	}
	x.Status = refund.Status(status)
	if x.Amount, err = decimal.NewFromString(amount); err != nil {
		return x, fmt.Errorf("refund %s: amount %q: %w", x.ID, amount, err)
	}
	if x.Rate, err = decimal.NewFromString(rate); err != nil {
		return x, fmt.Errorf("refund %s: rate %q: %w", x.ID, rate, err)
	}
	x.Sats, x.Fee = money.Sats(sats), money.Sats(fee)
	x.RequestedAt, x.UpdatedAt = fromMillis(requested), fromMillis(updated)
	x.AddressDeadline = fromMillis(deadline)
	return x, nil
}

// InvoicesForAutoRefund returns up to limit invoices of stores that refund
// exceptions automatically whose exception may call for an automatic
// refund (refund.Automatic decides) and that have none yet.
func (db *DB) InvoicesForAutoRefund(ctx context.Context, limit int) ([]invoice.Invoice, error) {
	out, err := queryAll(ctx, db, scanInvoice, `SELECT `+prefixed("i.", invoiceColumns)+` FROM invoices i
		JOIN stores s ON s.id = i.store_id
		WHERE i.exception IN ('paidPartial', 'paidOver') AND i.status IN ('expired', 'complete') AND s.auto_refunds
		AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.store_id = i.store_id AND r.guid = CAST($1 AS TEXT) || i.id)
		ORDER BY i.updated_at, i.id LIMIT $2`, refund.AutoPrefix, limit)
	if err != nil {
		return nil, fmt.Errorf("invoices for automatic refunds: %w", err)
	}
	return out, nil
}

// AutoRefundsWaiting returns the automatic refunds not yet paid
// (created, without a spend sent), whose invoices may have been credited
// since.
func (db *DB) AutoRefundsWaiting(ctx context.Context) ([]refund.Refund, error) {
	out, err := queryAll(ctx, db, scanRefund, `SELECT `+refundColumns+` FROM refunds
		WHERE status = 'created' AND guid LIKE $1 ORDER BY requested_at, id`, refund.AutoPrefix+"%")
	if err != nil {
		return nil, fmt.Errorf("automatic refunds waiting: %w", err)
	}
	return out, nil
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = alias + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
