package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Coin is an output paying one of a store's scripts, as the coins table
// holds it: the wallet's coin, its store, the invoice whose address it
// pays ("" for none), the transaction spending it ("" while unspent)
// and that spend's height (0 while in the mempool), and when the watcher
// first saw it.
type Coin struct {
	wallet.Coin
	StoreID     string
	InvoiceID   string
	SpentBy     string
	SpentHeight int32
	SeenAt      time.Time
}

// CoinSpend says that SpentBy spends the coin TxID:Vout at Height (0: in
// the mempool); SpentBy "" makes the coin unspent again (its spender left
// the chain and the mempool).
type CoinSpend struct {
	TxID    string
	Vout    uint32
	SpentBy string
	Height  int32
}

// Outpoint names a transaction output.
type Outpoint struct {
	TxID string
	Vout uint32
}

// CoinChanges are the chain watcher's coin news, stored with a
// ChainUpdate. They are applied in this order, each idempotently.
type CoinChanges struct {
	// Seen are coins to insert or, when known, whose height changes
	// (seen_at, the spend and the coin's data stay; a known coin without
	// an invoice takes Seen's).
	Seen []Coin
	// Spends set or clear what spends known coins.
	Spends []CoinSpend
	// Removed are coins whose transaction left the chain and the
	// mempool.
	Removed []Outpoint
}

// CoinFilter picks the coins Coins returns.
type CoinFilter int

// The coin filters.
const (
	// CoinsUnspent are the coins no transaction spends, not even one in
	// the mempool: what a new spend may use.
	CoinsUnspent CoinFilter = iota
	// CoinsAll are every coin the store has had.
	CoinsAll
)

const coinColumns = `txid, vout, store_id, amount, script, branch, key_index, height, invoice_id,
	spent_txid, spent_height, seen_at`

