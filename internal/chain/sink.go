package chain

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Block is a processed block: its height and hash.
type Block struct {
	Height int32
	Hash   chainhash.Hash
}

// Seen reports an output paying a watched invoice, or a change of the
// height at which it confirms (0: back in, or possibly out of, the
// mempool). SeenAt is when the watcher saw it this time; the sink keeps
// the first.
type Seen struct {
	InvoiceID string
	Payment   invoice.Payment
}

// Removed reports that an output reported before left both the chain and
// the mempool: a double-spend, an RBF replacement or a dropped
// transaction.
type Removed struct {
	InvoiceID string
	TxID      string
	Vout      uint32
}

// StoreScript is one of a store's scripts and the key behind it (branch 0
// receive, 1 change; Index on that branch); InvoiceID names the invoice
// whose address it is, "" for none (a change address).
type StoreScript struct {
	StoreID   string
	InvoiceID string
	Script    []byte
	Branch    uint32
	Index     uint32
}

// CoinSeen reports an output paying a StoreScript: a coin the store can
// spend, with its height (0: in the mempool; after a reorg, back in or
// possibly out of it). The same coin is reported again when its height
// changes. SeenAt is when the watcher saw it this time; the sink keeps the
// first.
type CoinSeen struct {
	StoreID   string
	InvoiceID string
	Coin      wallet.Coin
	SeenAt    time.Time
}

// Spent reports that transaction SpentBy spends the coin TxID:Vout at
// Height (0: in the mempool, or back there after a reorg). A later Spent
// of the same coin by another transaction is a double spend that won;
// SpentBy "" means the spender left both the chain and the mempool and the
// coin is unspent again.
type Spent struct {
	TxID    string
	Vout    uint32
	SpentBy string
	Height  int32
}

// CoinRemoved reports that a coin's transaction left both the chain and
// the mempool: the coin no longer exists.
type CoinRemoved struct {
	TxID string
	Vout uint32
}

// Batch is the effect of one processed block (or one reorg, or one mempool
// round). The sink commits it atomically: the blocks become processed in
// the same transaction as the payments change.
type Batch struct {
	// Connected are the blocks now processed, in ascending height.
	Connected []Block
	// DisconnectedAbove is -1, or a height above which the processed
	// blocks were reorged out and must be forgotten.
	DisconnectedAbove int32
	Seen              []Seen
	Removed           []Removed
	// Coins, Spent and CoinsRemoved are what the batch did to the
	// stores' coins; the sink applies them in this order.
	Coins        []CoinSeen
	Spent        []Spent
	CoinsRemoved []CoinRemoved
	// Tip is the highest processed block once the batch is applied;
	// confirmations count from it.
	Tip Block
}

// Sink receives the watcher's output; the store implements it.
type Sink interface {
	// RecentBlocks returns the most recently processed blocks (any order,
	// a few hundred at most), or none on a brand-new database.
	RecentBlocks(ctx context.Context) ([]Block, error)
	// Apply commits a batch atomically. It must be idempotent: applying a
	// batch twice changes nothing the second time. On error the watcher
	// retries the same block later.
	Apply(ctx context.Context, b Batch) error
}

// Backend is what kassa runs to learn of payments: the node watcher or the
// Esplora watcher.
type Backend interface {
	// Watch starts watching the invoice's script (and address, which only
	// the Esplora watcher uses). Watching a script another invoice watched
	// moves it to this invoice.
	Watch(invoiceID string, script []byte, address string)
	// Unwatch stops watching the invoice and forgets its payments.
	Unwatch(invoiceID string)
	// WatchScript adds a store's script to the watch for good: every
	// output paying it, in a block or the mempool, is reported as a
	// CoinSeen whether or not an invoice watches it (a closed invoice's
	// address paid late, a change address). Watching a script again with
	// another owner moves it to that owner.
	WatchScript(s StoreScript)
	// WatchCoin restores, at start, a coin the store knows and its spend
	// (spentBy "" when none; spentHeight 0 while in the mempool), so that
	// its spend, a reorg and its removal are reported.
	WatchCoin(c CoinSeen, spentBy string, spentHeight int32)
	// WatchPayment restores, at start, a payment the store already knows
	// (height 0 while unconfirmed), so reorgs and removals are detected.
	WatchPayment(invoiceID, txid string, vout uint32, height int32)
	// Run watches until ctx is done. A failing backend is retried with
	// backoff; Run returns nil when ctx is done.
	Run(ctx context.Context) error
}
