package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// Change is one invoice's new state and the notifications the move caused.
// Invoice.Version must be the version the change was computed from.
type Change struct {
	Invoice *invoice.Invoice
	Notes   []invoice.Notification
}

// ChainBlock is a block the chain watcher has processed.
type ChainBlock struct {
	Height int32
	Hash   string
}

// NoRewind is the ChainUpdate.Rewind of an update that disconnected nothing.
const NoRewind = -1

// ChainUpdate is the chain watcher's progress stored with a Commit.
type ChainUpdate struct {
	// Rewind, when 0 or more, deletes the processed blocks above that
	// height (a reorg disconnected them) before Blocks are stored. Set it
	// to NoRewind when nothing was disconnected: the zero value rewinds to
	// the genesis block.
	Rewind int32
	// Blocks are the newly processed blocks; a stored block at the same
	// height is replaced.
	Blocks []ChainBlock
	// Coins are the store coins the batch revealed, moved or spent.
	Coins CoinChanges
}

// KeepBlocks is how many of the most recent processed blocks the store
// keeps for reorg handling (two days of blocks).
const KeepBlocks = 288

// UpdateInvoice is Commit of one change and no chain progress.
func (db *DB) UpdateInvoice(ctx context.Context, inv *invoice.Invoice, notes []invoice.Notification) error {
	return db.Commit(ctx, []Change{{Invoice: inv, Notes: notes}}, nil)
}

// Commit stores every change, their notifications and the chain progress
// (nil for none) in one transaction. Each invoice is written only if its
// stored version is still Invoice.Version; if any moved on, nothing is
// stored and the error matches ErrConflict. On success every Invoice.Version
// is increased by one. An invoice with payments raises its store's
// last_paid_index to its key index, which the gap-limit governor reads.
func (db *DB) Commit(ctx context.Context, changes []Change, chain *ChainUpdate) error {
	err := db.Unit(ctx, func(u *Unit) error {
		if err := u.Invoices(changes); err != nil {
			return err
		}
		if chain != nil {
			return u.Chain(chain)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d invoice changes: %w", len(changes), err)
	}
	return nil
}

// writeChanges updates the invoices, raises the stores' last paid index
// and queues the notifications. Rows are locked in one order on every
// path, invoices by id and then stores by id, so concurrent PostgreSQL
// transactions cannot deadlock; notifications keep the callers' order.
func writeChanges(ctx context.Context, tx *sql.Tx, insOutbox *sql.Stmt, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	update, err := tx.PrepareContext(ctx, updateInvoiceSQL)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer update.Close()
	byID := make([]int, len(changes))
	for i := range byID {
		byID[i] = i
	}
	slices.SortFunc(byID, func(a, b int) int { return strings.Compare(changes[a].Invoice.ID, changes[b].Invoice.ID) })
	paid := make(map[string]int64) // store id → highest paid key index
	for _, i := range byID {
		inv := changes[i].Invoice
		payments, err := encodePayments(inv.Payments)
		if err != nil {
			return fmt.Errorf("invoice %s: encode payments: %w", inv.ID, err)
		}
		fields, err := json.Marshal(inv.Fields)
		if err != nil {
			return fmt.Errorf("invoice %s: encode fields: %w", inv.ID, err)
		}
		methods, err := encodeMethods(inv.Methods)
		if err != nil {
			return fmt.Errorf("invoice %s: encode methods: %w", inv.ID, err)
		}
		res, err := update.ExecContext(ctx, inv.ID, inv.Version, string(inv.Status), string(inv.Exception),
			millis(inv.PaidAt), millis(inv.UpdatedAt), inv.Cancelled, payments, len(inv.Payments) > 0,
			int64(inv.Due()), string(fields), methods)
		if err != nil {
			return fmt.Errorf("update invoice %s: %w", inv.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update invoice %s: %w", inv.ID, err)
		} else if n == 0 {
			return fmt.Errorf("invoice %s at version %d: %w", inv.ID, inv.Version, ErrConflict)
		}
		if m := inv.Method(invoice.MethodBTC); m != nil && len(inv.Payments) > 0 {
			if cur, ok := paid[inv.StoreID]; !ok || int64(m.KeyIndex) > cur {
				paid[inv.StoreID] = int64(m.KeyIndex)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(paid)) {
		_, err := tx.ExecContext(ctx, `UPDATE stores SET last_paid_index = $2 WHERE id = $1 AND last_paid_index < $2`,
			id, paid[id])
		if err != nil {
			return fmt.Errorf("mark index %d of store %s paid: %w", paid[id], id, err)
		}
	}
	for _, c := range changes {
		if len(c.Notes) == 0 {
			continue
		}
		next := *c.Invoice
		next.Version++
		if err := insertNotes(ctx, insOutbox, &next, c.Notes); err != nil {
			return err
		}
	}
	return nil
}

func writeChain(ctx context.Context, tx *sql.Tx, chain *ChainUpdate) error {
	if err := writeCoins(ctx, tx, chain.Coins); err != nil {
		return err
	}
	if chain.Rewind >= 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM chain_blocks WHERE height > $1`, chain.Rewind); err != nil {
			return fmt.Errorf("rewind blocks above %d: %w", chain.Rewind, err)
		}
	}
	for _, b := range chain.Blocks {
		_, err := tx.ExecContext(ctx, `INSERT INTO chain_blocks (height, hash) VALUES ($1, $2)
			ON CONFLICT (height) DO UPDATE SET hash = excluded.hash`, b.Height, b.Hash)
		if err != nil {
			return fmt.Errorf("store block %d: %w", b.Height, err)
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM chain_blocks
		WHERE height <= (SELECT MAX(height) FROM chain_blocks) - $1`, KeepBlocks)
	if err != nil {
		return fmt.Errorf("prune blocks: %w", err)
	}
	return nil
}

// RecentBlocks returns the processed blocks kept, lowest height first.
func (db *DB) RecentBlocks(ctx context.Context) ([]ChainBlock, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT height, hash FROM chain_blocks ORDER BY height`)
	if err != nil {
		return nil, fmt.Errorf("load recent blocks: %w", err)
	}
	defer rows.Close()
	var out []ChainBlock
	for rows.Next() {
		var b ChainBlock
		if err := rows.Scan(&b.Height, &b.Hash); err != nil {
			return nil, fmt.Errorf("load recent blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load recent blocks: %w", err)
	}
	return out, nil
}
