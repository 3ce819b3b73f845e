package regtest

import (
	"context"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"
)

// waitTimeout bounds every wait of the harness (sync, relay) so a broken test
// fails instead of hanging when its context has no deadline.
const waitTimeout = 30 * time.Second

// Mine generates count blocks with btcd's own miner, which includes the
// mempool's transactions and pays the rewards to the wallet's mining
// address, and lets the wallet learn the new coins. It returns the hashes of
// the new blocks, oldest first.
func (n *Node) Mine(ctx context.Context, count int) ([]chainhash.Hash, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return nil, err
	}
	if count <= 0 {
		return nil, nil
	}
	ptrs, err := client.Generate(uint32(count))
	if err != nil {
		return nil, fmt.Errorf("regtest: generate %d blocks: %w (see %s)", count, err, n.LogPath())
	}
	hashes := make([]chainhash.Hash, len(ptrs))
	blocks := make([]rpcclient.FutureGetBlockResult, len(ptrs))
	headers := make([]rpcclient.FutureGetBlockHeaderVerboseResult, len(ptrs))
	for i, h := range ptrs {
		hashes[i] = *h
		blocks[i] = client.GetBlockAsync(h)
		headers[i] = client.GetBlockHeaderVerboseAsync(h)
	}
	for i := range ptrs {
		block, err := blocks[i].Receive()
		if err != nil {
			return nil, fmt.Errorf("regtest: getblock %s: %w", hashes[i], err)
		}
		header, err := headers[i].Receive()
		if err != nil {
			return nil, fmt.Errorf("regtest: getblockheader %s: %w", hashes[i], err)
		}
		n.wallet.scanBlock(block, header.Height)
	}
	return hashes, nil
}

// BlockCount returns the height of the node's best chain.
func (n *Node) BlockCount(ctx context.Context) (int64, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return 0, err
	}
	count, err := client.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("regtest: getblockcount: %w", err)
	}
	return count, nil
}

// BestBlockHash returns the hash of the node's best chain tip.
func (n *Node) BestBlockHash(ctx context.Context) (chainhash.Hash, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	h, err := client.GetBestBlockHash()
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: getbestblockhash: %w", err)
	}
	return *h, nil
}

// Block returns a block by hash.
func (n *Node) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return nil, err
	}
	block, err := client.GetBlock(&hash)
	if err != nil {
		return nil, fmt.Errorf("regtest: getblock %s: %w", hash, err)
	}
	return block, nil
}

// blockHeight returns the height of a known block, on the best chain or not.
func (n *Node) blockHeight(ctx context.Context, hash chainhash.Hash) (int32, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return 0, err
	}
	header, err := client.GetBlockHeaderVerbose(&hash)
	if err != nil {
		return 0, fmt.Errorf("regtest: getblockheader %s: %w", hash, err)
	}
	return header.Height, nil
}

// Mempool returns the ids of the transactions in the node's mempool.
func (n *Node) Mempool(ctx context.Context) ([]chainhash.Hash, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return nil, err
	}
	ptrs, err := client.GetRawMempool()
	if err != nil {
		return nil, fmt.Errorf("regtest: getrawmempool: %w", err)
	}
	hashes := make([]chainhash.Hash, len(ptrs))
	for i, h := range ptrs {
		hashes[i] = *h
	}
	return hashes, nil
}

// InMempool reports whether txid is in the node's mempool.
func (n *Node) InMempool(ctx context.Context, txid chainhash.Hash) (bool, error) {
	set, err := n.mempoolSet(ctx)
	if err != nil {
		return false, err
	}
	return set[txid], nil
}

// mempoolSet returns the node's mempool as a set.
func (n *Node) mempoolSet(ctx context.Context) (map[chainhash.Hash]bool, error) {
	hashes, err := n.Mempool(ctx)
	if err != nil {
		return nil, err
	}
	set := make(map[chainhash.Hash]bool, len(hashes))
	for _, h := range hashes {
		set[h] = true
	}
	return set, nil
}

// WaitForTx waits until txid is in the node's mempool, as after a relay from
// a peer.
func (n *Node) WaitForTx(ctx context.Context, txid chainhash.Hash) error {
	return poll(ctx, func() (bool, error) { return n.InMempool(ctx, txid) },
		"transaction %s in the mempool of %s", txid, n.RPCHost())
}

// SendTx broadcasts a signed transaction through the node.
func (n *Node) SendTx(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	txid, err := client.SendRawTransaction(tx, true)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: sendrawtransaction %s: %w", tx.TxHash(), err)
	}
	return *txid, nil
}

// clientFor returns the RPC client after checking that ctx is still live.
func (n *Node) clientFor(ctx context.Context) (*rpcclient.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return n.Client()
}

// poll calls done every 20 ms until it reports true, fails, ctx ends or
// waitTimeout passes. The format and args describe what is awaited.
func poll(ctx context.Context, done func() (bool, error), format string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("regtest: wait for "+format+": %w", append(args, err)...)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("regtest: wait for "+format+": %w", append(args, ctx.Err())...)
		case <-tick.C:
		}
	}
}
