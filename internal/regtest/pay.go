package regtest

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/kassa-pay/kassa/internal/money"
)

const (
	// rbfSequence signals BIP125 replaceability on every input.
	rbfSequence = wire.MaxTxInSequenceNum - 2

	// witnessInputWeight bounds the witness of one P2WPKH input: the item
	// count, a length-prefixed DER signature with its sighash byte (at most
	// 73 bytes) and a length-prefixed compressed public key.
	witnessInputWeight = 1 + 1 + 73 + 1 + 33

	// dustLimit is the smallest change output the wallet creates; less is
	// left to the fee.
	dustLimit = 1000
)

// Pay sends amount to addr in a transaction with a change output back to the
// wallet, signalling BIP125 replaceability, at the wallet's fee rate. It
// returns once the node has accepted the transaction into its mempool.
func (w *Wallet) Pay(ctx context.Context, addr string, amount money.Sats) (chainhash.Hash, error) {
	return w.PayMany(ctx, []Output{{Address: addr, Amount: amount}})
}

// PayMany sends one transaction paying every output, plus change back to the
// wallet.
func (w *Wallet) PayMany(ctx context.Context, outputs []Output) (chainhash.Hash, error) {
	if len(outputs) == 0 {
		return chainhash.Hash{}, fmt.Errorf("regtest: pay: no outputs")
	}
	tx := wire.NewMsgTx(wire.TxVersion)
	var want int64
	for _, o := range outputs {
		script, err := w.scriptFor(o.Address)
		if err != nil {
			return chainhash.Hash{}, err
		}
		if o.Amount <= 0 {
			return chainhash.Hash{}, fmt.Errorf("regtest: pay %s: amount %d sats is not positive", o.Address, o.Amount)
		}
		tx.AddTxOut(wire.NewTxOut(int64(o.Amount), script))
		want += int64(o.Amount)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	// Most payments need one coin: validate coins up to the amount plus a
	// generous fee first, and all of them only when that falls short.
	var have int64
	for _, target := range []int64{want + 1000*w.feeRate, -1} {
		coins, err := w.spendable(ctx, target)
		if err != nil {
			return chainhash.Hash{}, err
		}
		funded, sum := w.fund(tx.Copy(), want, coins)
		if funded != nil {
			return w.signAndSend(ctx, funded, w.prevOutsOf(funded))
		}
		have = sum
	}
	return chainhash.Hash{}, fmt.Errorf("regtest: pay %d sats: %w (spendable %d sats)", want, ErrInsufficientFunds, have)
}

// fund adds inputs from coins to tx, whose outputs total want, until they
// cover the outputs and the fee, and a change output to the wallet's first
// address unless the change would be dust. It returns nil and the coins'
// total when they do not suffice. The caller holds w.mu.
func (w *Wallet) fund(tx *wire.MsgTx, want int64, coins []*coin) (*wire.MsgTx, int64) {
	var have int64
	for _, c := range coins {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: c.outPoint, Sequence: rbfSequence})
		have += c.value
		change := wire.NewTxOut(0, w.keys[0].script)
		fee := w.fee(tx, change)
		if have < want+fee {
			continue
		}
		if rest := have - want - fee; rest >= dustLimit {
			change.Value = rest
			tx.AddTxOut(change)
		}
		return tx, have
	}
	return nil, have
}

// prevOutsOf returns the wallet's coins that tx spends. The caller holds
// w.mu.
func (w *Wallet) prevOutsOf(tx *wire.MsgTx) map[wire.OutPoint]*coin {
	prevOuts := make(map[wire.OutPoint]*coin, len(tx.TxIn))
	for _, in := range tx.TxIn {
		prevOuts[in.PreviousOutPoint] = w.coins[in.PreviousOutPoint]
	}
	return prevOuts
}

// Replace double-spends txid, a transaction the wallet sent that is still in
// the mempool: the replacement spends the same inputs, pays everything minus
// a higher fee to toAddress and signals replaceability, so btcd evicts the
// original (and the wallet's transactions spending its change) under BIP125.
func (w *Wallet) Replace(ctx context.Context, txid chainhash.Hash, toAddress string) (chainhash.Hash, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	tx, prevOuts, err := w.replacement(txid, toAddress)
	if err != nil {
		return chainhash.Hash{}, err
	}
	newTxid, err := w.signAndSend(ctx, tx, prevOuts)
	if err != nil {
		return chainhash.Hash{}, err
	}
	for _, evicted := range w.descendants(txid) {
		w.forget(evicted)
	}
	return newTxid, nil
}

// Replacement builds and signs, without broadcasting, the transaction Replace
// would send. Mine it on another node (Node.MineBlock) to double-spend txid
// through a reorg.
func (w *Wallet) Replacement(ctx context.Context, txid chainhash.Hash, toAddress string) (*wire.MsgTx, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	tx, prevOuts, err := w.replacement(txid, toAddress)
	if err != nil {
		return nil, err
	}
	if err := w.sign(tx, prevOuts); err != nil {
		return nil, err
	}
	return tx, nil
}

