package chain

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
)

// ErrTxNotFound is what a Source answers when asked for a transaction that
// is not in its mempool. It is the same value as rpc.ErrTxNotFound, so an
// RPC client's answers match it with errors.Is.
var ErrTxNotFound = rpc.ErrTxNotFound

// Source is a block-based view of the chain: a Bitcoin Core or btcd node.
// Every method may fail transiently (the node restarts); the watcher
// retries.
type Source interface {
	// Network returns the node's network: mainnet, testnet, testnet4,
	// signet or regtest.
	Network(ctx context.Context) (string, error)
	// Tip returns the height and hash of the node's best block.
	Tip(ctx context.Context) (height int32, hash chainhash.Hash, err error)
	// BlockHash returns the hash of the best chain's block at height.
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
	// Block returns the block with the hash, which may be on a side chain
	// (a block the watcher processed before a reorg).
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
	// Mempool returns the txids currently in the mempool.
	Mempool(ctx context.Context) ([]chainhash.Hash, error)
	// MempoolTx returns a mempool transaction, or ErrTxNotFound when it is
	// no longer there.
	MempoolTx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error)
}

// The RPC client is the Source for Bitcoin Core and btcd.
var _ Source = (*rpc.Client)(nil)

// Clock tells the time; tests pass a fixed one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
