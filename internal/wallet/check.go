package wallet

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
)

// The ways a signed upload can differ from the approved spend. CheckSigned's
// errors wrap exactly one of them (or ErrNotTransaction); the messages speak
// to the merchant and never contain key material.
var (
	// ErrOtherInputs means the transaction spends other coins than the
	// approved spend, or not all of them.
	ErrOtherInputs = errors.New("the signed transaction spends other coins than the approved spend: " +
		"sign the PSBT kassa gave for this spend, unchanged")

	// ErrOtherOutputs means an approved output is missing or pays another
	// address or amount.
	ErrOtherOutputs = errors.New("the signed transaction does not pay exactly the approved " +
		"destinations and amounts")

	// ErrExtraOutput means the transaction pays an output the approved
	// spend does not have.
	ErrExtraOutput = errors.New("the signed transaction pays an output that was not approved")

	// ErrChangedTerms means the version, lock time or an input's
	// sequence number (which carries RBF and relative lock times) differs.
	ErrChangedTerms = errors.New("the signed transaction's version, lock time or sequence numbers " +
		"differ from the approved spend")

	// ErrFeeTooHigh means the spend's network fee is above the ceiling.
	ErrFeeTooHigh = errors.New("the network fee is above the store's ceiling")

	// ErrIncomplete means an input is not signed (or not signed enough to
	// finalize).
	ErrIncomplete = errors.New("the transaction is not completely signed: sign every input and upload again")

	// ErrBadSignature means a signature does not verify: the wallet signed
	// something else, or with another key.
	ErrBadSignature = errors.New("a signature does not verify: the wallet signed with another key " +
		"or another transaction")

	// ErrSighashType means a signature commits to less than the whole
	// transaction (a sighash type other than ALL), which would let anyone
	// who sees it change what it pays.
	ErrSighashType = errors.New("a signature does not cover the whole transaction (sighash type " +
		"other than ALL): sign with the wallet's default sighash")

	// ErrBadApproved means the approved spend itself is damaged; it never
	// comes from the merchant's upload.
	ErrBadApproved = errors.New("the approved spend is damaged")
)

// CheckSigned checks what the merchant's wallet signed against the approved
// spend and returns the transaction to broadcast. upload is the signed
// spend as the merchant gives it: a PSBT (base64, hex or binary; finalized
// or only partially signed, in which case kassa finalizes P2WPKH,
// P2SH-P2WPKH and P2PKH inputs from their partial signatures and P2TR
// inputs from their key-path signature) or the raw signed transaction in
// hex.
//
// The transaction must be the approved one to the byte but for its
// signatures: the same inputs, outputs (scripts, amounts, order), version,
// lock time and sequence numbers; the fee (the approved coins' amounts
// minus the outputs) must not exceed maxFee; every signature must be
// SIGHASH_ALL (or taproot's default) and every input must verify under
// btcd's script engine with the standard verification flags against the
// approved coins — never against amounts or scripts the upload claims.
// Nothing is returned that does not pass all of that.
func (k *Key) CheckSigned(approved *Spend, upload []byte, maxFee money.Sats) (*wire.MsgTx, error) {
	want, prevOuts, err := approvedTx(approved)
	if err != nil {
		return nil, err
	}
	if fee := approvedFee(want, prevOuts); fee > maxFee {
		return nil, fmt.Errorf("%w: %d sats, the ceiling is %d", ErrFeeTooHigh, fee, maxFee)
	}
	packet, tx, err := decodeUpload(upload)
	if err != nil {
		return nil, err
	}
	if packet != nil {
		if err := sameTx(want, packet.UnsignedTx); err != nil {
			return nil, err
		}
		if tx, err = finalize(packet, approved); err != nil {
			return nil, err
		}
	}
	if err := sameTx(want, tx); err != nil {
		return nil, err
	}
	if err := k.checkSighashes(tx); err != nil {
		return nil, err
	}
	if err := verify(tx, prevOuts); err != nil {
		return nil, err
	}
	return tx, nil
}

// approvedTx returns the approved unsigned transaction and the coins it
// spends by outpoint.
func approvedTx(s *Spend) (*wire.MsgTx, map[wire.OutPoint]*wire.TxOut, error) {
	if s == nil {
		return nil, nil, fmt.Errorf("%w: no spend", ErrBadApproved)
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(s.PSBT), false)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadApproved, err)
	}
	tx := p.UnsignedTx
	if len(tx.TxIn) != len(s.Inputs) {
		return nil, nil, fmt.Errorf("%w: %d inputs for %d coins", ErrBadApproved, len(tx.TxIn), len(s.Inputs))
	}
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(s.Inputs))
	for i, c := range s.Inputs {
		op := tx.TxIn[i].PreviousOutPoint
		if op.Hash.String() != c.TxID || op.Index != c.Vout {
			return nil, nil, fmt.Errorf("%w: input %d is not its coin", ErrBadApproved, i)
		}
		prevOuts[op] = wire.NewTxOut(int64(c.Amount), c.Script)
	}
	return tx, prevOuts, nil
}

