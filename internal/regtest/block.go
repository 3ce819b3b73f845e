package regtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// witnessCommitmentHeader starts the coinbase output that commits to the
// block's witnesses (BIP141).
var witnessCommitmentHeader = []byte{0xaa, 0x21, 0xa9, 0xed}

// MineBlock builds a block on the node's tip holding exactly txs (none for an
// empty block), with a coinbase paying the subsidy to the wallet, solves its
// proof of work and submits it. Unlike Mine it ignores the mempool, so it can
// confirm a conflicting transaction or leave a payment out of a competing
// chain. The transactions must be valid on the tip, parents before children.
func (n *Node) MineBlock(ctx context.Context, txs ...*wire.MsgTx) (chainhash.Hash, error) {
	client, err := n.clientFor(ctx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	info, err := client.GetBlockChainInfo()
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: getblockchaininfo: %w", err)
	}
	tip, err := chainhash.NewHashFromStr(info.BestBlockHash)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: parse tip hash: %w", err)
	}
	prev, err := client.GetBlockHeader(tip)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: getblockheader %s: %w", tip, err)
	}
	height := info.Blocks + 1
	// A block's time must pass the median of the last eleven.
	stamp := time.Now().Truncate(time.Second)
	if mtp := time.Unix(info.MedianTime+1, 0); stamp.Before(mtp) {
		stamp = mtp
	}
	coinbase, err := n.coinbase(height, txs)
	if err != nil {
		return chainhash.Hash{}, err
	}
	block := wire.NewMsgBlock(&wire.BlockHeader{
		Version:   0x20000000,
		PrevBlock: *tip,
		Timestamp: stamp,
		Bits:      prev.Bits,
	})
	block.AddTransaction(coinbase)
	for _, tx := range txs {
		block.AddTransaction(tx)
	}
	txids := make([]chainhash.Hash, len(block.Transactions))
	for i, tx := range block.Transactions {
		txids[i] = tx.TxHash()
	}
	block.Header.MerkleRoot = merkleRoot(txids)
	if err := solve(&block.Header); err != nil {
		return chainhash.Hash{}, err
	}
	hash := block.BlockHash()
	if err := client.SubmitBlock(btcutil.NewBlock(block), nil); err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: submitblock %s at height %d: %w (see %s)",
			hash, height, err, n.LogPath())
	}
	n.wallet.scanBlock(block, height)
	return hash, nil
}

// MineEmpty mines count blocks holding only their coinbase, whatever the
// mempool holds, and returns their hashes, oldest first.
func (n *Node) MineEmpty(ctx context.Context, count int) ([]chainhash.Hash, error) {
	hashes := make([]chainhash.Hash, 0, count)
	for range count {
		h, err := n.MineBlock(ctx)
		if err != nil {
			return hashes, err
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// coinbase returns the coinbase for a block at height holding txs: the height
// (BIP34) in its script, the subsidy paid to the wallet's mining address, and
// the witness commitment when a transaction has witness data. Fees are left
// unclaimed, which is valid and spares looking up the inputs.
func (n *Node) coinbase(height int32, txs []*wire.MsgTx) (*wire.MsgTx, error) {
	// The nanosecond tag keeps coinbases of competing blocks at the same
	// height distinct.
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], uint64(time.Now().UnixNano()))
	sigScript, err := txscript.NewScriptBuilder().AddInt64(int64(height)).AddData(tag[:]).Script()
	if err != nil {
		return nil, fmt.Errorf("regtest: coinbase script: %w", err)
	}
	cb := wire.NewMsgTx(wire.TxVersion)
	cb.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	w := n.wallet
	w.mu.Lock()
	script := w.keys[0].script
	w.mu.Unlock()
	cb.AddTxOut(wire.NewTxOut(subsidy(height, n.Params().SubsidyReductionInterval), script))

	hasWitness := false
	for _, tx := range txs {
		hasWitness = hasWitness || tx.HasWitness()
	}
	if !hasWitness {
		return cb, nil
	}
	// The witness root commits to every wtxid, the coinbase's counted as
	// zero, hashed with the 32-byte reserved value the coinbase witness
	// carries.
	var reserved [32]byte
	wtxids := make([]chainhash.Hash, len(txs)+1)
	for i, tx := range txs {
		wtxids[i+1] = tx.WitnessHash()
	}
	root := merkleRoot(wtxids)
	commitment := chainhash.DoubleHashH(append(root[:], reserved[:]...))
	commitScript, err := txscript.NewScriptBuilder().AddOp(txscript.OP_RETURN).
		AddData(append(append([]byte{}, witnessCommitmentHeader...), commitment[:]...)).Script()
	if err != nil {
		return nil, fmt.Errorf("regtest: witness commitment script: %w", err)
	}
	cb.AddTxOut(wire.NewTxOut(0, commitScript))
	cb.TxIn[0].Witness = wire.TxWitness{reserved[:]}
	return cb, nil
}

// subsidy returns the block reward at height: 50 BTC halved every interval
// blocks.
func subsidy(height int32, interval int32) int64 {
	halvings := height / interval
	if halvings >= 64 {
		return 0
	}
	return (50 * btcutil.SatoshiPerBitcoin) >> uint(halvings)
}

// merkleRoot returns the Bitcoin merkle root of hashes: pairs are double
// SHA-256 hashed level by level, an odd last hash paired with itself.
func merkleRoot(hashes []chainhash.Hash) chainhash.Hash {
	level := append([]chainhash.Hash(nil), hashes...)
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			next = append(next, chainhash.DoubleHashH(append(level[i][:], level[i+1][:]...)))
		}
		level = next
	}
	return level[0]
}

// solve varies the header's nonce until its hash meets the target its bits
// encode. Regtest's target accepts about every second hash.
func solve(h *wire.BlockHeader) error {
	target := compactToBig(h.Bits)
	for nonce := uint32(0); ; nonce++ {
		h.Nonce = nonce
		hash := h.BlockHash()
		if hashToBig(hash).Cmp(target) <= 0 {
			return nil
		}
		if nonce == ^uint32(0) {
			return fmt.Errorf("regtest: no nonce solves a block with bits %08x", h.Bits)
		}
	}
}

// compactToBig decodes the compact target encoding of a header's bits: a
// sign bit, a 23-bit mantissa and a byte-length exponent.
func compactToBig(bits uint32) *big.Int {
	mantissa := int64(bits & 0x007fffff)
	exponent := uint(bits >> 24)
	n := big.NewInt(mantissa)
	if exponent <= 3 {
		n.Rsh(n, 8*(3-exponent))
	} else {
		n.Lsh(n, 8*(exponent-3))
	}
	if bits&0x00800000 != 0 {
		n.Neg(n)
	}
	return n
}

// hashToBig reads a block hash, stored little-endian, as a number.
func hashToBig(h chainhash.Hash) *big.Int {
	var be [chainhash.HashSize]byte
	for i := range h {
		be[len(h)-1-i] = h[i]
	}
	return new(big.Int).SetBytes(be[:])
}
