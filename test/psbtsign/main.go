// Command psbtsign is kassa's test wallet: it signs a PSBT (BIP174) with an
// extended private key the way a merchant's wallet would. It is written
// against btcd's pre-split packages (btcd v0.24, btcutil v1.1,
// btcutil/psbt v1.1) in a module of its own, so that the signing code
// shares nothing with kassa's builder and checker, which use the /v2
// modules.
//
// It reads a base64 PSBT on stdin and the key (xprv/tprv, or any SLIP-132
// private version: yprv, zprv, …; the master key or an account key) from
// -key or the environment variable PSBTSIGN_KEY. For every input whose
// BIP32 derivation names the key's fingerprint it derives the child key,
// checks it is the public key the PSBT names, and signs with SIGHASH_ALL:
// P2WPKH and P2SH-P2WPKH (BIP143), P2PKH, and P2TR key path (BIP341,
// SIGHASH_DEFAULT, from tap_bip32_derivation). It prints the signed PSBT
// in base64, finalized with -finalize, or the signed transaction in hex
// with -hex (which finalizes).
//
//	psbtsign -finalize < unsigned.psbt > signed.psbt
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func main() {
	keyFlag := flag.String("key", "", "extended private key (default: $PSBTSIGN_KEY)")
	finalize := flag.Bool("finalize", false, "finalize the signed inputs")
	asHex := flag.Bool("hex", false, "print the signed transaction in hex (implies -finalize)")
	flag.Parse()
	key := *keyFlag
	if key == "" {
		key = os.Getenv("PSBTSIGN_KEY")
	}
	if err := run(os.Stdin, os.Stdout, key, *finalize || *asHex, *asHex); err != nil {
		fmt.Fprintln(os.Stderr, "psbtsign:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, keyText string, finalize, asHex bool) error {
	if keyText == "" {
		return errors.New("no key: give -key or PSBTSIGN_KEY")
	}
	key, err := hdkeychain.NewKeyFromString(keyText)
	if err != nil || !key.IsPrivate() {
		return errors.New("the key is not an extended private key")
	}
	raw, err := io.ReadAll(io.LimitReader(in, 8<<20))
	if err != nil {
		return err
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(bytes.TrimSpace(raw)), true)
	if err != nil {
		return fmt.Errorf("read the PSBT: %w", err)
	}
	signed, err := sign(p, key)
	if err != nil {
		return err
	}
	if signed == 0 {
		return errors.New("no input of the PSBT belongs to this key (no matching fingerprint)")
	}
	if finalize {
		if err := psbt.MaybeFinalizeAll(p); err != nil {
			return fmt.Errorf("finalize: %w", err)
		}
	}
	if asHex {
		tx, err := psbt.Extract(p)
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		var buf bytes.Buffer
		if err := tx.Serialize(&buf); err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, hex.EncodeToString(buf.Bytes()))
		return err
	}
	b64, err := p.B64Encode()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, b64)
	return err
}

// sign signs every input the key can and returns how many it signed.
func sign(p *psbt.Packet, key *hdkeychain.ExtendedKey) (int, error) {
	pub, err := key.ECPubKey()
	if err != nil {
		return 0, err
	}
	fp := binary.LittleEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4])

	tx := p.UnsignedTx
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	for i, in := range p.Inputs {
		op := tx.TxIn[i].PreviousOutPoint
		switch {
		case in.WitnessUtxo != nil:
			prevOuts[op] = in.WitnessUtxo
		case in.NonWitnessUtxo != nil && in.NonWitnessUtxo.TxHash() == op.Hash && int(op.Index) < len(in.NonWitnessUtxo.TxOut):
			prevOuts[op] = in.NonWitnessUtxo.TxOut[op.Index]
		default:
			return 0, fmt.Errorf("input %d: no previous output", i)
		}
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	updater, err := psbt.NewUpdater(p)
	if err != nil {
		return 0, err
	}
	signed := 0
	for i := range p.Inputs {
		in := &p.Inputs[i]
		prev := prevOuts[tx.TxIn[i].PreviousOutPoint]
		for _, d := range in.TaprootBip32Derivation {
			if d.MasterKeyFingerprint != fp || len(d.LeafHashes) != 0 {
				continue
			}
			priv, err := derive(key, d.Bip32Path)
			if err != nil {
				return 0, err
			}
			if !bytes.Equal(schnorr.SerializePubKey(priv.PubKey()), d.XOnlyPubKey) {
				return 0, fmt.Errorf("input %d: the derived key is not the PSBT's", i)
			}
			sig, err := txscript.RawTxInTaprootSignature(tx, hashes, i, prev.Value, prev.PkScript, nil, txscript.SigHashDefault, priv)
			if err != nil {
				return 0, fmt.Errorf("input %d: %w", i, err)
			}
			in.TaprootKeySpendSig = sig
			signed++
		}
		for _, d := range in.Bip32Derivation {
			if d.MasterKeyFingerprint != fp {
				continue
			}
			priv, err := derive(key, d.Bip32Path)
			if err != nil {
				return 0, err
			}
			if !bytes.Equal(priv.PubKey().SerializeCompressed(), d.PubKey) {
				return 0, fmt.Errorf("input %d: the derived key is not the PSBT's", i)
			}
			sig, err := ecdsaSign(tx, hashes, i, prev, in.RedeemScript, priv)
			if err != nil {
				return 0, fmt.Errorf("input %d: %w", i, err)
			}
			if outcome, err := updater.Sign(i, sig, d.PubKey, nil, nil); err != nil || outcome != psbt.SignSuccesful {
				return 0, fmt.Errorf("input %d: add the signature: %v (outcome %d)", i, err, outcome)
			}
			signed++
		}
	}
	return signed, nil
}

// ecdsaSign signs input i spending prev with SIGHASH_ALL: BIP143 for
// P2WPKH, bare or nested in P2SH (redeem), legacy otherwise.
func ecdsaSign(tx *wire.MsgTx, hashes *txscript.TxSigHashes, i int, prev *wire.TxOut, redeem []byte, priv *btcec.PrivateKey) ([]byte, error) {
	program := prev.PkScript
	if txscript.IsPayToScriptHash(program) {
		program = redeem
	}
	if txscript.IsPayToWitnessPubKeyHash(program) {
		// BIP143's scriptCode for P2WPKH is the P2PKH script of the hash.
		code, err := txscript.NewScriptBuilder().AddOp(txscript.OP_DUP).AddOp(txscript.OP_HASH160).
			AddData(program[2:]).AddOp(txscript.OP_EQUALVERIFY).AddOp(txscript.OP_CHECKSIG).Script()
		if err != nil {
			return nil, err
		}
		return txscript.RawTxInWitnessSignature(tx, hashes, i, prev.Value, code, txscript.SigHashAll, priv)
	}
	if txscript.IsPayToPubKeyHash(prev.PkScript) {
		return txscript.RawTxInSignature(tx, i, prev.PkScript, txscript.SigHashAll, priv)
	}
	return nil, errors.New("not a P2WPKH, P2SH-P2WPKH or P2PKH input")
}

// derive returns the private key at path below key.
func derive(key *hdkeychain.ExtendedKey, path []uint32) (*btcec.PrivateKey, error) {
	k := key
	for _, step := range path {
		var err error
		if k, err = k.Derive(step); err != nil {
			return nil, fmt.Errorf("derive: %w", err)
		}
	}
	return k.ECPrivKey()
}
