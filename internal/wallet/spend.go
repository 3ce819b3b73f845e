package wallet

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
)

// Payee is one output a spend pays: an output script (ScriptForAddress)
// and an amount.
type Payee struct {
	Script []byte
	Amount money.Sats
}

// SpendRequest is what BuildSpend needs to pay some payees from a store's
// coins.
type SpendRequest struct {
	// Coins are the store's unspent coins to choose from (see Select).
	Coins []Coin

	// Payees are the outputs to pay, at least one.
	Payees []Payee

	// ChangeIndex is the index on the key's change branch that receives
	// the change, if there is any; the caller hands out a fresh one per
	// spend, as for invoices.
	ChangeIndex uint32

	// FeeRate is the fee rate in satoshis per virtual byte.
	FeeRate money.Sats

	// PrevTxs holds raw previous transactions by txid (hex, as in
	// Coin.TxID). A P2PKH coin cannot be spent without its previous
	// transaction (BIP174's non_witness_utxo, which signers need to know
	// the amount); for segwit coins it is added when given, since hardware
	// wallets ask for it too.
	PrevTxs map[string][]byte
}

// Spend is an unsigned spend, ready for the merchant's wallet to sign.
type Spend struct {
	// PSBT is the unsigned PSBT (BIP174, binary); Base64 gives the form
	// wallets import.
	PSBT []byte

	// TxID is the unsigned transaction's id. It is the final txid when
	// every input is native segwit (P2WPKH) or taproot; the scriptSigs of
	// P2SH-P2WPKH and P2PKH inputs change it.
	TxID string

	// Inputs are the coins spent, in transaction order.
	Inputs []Coin

	// Outputs are the outputs, in transaction order, change included.
	Outputs []Payee

	// Fee is the network fee, Change the change amount (0: none), at
	// output ChangeOutput (-1: none) paying the change branch's address
	// at ChangeIndex.
	Fee          money.Sats
	Change       money.Sats
	ChangeOutput int
	ChangeIndex  uint32
}

// VSize returns the spend's virtual size as fees are estimated (the
// inputs' and outputs' sizes by script kind, and the fixed part): the
// network fee at a rate is rate × VSize, whatever a spend without change
// leaves to the fee on top.
func (s *Spend) VSize() int64 {
	n := int64(txOverheadVBytes)
	for _, c := range s.Inputs {
		n += InputVBytes(c.Script)
	}
	for _, o := range s.Outputs {
		n += OutputVBytes(o.Script)
	}
	return n
}

// Base64 returns the PSBT in base64, the form wallets import and export.
func (s *Spend) Base64() string { return base64.StdEncoding.EncodeToString(s.PSBT) }

// rbfSequence signals replaceability (BIP125) on every input, so that a
// stuck spend can have its fee bumped, with no relative lock time.
const rbfSequence = wire.MaxTxInSequenceNum - 2

// maxMoney is the most satoshis there can ever be.
const maxMoney money.Sats = 21_000_000 * 100_000_000

// The ways a spend request can be wrong; BuildSpend's errors wrap them
// (or ErrInsufficientFunds, ErrNoChangeBranch).
var (
	// ErrBadPayee means a payee's script or amount cannot be paid: no
	// script, a data (OP_RETURN) script, an amount not above zero, under
	// the dust limit nodes relay, or beyond all bitcoin.
	ErrBadPayee = errors.New("a destination cannot be paid")

	// ErrForeignCoin means a coin's script is not the key's at the coin's
	// branch and index: it is not the store's to spend.
	ErrForeignCoin = errors.New("a coin does not belong to the store's key")

	// ErrMissingPrevTx means a legacy (P2PKH) coin's previous transaction
	// was not given or does not hold the coin.
	ErrMissingPrevTx = errors.New("the previous transaction of a legacy coin is missing")
)

