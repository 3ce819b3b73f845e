package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// chainInfo is the part of getblockchaininfo both nodes answer.
type chainInfo struct {
	Chain         string `json:"chain"`
	Blocks        int32  `json:"blocks"`
	BestBlockHash string `json:"bestblockhash"`
}

// NormaliseNetwork maps a node's chain name to kassa's: Core says main,
// test, testnet4, signet, regtest; btcd says mainnet, testnet3, testnet4,
// signet, regtest, simnet.
func NormaliseNetwork(chain string) string {
	switch chain {
	case "main", "mainnet":
		return "mainnet"
	case "test", "testnet", "testnet3":
		return "testnet"
	}
	return chain
}

// Network returns the node's network in kassa's names.
func (c *Client) Network(ctx context.Context) (string, error) {
	var info chainInfo
	if err := c.Call(ctx, "getblockchaininfo", &info); err != nil {
		return "", err
	}
	if info.Chain == "" {
		return "", fmt.Errorf("getblockchaininfo: no chain name in the answer")
	}
	return NormaliseNetwork(info.Chain), nil
}

// Tip returns the height and hash of the node's best block.
func (c *Client) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	var info chainInfo
	if err := c.Call(ctx, "getblockchaininfo", &info); err != nil {
		return 0, chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(info.BestBlockHash)
	if err != nil {
		return 0, chainhash.Hash{}, fmt.Errorf("getblockchaininfo: bestblockhash: %w", err)
	}
	return info.Blocks, *h, nil
}

// BestBlockHash returns the hash of the node's best block.
func (c *Client) BestBlockHash(ctx context.Context) (chainhash.Hash, error) {
	var s string
	if err := c.Call(ctx, "getbestblockhash", &s); err != nil {
		return chainhash.Hash{}, err
	}
	return parseHash("getbestblockhash", s)
}

// BlockCount returns the height of the node's best block.
func (c *Client) BlockCount(ctx context.Context) (int32, error) {
	var n int32
	if err := c.Call(ctx, "getblockcount", &n); err != nil {
		return 0, err
	}
	return n, nil
}

// BlockHash returns the hash of the best chain's block at height.
func (c *Client) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	var s string
	if err := c.Call(ctx, "getblockhash", &s, height); err != nil {
		return chainhash.Hash{}, err
	}
	return parseHash("getblockhash", s)
}

// Block fetches a block as raw hex (verbosity 0) and decodes it.
func (c *Client) Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
	var s string
	if err := c.Call(ctx, "getblock", &s, hash.String(), 0); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("getblock %s: decode hex: %w", hash, err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("getblock %s: decode block: %w", hash, err)
	}
	if got := b.BlockHash(); got != hash {
		return nil, fmt.Errorf("getblock %s: node sent block %s", hash, got)
	}
	return &b, nil
}

// Mempool returns the txids in the node's mempool.
func (c *Client) Mempool(ctx context.Context) ([]chainhash.Hash, error) {
	var ss []string
	if err := c.Call(ctx, "getrawmempool", &ss); err != nil {
		return nil, err
	}
	out := make([]chainhash.Hash, 0, len(ss))
	for _, s := range ss {
		h, err := parseHash("getrawmempool", s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// MempoolTx fetches a transaction as raw hex (verbose 0) and decodes it.
// Without a transaction index both nodes only find mempool transactions;
// a transaction they do not know is ErrTxNotFound.
func (c *Client) MempoolTx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	var s string
	if err := c.Call(ctx, "getrawtransaction", &s, txid.String(), 0); err != nil {
		return nil, err
	}
	return decodeTx(txid, s)
}

// MempoolTxs fetches several transactions in one batch; the answer for a
// transaction the node does not know is nil.
func (c *Client) MempoolTxs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	calls := make([]BatchCall, len(txids))
	for i, id := range txids {
		calls[i] = BatchCall{Method: "getrawtransaction", Params: []any{id.String(), 0}}
	}
	if err := c.Batch(ctx, calls); err != nil {
		return nil, err
	}
	out := make([]*wire.MsgTx, len(txids))
	for i, call := range calls {
		if errors.Is(call.Err, ErrTxNotFound) {
			continue
		}
		if call.Err != nil {
			return nil, call.Err
		}
		var s string
		if err := json.Unmarshal(call.Result, &s); err != nil {
			return nil, fmt.Errorf("getrawtransaction %s: %w", txids[i], err)
		}
		tx, err := decodeTx(txids[i], s)
		if err != nil {
			return nil, err
		}
		out[i] = tx
	}
	return out, nil
}

func decodeTx(txid chainhash.Hash, s string) (*wire.MsgTx, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: decode hex: %w", txid, err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: decode tx: %w", txid, err)
	}
	return &tx, nil
}

func parseHash(method, s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%s: hash %q: %w", method, s, err)
	}
	return *h, nil
}