// writeCoins applies the chain watcher's coin changes. Applying the same
// changes twice changes nothing the second time.
func writeCoins(ctx context.Context, tx *sql.Tx, c CoinChanges) error {
	for _, s := range c.Seen {
		_, err := tx.ExecContext(ctx, `INSERT INTO coins (`+coinColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', 0, $10)
			ON CONFLICT (txid, vout) DO UPDATE SET height = excluded.height,
				invoice_id = CASE WHEN coins.invoice_id = '' THEN excluded.invoice_id ELSE coins.invoice_id END`,
			s.TxID, int64(s.Vout), s.StoreID, int64(s.Amount), s.Script, int64(s.Branch), int64(s.Index),
			s.Height, s.InvoiceID, millis(s.SeenAt))
		if err != nil {
			return fmt.Errorf("store coin %s:%d: %w", s.TxID, s.Vout, err)
		}
	}
	for _, s := range c.Spends {
		_, err := tx.ExecContext(ctx, `UPDATE coins SET spent_txid = $3, spent_height = $4 WHERE txid = $1 AND vout = $2`,
			s.TxID, int64(s.Vout), s.SpentBy, s.Height)
		if err != nil {
			return fmt.Errorf("mark coin %s:%d spent by %q: %w", s.TxID, s.Vout, s.SpentBy, err)
		}
	}
	for _, r := range c.Removed {
		if _, err := tx.ExecContext(ctx, `DELETE FROM coins WHERE txid = $1 AND vout = $2`, r.TxID, int64(r.Vout)); err != nil {
			return fmt.Errorf("remove coin %s:%d: %w", r.TxID, r.Vout, err)
		}
	}
	return nil
}

// Coins returns a store's coins that pass filter, oldest seen first.
func (db *DB) Coins(ctx context.Context, storeID string, filter CoinFilter) ([]Coin, error) {
	q := `SELECT ` + coinColumns + ` FROM coins WHERE store_id = $1`
	if filter == CoinsUnspent {
		q += ` AND spent_txid = ''`
	}
	out, err := db.queryCoins(ctx, q+` ORDER BY seen_at, txid, vout`, storeID)
	if err != nil {
		return nil, fmt.Errorf("coins of store %s: %w", storeID, err)
	}
	return out, nil
}

// The spendable coins are a store's confirmed unspent coins, what a new
// spend may use. The spend engine reads only the few a spend can use
// (wallet.Candidates) through these three queries, on the index by
// amount (migration 0021).
const spendableCoins = `SELECT ` + coinColumns + ` FROM coins
	WHERE store_id = $1 AND spent_txid = '' AND height > 0`

// SpendableBetween returns a store's spendable coins with lo <= amount <=
// hi, oldest seen first (Coins' order).
func (db *DB) SpendableBetween(ctx context.Context, storeID string, lo, hi money.Sats) ([]Coin, error) {
	out, err := db.queryCoins(ctx, spendableCoins+` AND amount >= $2 AND amount <= $3 ORDER BY seen_at, txid, vout`,
		storeID, int64(lo), int64(hi))
	if err != nil {
		return nil, fmt.Errorf("coins of store %s between %d and %d sats: %w", storeID, lo, hi, err)
	}
	return out, nil
}

// SpendableAbove returns up to limit of a store's spendable coins with
// amount > min, the smallest first, those of one amount oldest seen first.
func (db *DB) SpendableAbove(ctx context.Context, storeID string, min money.Sats, limit int) ([]Coin, error) {
	out, err := db.queryCoins(ctx, spendableCoins+` AND amount > $2 ORDER BY amount, seen_at, txid, vout LIMIT $3`,
		storeID, int64(min), limit)
	if err != nil {
		return nil, fmt.Errorf("coins of store %s above %d sats: %w", storeID, min, err)
	}
	return out, nil
}

// NthLargestSpendable returns the amount of a store's n-th largest
// spendable coin (n from 1); false when it has fewer.
func (db *DB) NthLargestSpendable(ctx context.Context, storeID string, n int) (money.Sats, bool, error) {
	var amount int64
	err := db.sql.QueryRowContext(ctx, `SELECT amount FROM coins WHERE store_id = $1 AND spent_txid = '' AND height > 0
		ORDER BY amount DESC LIMIT 1 OFFSET $2`, storeID, n-1).Scan(&amount)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("the %d-th largest coin of store %s: %w", n, storeID, err)
	}
	return money.Sats(amount), true, nil
}

// CoinsSpentBy returns the coins the transaction txid spends, as far as
// the watcher knows: none when it is unknown, or when another transaction
// spends them instead (a double spend) or it left the chain and the
// mempool.
func (db *DB) CoinsSpentBy(ctx context.Context, txid string) ([]Coin, error) {
	out, err := db.queryCoins(ctx, `SELECT `+coinColumns+` FROM coins WHERE spent_txid = $1 ORDER BY txid, vout`, txid)
	if err != nil {
		return nil, fmt.Errorf("coins spent by %s: %w", txid, err)
	}
	return out, nil
}

// CoinsToWatch returns the coins the chain watcher follows after a
// restart: every unspent coin and every spent one whose spend is
// unconfirmed or above height (a reorg could still undo it).
func (db *DB) CoinsToWatch(ctx context.Context, height int32) ([]Coin, error) {
	out, err := db.queryCoins(ctx, `SELECT `+coinColumns+` FROM coins
		WHERE spent_txid = '' OR spent_height = 0 OR spent_height > $1 ORDER BY txid, vout`, height)
	if err != nil {
		return nil, fmt.Errorf("coins to watch: %w", err)
	}
	return out, nil
}

func (db *DB) queryCoins(ctx context.Context, q string, args ...any) ([]Coin, error) {
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Coin
	for rows.Next() {
		var (
			c                         Coin
			vout, amount, branch, idx int64
			height, spentHeight, seen int64
		)
		err := rows.Scan(&c.TxID, &vout, &c.StoreID, &amount, &c.Script, &branch, &idx, &height, &c.InvoiceID,
			&c.SpentBy, &spentHeight, &seen)
		if err != nil {
			return nil, err
		}
		c.Vout, c.Amount, c.Branch, c.Index = uint32(vout), money.Sats(amount), uint32(branch), uint32(idx)
		c.Height, c.SpentHeight, c.SeenAt = int32(height), int32(spentHeight), fromMillis(seen)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ScriptOwner is an invoice's receiving script and the key behind it
// (branch 0), for the chain watcher's store-wide script index.
type ScriptOwner struct {
	StoreID   string
	InvoiceID string
	Script    []byte
	Index     uint32
}

// InvoiceScripts calls fn with every invoice's on-chain receiving script,
// oldest invoice first (a reused address last with its newest invoice).
// It streams: at a million invoices it holds one row at a time.
func (db *DB) InvoiceScripts(ctx context.Context, fn func(ScriptOwner) error) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT store_id, id, script, key_index FROM invoices ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("invoice scripts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o ScriptOwner
		var idx int64
		if err := rows.Scan(&o.StoreID, &o.InvoiceID, &o.Script, &idx); err != nil {
			return fmt.Errorf("invoice scripts: %w", err)
		}
		if len(o.Script) == 0 {
			continue
		}
		o.Index = uint32(idx)
		if err := fn(o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("invoice scripts: %w", err)
	}
	return nil
}

// CoinsAt returns the coins at the outpoints the watcher knows, by
// outpoint; an outpoint it does not know (its transaction left the chain
// and the mempool) is absent from the map.
func (db *DB) CoinsAt(ctx context.Context, outpoints []Outpoint) (map[Outpoint]Coin, error) {
	out := make(map[Outpoint]Coin, len(outpoints))
	for start := 0; start < len(outpoints); start += 200 {
		batch := outpoints[start:min(start+200, len(outpoints))]
		q := `SELECT ` + coinColumns + ` FROM coins WHERE (txid, vout) IN (`
		args := make([]any, 0, 2*len(batch))
		for i, op := range batch {
			if i > 0 {
				q += `, `
			}
			q += fmt.Sprintf("($%d, $%d)", len(args)+1, len(args)+2)
			args = append(args, op.TxID, int64(op.Vout))
		}
		coins, err := db.queryCoins(ctx, q+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("coins at %d outpoints: %w", len(outpoints), err)
		}
		for _, c := range coins {
			out[Outpoint{TxID: c.TxID, Vout: c.Vout}] = c
		}
	}
	return out, nil
}
