package store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
)

const spendColumns = `id, store_id, kind, subject_id, status, outputs, inputs, change, change_index, fee_rate, fee,
	psbt, txid, tx, height, created_at, updated_at, fail_reason, version, replaced, bump`

// openSpendStatuses is spend.Status.Open as SQL.
const openSpendStatuses = `('unsigned', 'signed', 'broadcast', 'confirmed')`

// Spend joins a spend's new state: a spend with Version 0 is inserted (a
// subject that has an open spend already fails with ErrDuplicate: one
// refund, one transaction), any other is written only if its stored
// version is still Version (else the unit fails with ErrConflict). When
// the unit commits, s.Version is the stored one.
func (u *Unit) Spend(s *spend.Spend) error {
	outputs, err := json.Marshal(s.Outputs)
	if err != nil {
		return fmt.Errorf("spend %s: outputs: %w", s.ID, err)
	}
	inputs, err := json.Marshal(s.Inputs)
	if err != nil {
		return fmt.Errorf("spend %s: inputs: %w", s.ID, err)
	}
	psbt, tx := base64.StdEncoding.EncodeToString(s.PSBT), hex.EncodeToString(s.Tx)
	replaced, err := json.Marshal(append([]string{}, s.Replaced...))
	if err != nil {
		return fmt.Errorf("spend %s: replaced: %w", s.ID, err)
	}
	var bump []byte
	if s.Bump != nil {
		if bump, err = json.Marshal(s.Bump); err != nil {
			return fmt.Errorf("spend %s: bump: %w", s.ID, err)
		}
	}
	if s.Version == 0 {
		_, err = u.tx.ExecContext(u.ctx, `INSERT INTO spends (`+spendColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1, $19, $20)`,
			s.ID, s.StoreID, string(s.Kind), s.SubjectID, string(s.Status), string(outputs), string(inputs),
			int64(s.Change), int64(s.ChangeIndex), int64(s.FeeRate), int64(s.Fee), psbt, s.TxID, tx, s.Height,
			millis(s.CreatedAt), millis(s.UpdatedAt), s.FailReason, string(replaced), string(bump))
		if err != nil {
			return fmt.Errorf("insert spend %s: %w", s.ID, dupErr(err))
		}
	} else {
		res, err := u.tx.ExecContext(u.ctx, `UPDATE spends SET status = $3, outputs = $4, inputs = $5, change = $6,
			change_index = $7, fee_rate = $8, fee = $9, psbt = $10, txid = $11, tx = $12, height = $13, updated_at = $14,
			fail_reason = $15, replaced = $16, bump = $17, version = version + 1 WHERE id = $1 AND version = $2`,
			s.ID, s.Version, string(s.Status), string(outputs), string(inputs), int64(s.Change), int64(s.ChangeIndex),
			int64(s.FeeRate), int64(s.Fee), psbt, s.TxID, tx, s.Height, millis(s.UpdatedAt), s.FailReason,
			string(replaced), string(bump))
		if err := versioned(res, dupErr(err), "spend", s.ID, s.Version); err != nil {
			return err
		}
	}
	u.spends = append(u.spends, s)
	return nil
}

// GetSpend loads a spend or fails with ErrNotFound.
func (db *DB) GetSpend(ctx context.Context, id string) (spend.Spend, error) {
	s, err := scanSpend(db.sql.QueryRowContext(ctx, `SELECT `+spendColumns+` FROM spends WHERE id = $1`, id))
	if err != nil {
		return spend.Spend{}, fmt.Errorf("load spend %s: %w", id, notFound(err))
	}
	return s, nil
}

// OpenSpendOf loads the open spend of a subject (a refund, a payout batch)
// or fails with ErrNotFound.
func (db *DB) OpenSpendOf(ctx context.Context, kind spend.Kind, subjectID string) (spend.Spend, error) {
	s, err := scanSpend(db.sql.QueryRowContext(ctx, `SELECT `+spendColumns+` FROM spends
		WHERE kind = $1 AND subject_id = $2 AND status IN `+openSpendStatuses, string(kind), subjectID))
	if err != nil {
		return spend.Spend{}, fmt.Errorf("load the open spend of %s %s: %w", kind, subjectID, notFound(err))
	}
	return s, nil
}

// Spends returns a store's spends in the given statuses (every status
// when none is given), oldest first.
func (db *DB) Spends(ctx context.Context, storeID string, statuses ...spend.Status) ([]spend.Spend, error) {
	q, args := `SELECT `+spendColumns+` FROM spends WHERE store_id = $1`, []any{storeID}
	q, args = withStatuses(q, args, statuses)
	out, err := queryAll(ctx, db, scanSpend, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list the spends of store %s: %w", storeID, err)
	}
	return out, nil
}

// SpendsOf returns every spend (in any status) a store made for the
// subjects of one kind, such as an invoice's refunds, oldest first.
func (db *DB) SpendsOf(ctx context.Context, storeID string, kind spend.Kind, subjectIDs ...string) ([]spend.Spend, error) {
	if len(subjectIDs) == 0 {
		return nil, nil
	}
	q, args := `SELECT `+spendColumns+` FROM spends WHERE store_id = $1 AND kind = $2 AND subject_id IN (`,
		[]any{storeID, string(kind)}
	for i, id := range subjectIDs {
		if i > 0 {
			q += `, `
		}
		args = append(args, id)
		q += fmt.Sprintf("$%d", len(args))
	}
	out, err := queryAll(ctx, db, scanSpend, q+`) ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list the spends of %d %ss of store %s: %w", len(subjectIDs), kind, storeID, err)
	}
	return out, nil
}