// approvedFee is what the approved coins hold above what tx pays.
func approvedFee(tx *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) money.Sats {
	var fee int64
	for _, in := range tx.TxIn {
		fee += prevOuts[in.PreviousOutPoint].Value
	}
	for _, out := range tx.TxOut {
		fee -= out.Value
	}
	return money.Sats(fee)
}

// sameTx reports how got differs from want, signatures aside.
func sameTx(want, got *wire.MsgTx) error {
	if len(got.TxIn) != len(want.TxIn) {
		return fmt.Errorf("%w: %d inputs, %d approved", ErrOtherInputs, len(got.TxIn), len(want.TxIn))
	}
	for i, in := range got.TxIn {
		if in.PreviousOutPoint != want.TxIn[i].PreviousOutPoint {
			return fmt.Errorf("%w: input %d", ErrOtherInputs, i+1)
		}
	}
	if len(got.TxOut) > len(want.TxOut) {
		return fmt.Errorf("%w: %d outputs, %d approved", ErrExtraOutput, len(got.TxOut), len(want.TxOut))
	}
	if len(got.TxOut) < len(want.TxOut) {
		return fmt.Errorf("%w: %d outputs, %d approved", ErrOtherOutputs, len(got.TxOut), len(want.TxOut))
	}
	for i, out := range got.TxOut {
		w := want.TxOut[i]
		switch {
		case !bytes.Equal(out.PkScript, w.PkScript):
			return fmt.Errorf("%w: output %d pays another address", ErrOtherOutputs, i+1)
		case out.Value != w.Value:
			return fmt.Errorf("%w: output %d pays %d sats, %d approved", ErrOtherOutputs, i+1, out.Value, w.Value)
		}
	}
	if got.Version != want.Version || got.LockTime != want.LockTime {
		return fmt.Errorf("%w: version or lock time", ErrChangedTerms)
	}
	for i, in := range got.TxIn {
		if in.Sequence != want.TxIn[i].Sequence {
			return fmt.Errorf("%w: input %d's sequence number", ErrChangedTerms, i+1)
		}
	}
	return nil
}

// finalize completes what the wallet left unfinalized and extracts the
// signed transaction. The previous outputs and redeem scripts the
// finalizer reads are the approved ones, whatever the upload says.
func finalize(p *psbt.Packet, approved *Spend) (*wire.MsgTx, error) {
	mine, err := psbt.NewFromRawBytes(bytes.NewReader(approved.PSBT), false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadApproved, err)
	}
	if len(p.Inputs) != len(mine.Inputs) {
		return nil, fmt.Errorf("%w: %d inputs, %d approved", ErrOtherInputs, len(p.Inputs), len(mine.Inputs))
	}
	unsigned := 0
	for i := range p.Inputs {
		in := &p.Inputs[i]
		in.WitnessUtxo = mine.Inputs[i].WitnessUtxo
		in.NonWitnessUtxo = mine.Inputs[i].NonWitnessUtxo
		in.RedeemScript = mine.Inputs[i].RedeemScript
		if in.FinalScriptSig != nil || in.FinalScriptWitness != nil {
			continue
		}
		if ok, err := psbt.MaybeFinalize(p, i); err != nil || !ok {
			unsigned++
		}
	}
	if unsigned > 0 {
		return nil, fmt.Errorf("%w: %d of %d inputs have no usable signature", ErrIncomplete, unsigned, len(p.Inputs))
	}
	tx, err := psbt.Extract(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	return tx, nil
}

// checkSighashes refuses a signature that commits to less than the whole
// transaction. The inputs are the key's, so each has the key's script
// type and its one signature sits in a known place.
func (k *Key) checkSighashes(tx *wire.MsgTx) error {
	for i, in := range tx.TxIn {
		var sig []byte
		switch k.script {
		case P2PKH:
			pushes, err := txscript.PushedData(in.SignatureScript)
			if err != nil || len(pushes) != 2 {
				return fmt.Errorf("%w: input %d has no signature and key", ErrBadSignature, i+1)
			}
			sig = pushes[0]
		case P2WPKH, P2SHP2WPKH:
			if len(in.Witness) != 2 {
				return fmt.Errorf("%w: input %d has no signature and key", ErrBadSignature, i+1)
			}
			sig = in.Witness[0]
		case P2TR:
			if len(in.Witness) != 1 {
				return fmt.Errorf("%w: input %d is not a single key-path signature", ErrBadSignature, i+1)
			}
			sig = in.Witness[0]
			if len(sig) == 64 {
				continue // SIGHASH_DEFAULT: the whole transaction
			}
		}
		if len(sig) == 0 || txscript.SigHashType(sig[len(sig)-1]) != txscript.SigHashAll {
			return fmt.Errorf("%w: input %d", ErrSighashType, i+1)
		}
	}
	return nil
}

// verify runs every input of tx through the script engine against the
// coins it spends.
func verify(tx *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		prev := prevOuts[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("%w: input %d: %v", ErrBadSignature, i+1, err)
		}
	}
	return nil
}
