package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// The codes nodes answer sendrawtransaction with when they will not take
// a transaction: -25 (missing or spent inputs, orphan), -26 (rejected by
// policy or consensus), -27 (already in the chain); -32601 is JSON-RPC's
// method not found.
const (
	codeTxError         = -25
	codeTxRejected      = -26
	codeTxAlreadyInUTXO = -27
	codeMethodNotFound  = -32601
)

// ErrTxRejected: the node refused the transaction (its inputs are spent or
// missing, its fee too low, a script fails…). The wrapped *Error says why.
var ErrTxRejected = errors.New("the node rejected the transaction")

// SendTx sends a signed transaction to the node and returns its txid.
// Sending is idempotent: a node that already has the transaction, in its
// mempool or in a block, counts as having accepted it, so a retry after a
// crash never fails for having succeeded before.
func (c *Client) SendTx(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("sendrawtransaction: serialize: %w", err)
	}
	txid := tx.TxHash()
	var got string
	err := c.Call(ctx, "sendrawtransaction", &got, hex.EncodeToString(buf.Bytes()))
	var rpcErr *Error
	switch {
	case err == nil:
		if got != txid.String() {
			return txid, fmt.Errorf("sendrawtransaction: node answered txid %q for %s", got, txid)
		}
		return txid, nil
	case errors.As(err, &rpcErr) && alreadyHas(rpcErr):
		return txid, nil
	case errors.As(err, &rpcErr) && (rpcErr.Code == codeTxError || rpcErr.Code == codeTxRejected):
		return txid, fmt.Errorf("sendrawtransaction %s: %w: %w", txid, ErrTxRejected, rpcErr)
	}
	return txid, fmt.Errorf("sendrawtransaction %s: %w", txid, err)
}

// alreadyHas reports an answer that means the node has the transaction:
// Bitcoin Core's -27 and txn-already-in-mempool/txn-already-known, btcd's
// "already have transaction" and "transaction already exists".
func alreadyHas(e *Error) bool {
	if e.Code == codeTxAlreadyInUTXO {
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "already have transaction") || strings.Contains(m, "txn-already-in-mempool") ||
		strings.Contains(m, "txn-already-known") || strings.Contains(m, "transaction already exists") ||
		strings.Contains(m, "transaction already in block chain")
}

// FeeRate asks the node for the fee rate, in satoshis per vbyte rounded
// up, that should confirm a transaction within blocks: Bitcoin Core's
// estimatesmartfee, else btcd's estimatefee. ok is false when the node
// has no estimate yet (a new node, regtest).
func (c *Client) FeeRate(ctx context.Context, blocks int) (rate money.Sats, ok bool, err error) {
	var smart struct {
		FeeRate *json.Number `json:"feerate"`
	}
	err = c.Call(ctx, "estimatesmartfee", &smart, blocks)
	var rpcErr *Error
	switch {
	case err == nil:
		if smart.FeeRate == nil {
			return 0, false, nil
		}
		return perVByte(*smart.FeeRate)
	case !errors.As(err, &rpcErr) || rpcErr.Code != codeMethodNotFound:
		return 0, false, fmt.Errorf("estimatesmartfee: %w", err)
	}
	var n json.Number
	if err := c.Call(ctx, "estimatefee", &n, blocks); err != nil {
		if errors.As(err, &rpcErr) {
			return 0, false, nil // btcd answers an error while it has too little data
		}
		return 0, false, fmt.Errorf("estimatefee: %w", err)
	}
	return perVByte(n)
}

// perVByte converts a fee rate in BTC per 1000 vbytes to satoshis per
// vbyte, rounded up; a rate of zero or below (btcd's -1) is no estimate.
func perVByte(n json.Number) (money.Sats, bool, error) {
	d, err := decimal.NewFromString(n.String())
	if err != nil {
		return 0, false, fmt.Errorf("fee rate %q: %w", n, err)
	}
	if !d.IsPositive() {
		return 0, false, nil
	}
	sats := d.Shift(5).Ceil() // ×1e8 sats per BTC ÷ 1000 vbytes
	if !sats.IsInteger() || sats.GreaterThan(decimal.NewFromInt(1_000_000)) {
		return 0, false, fmt.Errorf("fee rate %q: not a plausible rate", n)
	}
	return money.Sats(sats.IntPart()), true, nil
}

// PrevTx returns the raw transaction txid, which a legacy (P2PKH) input's
// signer needs whole: from the block at height when it is confirmed
// (getblockhash, getblock: no transaction index needed, on Bitcoin Core or
// btcd), from the mempool when height is 0.
func (c *Client) PrevTx(ctx context.Context, txid string, height int32) ([]byte, error) {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return nil, fmt.Errorf("previous transaction %q: %w", txid, err)
	}
	var tx *wire.MsgTx
	if height > 0 {
		bh, err := c.BlockHash(ctx, height)
		if err != nil {
			return nil, err
		}
		b, err := c.Block(ctx, bh)
		if err != nil {
			return nil, err
		}
		for _, t := range b.Transactions {
			if t.TxHash() == *h {
				tx = t
				break
			}
		}
		if tx == nil {
			return nil, fmt.Errorf("previous transaction %s is not in block %d: %w", txid, height, ErrTxNotFound)
		}
	} else if tx, err = c.MempoolTx(ctx, *h); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("previous transaction %s: %w", txid, err)
	}
	return buf.Bytes(), nil
}
