package chain

import (
	"context"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/invoice"
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
	// WatchPayment restores, at start, a payment the store already knows
	// (height 0 while unconfirmed), so reorgs and removals are detected.
	WatchPayment(invoiceID, txid string, vout uint32, height int32)
	// Run watches until ctx is done. A failing backend is retried with
	// backoff; Run returns nil when ctx is done.
	Run(ctx context.Context) error
}