// BuildSpend builds the unsigned spend paying req.Payees from req.Coins at
// req.FeeRate: Select picks the coins, change above the dust limit goes to
// the key's change branch at req.ChangeIndex. The transaction is version 2
// with lock time 0 and RBF signalled on every input; inputs and outputs are
// in BIP69 order (deterministic, so that a rebuild of the same spend gives
// the same transaction, and no randomness needs injecting). Every input
// carries what signers need: witness_utxo for segwit and taproot coins,
// non_witness_utxo for P2PKH coins (and segwit ones whose previous
// transaction is given), redeem_script for P2SH-P2WPKH, and its BIP32
// derivation (tap_bip32_derivation and tap_internal_key for P2TR); so
// does the change output, so that wallets recognise it as their own.
func (k *Key) BuildSpend(req SpendRequest) (*Spend, error) {
	if len(req.Payees) == 0 {
		return nil, fmt.Errorf("%w: a spend needs at least one destination", ErrBadPayee)
	}
	var total money.Sats
	outVB := make([]int64, len(req.Payees))
	for i, p := range req.Payees {
		if err := checkPayee(p); err != nil {
			return nil, fmt.Errorf("destination %d: %w", i+1, err)
		}
		total += p.Amount
		if total > maxMoney {
			return nil, fmt.Errorf("%w: the amounts add up to more than all bitcoin", ErrBadPayee)
		}
		outVB[i] = OutputVBytes(p.Script)
	}
	change, err := k.DeriveChange(req.ChangeIndex)
	if err != nil {
		return nil, fmt.Errorf("build spend: %w", err)
	}
	sel, err := Select(req.Coins, total, outVB, OutputVBytes(change.Script), req.FeeRate)
	if err != nil {
		return nil, fmt.Errorf("build spend: %w", err)
	}

	// BIP69: inputs by txid as displayed, then output index; outputs by
	// amount, then script.
	coins := slices.Clone(sel.Coins)
	slices.SortFunc(coins, func(a, b Coin) int {
		return cmp.Or(cmp.Compare(a.TxID, b.TxID), cmp.Compare(a.Vout, b.Vout))
	})
	outputs := slices.Clone(req.Payees)
	if sel.Change > 0 {
		outputs = append(outputs, Payee{Script: change.Script, Amount: sel.Change})
	}
	slices.SortStableFunc(outputs, func(a, b Payee) int {
		return cmp.Or(cmp.Compare(a.Amount, b.Amount), bytes.Compare(a.Script, b.Script))
	})

	tx := wire.NewMsgTx(2)
	for _, c := range coins {
		hash, err := chainhash.NewHashFromStr(c.TxID)
		if err != nil || len(c.TxID) != 2*chainhash.HashSize {
			return nil, fmt.Errorf("%w: coin %s:%d has no valid txid", ErrForeignCoin, short(c.TxID), c.Vout)
		}
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: *hash, Index: c.Vout}, Sequence: rbfSequence})
	}
	changeOutput := -1
	for i, o := range outputs {
		tx.AddTxOut(wire.NewTxOut(int64(o.Amount), o.Script))
		if sel.Change > 0 && changeOutput < 0 && o.Amount == sel.Change && bytes.Equal(o.Script, change.Script) {
			changeOutput = i
		}
	}
	packet, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, fmt.Errorf("build spend: %w", err)
	}
	for i, c := range coins {
		if err := k.fillInput(&packet.Inputs[i], c, req.PrevTxs); err != nil {
			return nil, fmt.Errorf("build spend: coin %s:%d: %w", c.TxID, c.Vout, err)
		}
	}
	if changeOutput >= 0 {
		d, err := k.derive(1, req.ChangeIndex)
		if err != nil {
			return nil, fmt.Errorf("build spend: change: %w", err)
		}
		fillOutput(&packet.Outputs[changeOutput], k.script, d)
	}
	var buf bytes.Buffer
	if err := packet.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("build spend: encode the PSBT: %w", err)
	}
	return &Spend{
		PSBT:         buf.Bytes(),
		TxID:         tx.TxHash().String(),
		Inputs:       coins,
		Outputs:      outputs,
		Fee:          sel.Fee,
		Change:       sel.Change,
		ChangeOutput: changeOutput,
		ChangeIndex:  req.ChangeIndex,
	}, nil
}

// fillInput adds what a signer needs to spend c to in.
func (k *Key) fillInput(in *psbt.PInput, c Coin, prevTxs map[string][]byte) error {
	d, err := k.derive(c.Branch, c.Index)
	if err != nil {
		return err
	}
	_, script, err := k.pay(d.pub)
	if err != nil {
		return err
	}
	if !bytes.Equal(script, c.Script) {
		return fmt.Errorf("%w: its script is not the key's at %d/%d", ErrForeignCoin, c.Branch, c.Index)
	}
	prev, err := prevTx(c, prevTxs)
	if err != nil {
		return err
	}
	if prev == nil && k.script == P2PKH {
		return ErrMissingPrevTx
	}
	in.NonWitnessUtxo = prev
	if k.script != P2PKH {
		in.WitnessUtxo = wire.NewTxOut(int64(c.Amount), c.Script)
	}
	f := psbtFields(k.script, d)
	in.RedeemScript, in.Bip32Derivation = f.redeem, f.bip32
	in.TaprootInternalKey, in.TaprootBip32Derivation = f.internal, f.tapBip32
	return nil
}