// replacement builds the unsigned double-spend of txid. Its fee covers the
// fees of the original and of the wallet's transactions that descend from it,
// plus the wallet's fee rate on its own size, as BIP125 rules 3 and 4 ask.
// The caller holds w.mu.
func (w *Wallet) replacement(txid chainhash.Hash, toAddress string) (*wire.MsgTx, map[wire.OutPoint]*coin, error) {
	orig, ok := w.sent[txid]
	if !ok {
		return nil, nil, fmt.Errorf("regtest: replace %s: %w", txid, ErrUnknownTx)
	}
	script, err := w.scriptFor(toAddress)
	if err != nil {
		return nil, nil, err
	}
	tx := wire.NewMsgTx(wire.TxVersion)
	var have int64
	for _, in := range orig.tx.TxIn {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.PreviousOutPoint, Sequence: rbfSequence})
		have += orig.prevOuts[in.PreviousOutPoint].value
	}
	var replacedFees int64
	for _, d := range w.descendants(txid) {
		replacedFees += w.sent[d].fee
	}
	out := wire.NewTxOut(0, script)
	fee := replacedFees + w.fee(tx, out)
	if have-fee < dustLimit {
		return nil, nil, fmt.Errorf("regtest: replace %s: %w (inputs %d sats, fee %d sats)",
			txid, ErrInsufficientFunds, have, fee)
	}
	out.Value = have - fee
	tx.AddTxOut(out)
	return tx, orig.prevOuts, nil
}

// descendants returns txid and the wallet's transactions that spend its
// outputs, directly or not. The caller holds w.mu.
func (w *Wallet) descendants(txid chainhash.Hash) []chainhash.Hash {
	out := []chainhash.Hash{txid}
	for i := 0; i < len(out); i++ {
		s, ok := w.sent[out[i]]
		if !ok {
			continue
		}
		for vout := range s.tx.TxOut {
			child, ok := w.spentBy[wire.OutPoint{Hash: out[i], Index: uint32(vout)}]
			if ok {
				out = append(out, child)
			}
		}
	}
	return out
}

// forget drops a transaction the mempool evicted: its outputs, and its marks
// on the coins it spent, which are spendable again unless another
// transaction spent them. The caller holds w.mu.
func (w *Wallet) forget(txid chainhash.Hash) {
	s, ok := w.sent[txid]
	if !ok {
		return
	}
	for vout := range s.tx.TxOut {
		op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
		delete(w.coins, op)
		delete(w.spentBy, op)
	}
	for _, in := range s.tx.TxIn {
		if w.spentBy[in.PreviousOutPoint] == txid {
			delete(w.spentBy, in.PreviousOutPoint)
		}
	}
	delete(w.sent, txid)
}

// signAndSend signs tx, broadcasts it through the node and records it. The
// caller holds w.mu.
func (w *Wallet) signAndSend(ctx context.Context, tx *wire.MsgTx, prevOuts map[wire.OutPoint]*coin) (chainhash.Hash, error) {
	if err := w.sign(tx, prevOuts); err != nil {
		return chainhash.Hash{}, err
	}
	txid, err := w.node.SendTx(ctx, tx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	var in, out int64
	for _, c := range prevOuts {
		in += c.value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	for _, txIn := range tx.TxIn {
		w.spentBy[txIn.PreviousOutPoint] = txid
	}
	w.sent[txid] = &sentTx{tx: tx.Copy(), prevOuts: prevOuts, fee: in - out}
	w.addOutputs(txid, tx, 0, false)
	return txid, nil
}

// sign adds a P2WPKH witness to every input of tx.
func (w *Wallet) sign(tx *wire.MsgTx, prevOuts map[wire.OutPoint]*coin) error {
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for op, c := range prevOuts {
		fetcher.AddPrevOut(op, wire.NewTxOut(c.value, w.keys[c.key].script))
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		c, ok := prevOuts[in.PreviousOutPoint]
		if !ok {
			return fmt.Errorf("regtest: sign input %d: unknown coin %s", i, in.PreviousOutPoint)
		}
		k := w.keys[c.key]
		witness, err := txscript.WitnessSignature(tx, hashes, i, c.value, k.script,
			txscript.SigHashAll, k.priv, true)
		if err != nil {
			return fmt.Errorf("regtest: sign input %d: %w", i, err)
		}
		in.Witness = witness
	}
	return nil
}

// fee returns the fee at the wallet's rate for tx with its P2WPKH inputs
// signed and extra appended (extra may be nil).
func (w *Wallet) fee(tx *wire.MsgTx, extra *wire.TxOut) int64 {
	size := int64(tx.SerializeSizeStripped())
	if extra != nil {
		size += int64(extra.SerializeSize())
	}
	// Marker and flag bytes, then each input's witness.
	weight := size*4 + 2 + int64(len(tx.TxIn))*witnessInputWeight
	vsize := (weight + 3) / 4
	return vsize * w.feeRate
}

// scriptFor decodes a regtest address into its output script.
func (w *Wallet) scriptFor(addr string) ([]byte, error) {
	a, err := address.DecodeAddress(addr, w.node.Params())
	if err != nil {
		return nil, fmt.Errorf("regtest: decode address %q: %w", addr, err)
	}
	if !a.IsForNet(w.node.Params()) {
		return nil, fmt.Errorf("regtest: address %q is not a regtest address", addr)
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("regtest: script for %q: %w", addr, err)
	}
	return script, nil
}