// SpendsIn returns every store's spends in the given statuses, oldest
// first: what the spend engine follows.
func (db *DB) SpendsIn(ctx context.Context, statuses ...spend.Status) ([]spend.Spend, error) {
	q, args := withStatuses(`SELECT `+spendColumns+` FROM spends WHERE 1 = 1`, nil, statuses)
	out, err := queryAll(ctx, db, scanSpend, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list spends: %w", err)
	}
	return out, nil
}

func withStatuses(q string, args []any, statuses []spend.Status) (string, []any) {
	if len(statuses) == 0 {
		return q, args
	}
	q += ` AND status IN (`
	for i, st := range statuses {
		if i > 0 {
			q += `, `
		}
		args = append(args, string(st))
		q += fmt.Sprintf("$%d", len(args))
	}
	return q + `)`, args
}

// NextChangeIndex returns the first index of the store's change branch no
// spend has used.
func (db *DB) NextChangeIndex(ctx context.Context, storeID string) (uint32, error) {
	var next int64
	err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(change_index) + 1, 0) FROM spends
		WHERE store_id = $1 AND change > 0`, storeID).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("next change index of store %s: %w", storeID, err)
	}
	return uint32(next), nil
}

func scanSpend(r scanner) (spend.Spend, error) {
	var (
		s                                       spend.Spend
		kind, status, outputs, inputs, psbt, tx string
		change, changeIndex, feeRate, fee       int64
		created, updated                        int64
		replaced, bump                          string
	)
	err := r.Scan(&s.ID, &s.StoreID, &kind, &s.SubjectID, &status, &outputs, &inputs, &change, &changeIndex, &feeRate,
		&fee, &psbt, &s.TxID, &tx, &s.Height, &created, &updated, &s.FailReason, &s.Version, &replaced, &bump)
	if err != nil {
		return s, err
	}
	s.Kind, s.Status = spend.Kind(kind), spend.Status(status)
	if err := json.Unmarshal([]byte(outputs), &s.Outputs); err != nil {
		return s, fmt.Errorf("spend %s: outputs: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(inputs), &s.Inputs); err != nil {
		return s, fmt.Errorf("spend %s: inputs: %w", s.ID, err)
	}
	if s.PSBT, err = base64.StdEncoding.DecodeString(psbt); err != nil {
		return s, fmt.Errorf("spend %s: psbt: %w", s.ID, err)
	}
	if s.Tx, err = hex.DecodeString(tx); err != nil {
		return s, fmt.Errorf("spend %s: tx: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(replaced), &s.Replaced); err != nil {
		return s, fmt.Errorf("spend %s: replaced: %w", s.ID, err)
	}
	if len(s.Replaced) == 0 {
		s.Replaced = nil
	}
	if bump != "" {
		s.Bump = new(spend.Plan)
		if err := json.Unmarshal([]byte(bump), s.Bump); err != nil {
			return s, fmt.Errorf("spend %s: bump: %w", s.ID, err)
		}
	}
	s.Change, s.ChangeIndex = money.Sats(change), uint32(changeIndex)
	s.FeeRate, s.Fee = money.Sats(feeRate), money.Sats(fee)
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updated)
	return s, nil
}

// RefundsToPay returns the refunds the spend engine should pay: created,
// with an address, and no open spend.
func (db *DB) RefundsToPay(ctx context.Context) ([]refund.Refund, error) {
	rs, err := queryAll(ctx, db, scanRefund, `SELECT `+refundColumns+` FROM refunds r
		WHERE status = 'created' AND address <> '' AND NOT EXISTS (SELECT 1 FROM spends s
			WHERE s.kind = 'refund' AND s.subject_id = r.id AND s.status IN `+openSpendStatuses+`)
		ORDER BY requested_at, id`)
	if err != nil {
		return nil, fmt.Errorf("refunds to pay: %w", err)
	}
	return rs, nil
}