// fillOutput marks out as the key's own, at derivation d.
func fillOutput(out *psbt.POutput, script ScriptType, d derivation) {
	f := psbtFields(script, d)
	out.RedeemScript, out.Bip32Derivation = f.redeem, f.bip32
	out.TaprootInternalKey, out.TaprootBip32Derivation = f.internal, f.tapBip32
}

// keyFields are the PSBT fields by which a signer knows a key of its own,
// the same on inputs and outputs.
type keyFields struct {
	redeem   []byte
	bip32    []*psbt.Bip32Derivation
	internal []byte
	tapBip32 []*psbt.TaprootBip32Derivation
}

// psbtFields returns the fields for the key at d paying script: the
// BIP32 derivation, with the redeem script for P2SH-P2WPKH; for P2TR the
// internal key and its taproot derivation (no leaves: key path only).
func psbtFields(script ScriptType, d derivation) keyFields {
	fp := binary.LittleEndian.Uint32(d.fingerprint[:])
	if script == P2TR {
		xonly := schnorr.SerializePubKey(d.pub)
		return keyFields{internal: xonly, tapBip32: []*psbt.TaprootBip32Derivation{{
			XOnlyPubKey: xonly, MasterKeyFingerprint: fp, Bip32Path: d.path,
		}}}
	}
	pub := d.pub.SerializeCompressed()
	f := keyFields{bip32: []*psbt.Bip32Derivation{{PubKey: pub, MasterKeyFingerprint: fp, Bip32Path: d.path}}}
	if script == P2SHP2WPKH {
		f.redeem = p2wpkhScript(pub)
	}
	return f
}

// prevTx returns c's previous transaction from prevTxs, checked to be the
// transaction c.TxID names and to hold c at c.Vout, or nil when it is not
// given.
func prevTx(c Coin, prevTxs map[string][]byte) (*wire.MsgTx, error) {
	raw, ok := prevTxs[c.TxID]
	if !ok {
		return nil, nil
	}
	tx := new(wire.MsgTx)
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil || r.Len() != 0 {
		return nil, fmt.Errorf("%w: the one given does not parse", ErrMissingPrevTx)
	}
	if tx.TxHash().String() != c.TxID {
		return nil, fmt.Errorf("%w: the one given is another transaction", ErrMissingPrevTx)
	}
	if int(c.Vout) >= len(tx.TxOut) || tx.TxOut[c.Vout].Value != int64(c.Amount) ||
		!bytes.Equal(tx.TxOut[c.Vout].PkScript, c.Script) {
		return nil, fmt.Errorf("%w: the one given does not pay the coin", ErrMissingPrevTx)
	}
	return tx, nil
}

// p2wpkhScript is the P2WPKH program of a compressed public key, the
// redeem script of P2SH-P2WPKH.
func p2wpkhScript(pub []byte) []byte {
	return append([]byte{txscript.OP_0, txscript.OP_DATA_20}, address.Hash160(pub)...)
}

// checkPayee refuses what no node relays or no one can receive.
func checkPayee(p Payee) error {
	switch {
	case len(p.Script) == 0:
		return fmt.Errorf("%w: no output script", ErrBadPayee)
	case p.Script[0] == txscript.OP_RETURN:
		return fmt.Errorf("%w: a data (OP_RETURN) output holds no money", ErrBadPayee)
	case len(p.Script) > txscript.MaxScriptSize:
		return fmt.Errorf("%w: the output script is too long", ErrBadPayee)
	case p.Amount <= 0 || p.Amount > maxMoney:
		return fmt.Errorf("%w: amount %d sats is out of range", ErrBadPayee, p.Amount)
	case p.Amount < dustThreshold(p.Script):
		return fmt.Errorf("%w: %d sats is below the %d sats nodes relay to this kind of address",
			ErrBadPayee, p.Amount, dustThreshold(p.Script))
	}
	return nil
}

// dustThreshold is Bitcoin Core's dust limit at its default dust relay fee
// (3 sat/vB): three times what the output and an input spending it weigh,
// 546 sats for P2PKH, 540 for P2SH, 294 for P2WPKH, 330 for P2WSH and P2TR.
func dustThreshold(script []byte) money.Sats {
	size := OutputVBytes(script)
	if isWitnessProgram(script) {
		size += 32 + 4 + 1 + 107/4 + 4
	} else {
		size += 32 + 4 + 1 + 107 + 4
	}
	return money.Sats(3 * size)
}

// isWitnessProgram reports whether script is a segwit output script: a
// version opcode and one push of 2 to 40 bytes.
func isWitnessProgram(script []byte) bool {
	n := len(script)
	if n < 4 || n > 42 {
		return false
	}
	if script[0] != txscript.OP_0 && (script[0] < txscript.OP_1 || script[0] > txscript.OP_16) {
		return false
	}
	return int(script[1])+2 == n
}
