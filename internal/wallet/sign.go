package wallet

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

// Sign signs every input of an approved spend (one BuildSpend made for the
// store's key) with the key derived at its coin's branch and index, and
// returns the PSBT finalized, in binary: what a merchant's wallet would
// upload, for CheckSigned to check like any upload. Signatures are
// SIGHASH_ALL (P2WPKH and P2SH-P2WPKH per BIP143, P2PKH) or, for P2TR key
// path spends, BIP341's SIGHASH_DEFAULT, which commits to the same.
// ECDSA nonces are RFC 6979's and BIP340's are derived from the key and
// the message, so signing the same spend twice gives the same
// transaction.
//
// Sign signs only the approved spend's own coins: an input whose script is
// not the key's at its coin's branch and index is refused (ErrForeignCoin),
// and the previous outputs signed for are the approved coins, not what
// the PSBT says. Errors never contain key material.
func (h *HotKey) Sign(s *Spend) ([]byte, error) {
	tx, prevOuts, err := approvedTx(s)
	if err != nil {
		return nil, err
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(s.PSBT), false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadApproved, err)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, c := range s.Inputs {
		priv, err := h.child(c.Branch, c.Index)
		if err != nil {
			return nil, fmt.Errorf("sign input %d: %w", i+1, err)
		}
		pub := priv.PubKey()
		_, script, err := h.key.pay(pub)
		if err != nil {
			return nil, fmt.Errorf("sign input %d: %w", i+1, err)
		}
		if !bytes.Equal(script, c.Script) {
			return nil, fmt.Errorf("sign input %d: %w: its script is not the key's at %d/%d", i+1, ErrForeignCoin, c.Branch, c.Index)
		}
		in := &p.Inputs[i]
		amount := int64(c.Amount)
		var sig []byte
		switch h.key.script {
		case P2WPKH:
			sig, err = txscript.RawTxInWitnessSignature(tx, hashes, i, amount, c.Script, txscript.SigHashAll, priv)
		case P2SHP2WPKH:
			sig, err = txscript.RawTxInWitnessSignature(tx, hashes, i, amount, p2wpkhScript(pub.SerializeCompressed()),
				txscript.SigHashAll, priv)
		case P2PKH:
			sig, err = txscript.RawTxInSignature(tx, i, c.Script, txscript.SigHashAll, priv)
		case P2TR:
			sig, err = txscript.RawTxInTaprootSignature(tx, hashes, i, amount, c.Script, nil, txscript.SigHashDefault, priv)
		default:
			err = fmt.Errorf("%w: %v", ErrUnsupportedScript, h.key.script)
		}
		if err != nil {
			return nil, fmt.Errorf("sign input %d: %w", i+1, err)
		}
		if h.key.script == P2TR {
			in.TaprootKeySpendSig = sig
		} else {
			in.PartialSigs = []*psbt.PartialSig{{PubKey: pub.SerializeCompressed(), Signature: sig}}
		}
	}
	// p is the approved PSBT itself: the finalizer reads the approved
	// coins and redeem scripts.
	for i := range p.Inputs {
		if err := psbt.Finalize(p, i); err != nil {
			return nil, fmt.Errorf("finalize input %d: %w", i+1, err)
		}
	}
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("encode the signed PSBT: %w", err)
	}
	return buf.Bytes(), nil
}

// child derives the private key at index on branch (0 receive, 1 change).
func (h *HotKey) child(branch, index uint32) (*btcec.PrivateKey, error) {
	var path []uint32
	switch {
	case branch == 0:
		path = h.key.path
	case branch == 1 && h.key.hasChange:
		path = h.key.changePath
	case branch == 1:
		return nil, ErrNoChangeBranch
	default:
		return nil, fmt.Errorf("%w: branch %d is neither receive (0) nor change (1)", ErrIndexOutOfRange, branch)
	}
	k := h.account
	for _, step := range append(path[:len(path):len(path)], index) {
		if step >= hdkeychain.HardenedKeyStart {
			return nil, ErrIndexOutOfRange
		}
		var err error
		if k, err = k.Derive(step); err != nil {
			return nil, fmt.Errorf("derive %d/%d: %w", branch, index, ErrInvalidChild)
		}
	}
	return k.ECPrivKey()
}
