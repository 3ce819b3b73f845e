package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
)

// testRoot is the BIP84/BIP86 test seed's master private key.
func testRoot(t testing.TB) *hdkeychain.ExtendedKey {
	t.Helper()
	root, err := hdkeychain.NewKeyFromString(bip86Xprv)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// accountKey derives the seed's account key m/purpose'/0'/0'.
func accountKey(t testing.TB, purpose uint32) *hdkeychain.ExtendedKey {
	t.Helper()
	k := testRoot(t)
	for _, step := range []uint32{purpose + hard, hard, hard} {
		var err error
		if k, err = k.Derive(step); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// spendKeys are the seed's keys in each script type, with origin, as
// descriptors.
func spendKeys(t testing.TB) map[string]*Key {
	t.Helper()
	keys := map[string]*Key{}
	for _, c := range []struct {
		name    string
		purpose uint32
		open    string
		close   string
	}{
		{"p2wpkh", 84, "wpkh(", ")"},
		{"p2sh-p2wpkh", 49, "sh(wpkh(", "))"},
		{"p2pkh", 44, "pkh(", ")"},
		{"p2tr", 86, "tr(", ")"},
	} {
		pub, err := accountKey(t, c.purpose).Neuter()
		if err != nil {
			t.Fatal(err)
		}
		desc := fmt.Sprintf("%s[73c5da0a/%dh/0h/0h]%s/0/*%s", c.open, c.purpose, pub, c.close)
		k, err := ParseKey(desc, Mainnet)
		if err != nil {
			t.Fatal(err)
		}
		keys[c.name] = k
	}
	return keys
}

// fund makes coins of key at receive indexes 0, 1, … holding amounts, each
// in its own funding transaction, and returns them with those transactions.
func fund(t testing.TB, key *Key, amounts ...money.Sats) ([]Coin, map[string][]byte) {
	t.Helper()
	coins := make([]Coin, len(amounts))
	prev := map[string][]byte{}
	for i, amt := range amounts {
		a, err := key.Derive(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: uint32(i)}, SignatureScript: []byte{txscript.OP_TRUE}})
		tx.AddTxOut(wire.NewTxOut(1000, []byte{txscript.OP_TRUE}))
		tx.AddTxOut(wire.NewTxOut(int64(amt), a.Script))
		var buf bytes.Buffer
		if err := tx.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		id := tx.TxHash().String()
		prev[id] = buf.Bytes()
		coins[i] = Coin{TxID: id, Vout: 1, Amount: amt, Script: a.Script, Index: uint32(i), Height: 100}
	}
	return coins, prev
}

// payTo is a P2WPKH output script to a key that is not the store's.
func payTo(b byte) []byte { return append([]byte{0x00, 0x14}, bytes.Repeat([]byte{b}, 20)...) }

// signPSBT is a signer written against BIP174, BIP143, BIP341 and btcd's
// txscript, not against kassa's builder: for every input whose BIP32
// derivation names root's fingerprint it derives the key and adds a
// partial signature (or a taproot key-path signature), then optionally
// finalizes. hashType 0 means the default.
func signPSBT(t testing.TB, root *hdkeychain.ExtendedKey, b64 string, finalize bool, hashType txscript.SigHashType) string {
	t.Helper()
	p, err := psbt.NewFromRawBytes(bytes.NewReader([]byte(b64)), true)
	if err != nil {
		t.Fatal(err)
	}
	rootPub, _ := root.ECPubKey()
	fp := binaryLE(address.Hash160(rootPub.SerializeCompressed())[:4])
	prevOuts := map[wire.OutPoint]*wire.TxOut{}
	for i, in := range p.Inputs {
		op := p.UnsignedTx.TxIn[i].PreviousOutPoint
		if in.WitnessUtxo != nil {
			prevOuts[op] = in.WitnessUtxo
		} else {
			prevOuts[op] = in.NonWitnessUtxo.TxOut[op.Index]
		}
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetcher)
	priv := func(fpGot uint32, path []uint32) *btcec.PrivateKey {
		if fpGot != fp {
			t.Fatalf("fingerprint %08x is not the root's %08x", fpGot, fp)
		}
		k := root
		for _, step := range path {
			if k, err = k.Derive(step); err != nil {
				t.Fatal(err)
			}
		}
		pk, err := k.ECPrivKey()
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		in.SighashType = hashType
		prev := prevOuts[p.UnsignedTx.TxIn[i].PreviousOutPoint]
		if len(in.TaprootBip32Derivation) == 1 {
			d := in.TaprootBip32Derivation[0]
			ht := hashType
			if ht == 0 {
				ht = txscript.SigHashDefault
			}
			sig, err := txscript.RawTxInTaprootSignature(p.UnsignedTx, hashes, i, prev.Value, prev.PkScript, nil, ht, priv(d.MasterKeyFingerprint, d.Bip32Path))
			if err != nil {
				t.Fatal(err)
			}
			in.TaprootKeySpendSig = sig
			continue
		}
		d := in.Bip32Derivation[0]
		key := priv(d.MasterKeyFingerprint, d.Bip32Path)
		ht := hashType
		if ht == 0 {
			ht = txscript.SigHashAll
		}
		var sig []byte
		if in.WitnessUtxo != nil {
			pkh := append([]byte{txscript.OP_DUP, txscript.OP_HASH160, txscript.OP_DATA_20}, address.Hash160(d.PubKey)...)
			pkh = append(pkh, txscript.OP_EQUALVERIFY, txscript.OP_CHECKSIG)
			sig, err = txscript.RawTxInWitnessSignature(p.UnsignedTx, hashes, i, prev.Value, pkh, ht, key)
		} else {
			sig, err = txscript.RawTxInSignature(p.UnsignedTx, i, prev.PkScript, ht, key)
		}
		if err != nil {
			t.Fatal(err)
		}
		in.PartialSigs = append(in.PartialSigs, &psbt.PartialSig{PubKey: d.PubKey, Signature: sig})
	}
	if finalize {
		if err := psbt.MaybeFinalizeAll(p); err != nil {
			t.Fatal(err)
		}
	}
	out, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func binaryLE(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// TestBuildSpend checks the PSBT's shape for every script type: RBF,
// version 2, BIP69 order, UTXO data, derivations on inputs and change.
func TestBuildSpend(t *testing.T) {
	for name, key := range spendKeys(t) {
		t.Run(name, func(t *testing.T) {
			coins, prev := fund(t, key, 30_000, 70_000, 20_000)
			s, err := key.BuildSpend(SpendRequest{
				Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 3, FeeRate: 2, PrevTxs: prev,
			})
			if err != nil {
				t.Fatal(err)
			}
			p, err := DecodePSBT([]byte(s.Base64()))
			if err != nil {
				t.Fatal(err)
			}
			tx := p.UnsignedTx
			if tx.Version != 2 || tx.LockTime != 0 || tx.TxHash().String() != s.TxID {
				t.Errorf("version %d, lock time %d, txid %s / %s", tx.Version, tx.LockTime, tx.TxHash(), s.TxID)
			}
			var in, out money.Sats
			for i, txIn := range tx.TxIn {
				if txIn.Sequence != 0xfffffffd {
					t.Errorf("input %d: sequence %x", i, txIn.Sequence)
				}
				if i > 0 && s.Inputs[i-1].TxID > s.Inputs[i].TxID {
					t.Error("inputs not in BIP69 order")
				}
				in += s.Inputs[i].Amount
				pin := p.Inputs[i]
				switch key.ScriptType() {
				case P2PKH:
					if pin.NonWitnessUtxo == nil || pin.WitnessUtxo != nil {
						t.Errorf("input %d: P2PKH needs non_witness_utxo only", i)
					}
				default:
					if pin.WitnessUtxo == nil || pin.NonWitnessUtxo == nil {
						t.Errorf("input %d: witness_utxo and the given previous tx expected", i)
					}
				}
				if (key.ScriptType() == P2SHP2WPKH) != (pin.RedeemScript != nil) {
					t.Errorf("input %d: redeem script %x", i, pin.RedeemScript)
				}
				checkDerivation(t, key, pin.Bip32Derivation, pin.TaprootBip32Derivation, 0, s.Inputs[i].Index)
			}
			for i, o := range tx.TxOut {
				out += money.Sats(o.Value)
				if i > 0 && tx.TxOut[i-1].Value > o.Value {
					t.Error("outputs not in BIP69 order")
				}
			}
			if in-out != s.Fee || s.ChangeOutput < 0 || money.Sats(tx.TxOut[s.ChangeOutput].Value) != s.Change {
				t.Fatalf("in %d out %d fee %d change %d at %d", in, out, s.Fee, s.Change, s.ChangeOutput)
			}
			change, _ := key.DeriveChange(3)
			if !bytes.Equal(tx.TxOut[s.ChangeOutput].PkScript, change.Script) {
				t.Error("change does not pay change/3")
			}
			po := p.Outputs[s.ChangeOutput]
			checkDerivation(t, key, po.Bip32Derivation, po.TaprootBip32Derivation, 1, 3)
			if other := p.Outputs[1-s.ChangeOutput]; other.Bip32Derivation != nil || other.TaprootBip32Derivation != nil {
				t.Error("the payee's output carries a derivation")
			}
		})
	}
}

// checkDerivation checks a PSBT derivation names the seed's fingerprint
// and the full path m/purpose'/0'/0'/branch/index.
func checkDerivation(t *testing.T, key *Key, ecdsa []*psbt.Bip32Derivation, tap []*psbt.TaprootBip32Derivation, branch, index uint32) {
	t.Helper()
	var fp uint32
	var path []uint32
	switch {
	case key.ScriptType() == P2TR && len(tap) == 1 && ecdsa == nil:
		fp, path = tap[0].MasterKeyFingerprint, tap[0].Bip32Path
	case key.ScriptType() != P2TR && len(ecdsa) == 1 && tap == nil:
		fp, path = ecdsa[0].MasterKeyFingerprint, ecdsa[0].Bip32Path
	default:
		t.Fatalf("derivations %d ecdsa, %d taproot", len(ecdsa), len(tap))
	}
	if hex.EncodeToString([]byte{byte(fp), byte(fp >> 8), byte(fp >> 16), byte(fp >> 24)}) != "73c5da0a" ||
		len(path) != 5 || path[1] != hard || path[3] != branch || path[4] != index {
		t.Errorf("derivation %08x %v", fp, path)
	}
}

func TestBuildSpendRefuses(t *testing.T) {
	keys := spendKeys(t)
	key := keys["p2wpkh"]
	coins, prev := fund(t, key, 50_000)
	foreign, _ := fund(t, keys["p2tr"], 50_000)
	legacy, _ := fund(t, keys["p2pkh"], 50_000)
	noChange, _ := ParseKey("wpkh("+bip84Xpub+"/7/*)", Mainnet)
	pay := []Payee{{payTo(1), 10_000}}
	for _, c := range []struct {
		name string
		key  *Key
		req  SpendRequest
		err  error
	}{
		{"no payee", key, SpendRequest{Coins: coins, FeeRate: 1}, ErrBadPayee},
		{"dust", key, SpendRequest{Coins: coins, Payees: []Payee{{payTo(1), 293}}, FeeRate: 1}, ErrBadPayee},
		{"OP_RETURN", key, SpendRequest{Coins: coins, Payees: []Payee{{[]byte{0x6a, 1, 1}, 1000}}, FeeRate: 1}, ErrBadPayee},
		{"negative", key, SpendRequest{Coins: coins, Payees: []Payee{{payTo(1), -5}}, FeeRate: 1}, ErrBadPayee},
		{"more than all bitcoin", key, SpendRequest{Coins: coins, Payees: []Payee{{payTo(1), maxMoney}, {payTo(2), 1000}}, FeeRate: 1}, ErrBadPayee},
		{"not enough", key, SpendRequest{Coins: coins, Payees: []Payee{{payTo(1), 60_000}}, FeeRate: 1}, ErrInsufficientFunds},
		{"a coin of another key", key, SpendRequest{Coins: foreign, Payees: pay, FeeRate: 1}, ErrForeignCoin},
		{"legacy coin without its tx", keys["p2pkh"], SpendRequest{Coins: legacy, Payees: pay, FeeRate: 1}, ErrMissingPrevTx},
		{"legacy coin with another tx", keys["p2pkh"], SpendRequest{Coins: legacy, Payees: pay, FeeRate: 1, PrevTxs: map[string][]byte{legacy[0].TxID: prev[coins[0].TxID]}}, ErrMissingPrevTx},
		{"no change branch", noChange, SpendRequest{Coins: coins, Payees: pay, FeeRate: 1}, ErrNoChangeBranch},
	} {
		if _, err := c.key.BuildSpend(c.req); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}

// TestSignAndCheck: kassa builds, a signer independent of the builder
// signs (finalized or not), CheckSigned accepts and the transaction
// verifies; the raw transaction in hex is accepted too.
func TestSignAndCheck(t *testing.T) {
	root := testRoot(t)
	for name, key := range spendKeys(t) {
		for _, fin := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/finalized=%v", name, fin), func(t *testing.T) {
				coins, prev := fund(t, key, 30_000, 70_000, 20_000)
				s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 1, FeeRate: 2, PrevTxs: prev})
				if err != nil {
					t.Fatal(err)
				}
				signed := signPSBT(t, root, s.Base64(), fin, 0)
				tx, err := key.CheckSigned(s, []byte(signed), s.Fee)
				if err != nil {
					t.Fatal(err)
				}
				var raw bytes.Buffer
				if err := tx.Serialize(&raw); err != nil {
					t.Fatal(err)
				}
				if _, err := key.CheckSigned(s, []byte(hex.EncodeToString(raw.Bytes())+"\n"), s.Fee); err != nil {
					t.Errorf("raw hex: %v", err)
				}
				bin, _ := base64.StdEncoding.DecodeString(signed)
				if _, err := key.CheckSigned(s, bin, s.Fee); err != nil {
					t.Errorf("binary PSBT: %v", err)
				}
				if (key.ScriptType() == P2WPKH || key.ScriptType() == P2TR) && tx.TxHash().String() != s.TxID {
					t.Errorf("native segwit txid changed: %s, built %s", tx.TxHash(), s.TxID)
				}
			})
		}
	}
}

// tamper returns the signed PSBT of s after change edits its unsigned
// transaction, signed again by the seed (so the signatures are valid for
// what was changed).
func tamper(t *testing.T, s *Spend, change func(p *psbt.Packet)) []byte {
	t.Helper()
	p, err := psbt.NewFromRawBytes(bytes.NewReader(s.PSBT), false)
	if err != nil {
		t.Fatal(err)
	}
	change(p)
	b64, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(signPSBT(t, testRoot(t), b64, false, 0))
}

func TestCheckSignedRefuses(t *testing.T) {
	root := testRoot(t)
	keys := spendKeys(t)
	key := keys["p2wpkh"]
	coins, prev := fund(t, key, 30_000, 70_000, 20_000)
	s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 1, FeeRate: 2, PrevTxs: prev})
	if err != nil {
		t.Fatal(err)
	}
	good := signPSBT(t, root, s.Base64(), false, 0)
	payee := slices.IndexFunc(s.Outputs, func(o Payee) bool { return o.Amount == 80_000 })
	otherCoins, otherPrev := fund(t, keys["p2wpkh"], 90_000, 90_001)
	otherSpend, err := key.BuildSpend(SpendRequest{Coins: otherCoins[1:], Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 1, FeeRate: 2, PrevTxs: otherPrev})
	if err != nil {
		t.Fatal(err)
	}
	// A signature by another seed: the same derivation paths under
	// another master key.
	stranger, err := hdkeychain.NewMaster(bytes.Repeat([]byte{9}, 32), key.params)
	if err != nil {
		t.Fatal(err)
	}
	strangerSigned := func() []byte {
		p, _ := psbt.NewFromRawBytes(bytes.NewReader(s.PSBT), false)
		pub, _ := stranger.ECPubKey()
		fp := binaryLE(address.Hash160(pub.SerializeCompressed())[:4])
		for i := range p.Inputs {
			p.Inputs[i].Bip32Derivation[0].MasterKeyFingerprint = fp
		}
		b64, _ := p.B64Encode()
		signed := signPSBT(t, stranger, b64, false, 0)
		q, _ := psbt.NewFromRawBytes(bytes.NewReader([]byte(signed)), true)
		// Keep the stranger's signatures under the store's public keys.
		orig, _ := psbt.NewFromRawBytes(bytes.NewReader(s.PSBT), false)
		for i := range q.Inputs {
			q.Inputs[i].PartialSigs[0].PubKey = orig.Inputs[i].Bip32Derivation[0].PubKey
		}
		out, _ := q.B64Encode()
		return []byte(out)
	}()
	unsigned := []byte(s.Base64())
	halfSigned := func() []byte {
		p, _ := psbt.NewFromRawBytes(bytes.NewReader([]byte(good)), true)
		p.Inputs[0].PartialSigs = nil
		out, _ := p.B64Encode()
		return []byte(out)
	}()

	for _, c := range []struct {
		name   string
		upload []byte
		maxFee money.Sats
		err    error
	}{
		{"garbage base64", []byte("cHNidP8Bgarbage=="), s.Fee, ErrNotTransaction},
		{"garbage", []byte("hello"), s.Fee, ErrNotTransaction},
		{"another address", tamper(t, s, func(p *psbt.Packet) { p.UnsignedTx.TxOut[payee].PkScript = payTo(8) }), s.Fee, ErrOtherOutputs},
		{"a different amount", tamper(t, s, func(p *psbt.Packet) { p.UnsignedTx.TxOut[payee].Value += 1000 }), s.Fee, ErrOtherOutputs},
		{"an extra output", tamper(t, s, func(p *psbt.Packet) {
			p.UnsignedTx.TxOut[1-payee].Value -= 1000
			p.UnsignedTx.AddTxOut(wire.NewTxOut(1000, payTo(9)))
			p.Outputs = append(p.Outputs, psbt.POutput{})
		}), s.Fee, ErrExtraOutput},
		{"an output dropped", tamper(t, s, func(p *psbt.Packet) {
			p.UnsignedTx.TxOut = p.UnsignedTx.TxOut[:1]
			p.Outputs = p.Outputs[:1]
		}), s.Fee, ErrOtherOutputs},
		{"outputs swapped", tamper(t, s, func(p *psbt.Packet) {
			tx := p.UnsignedTx
			tx.TxOut[0], tx.TxOut[1] = tx.TxOut[1], tx.TxOut[0]
		}), s.Fee, ErrOtherOutputs},
		{"RBF turned off", tamper(t, s, func(p *psbt.Packet) { p.UnsignedTx.TxIn[0].Sequence = wire.MaxTxInSequenceNum }), s.Fee, ErrChangedTerms},
		{"a lock time", tamper(t, s, func(p *psbt.Packet) { p.UnsignedTx.LockTime = 800_000 }), s.Fee, ErrChangedTerms},
		{"other inputs", []byte(signPSBT(t, root, otherSpend.Base64(), true, 0)), s.Fee, ErrOtherInputs},
		{"a fee above the ceiling", []byte(good), s.Fee - 1, ErrFeeTooHigh},
		{"unsigned", unsigned, s.Fee, ErrIncomplete},
		{"one input unsigned", halfSigned, s.Fee, ErrIncomplete},
		{"signed by another key", strangerSigned, s.Fee, ErrBadSignature},
		{"SIGHASH_NONE", []byte(signPSBT(t, root, s.Base64(), true, txscript.SigHashNone)), s.Fee, ErrSighashType},
		{"SIGHASH_ALL|ANYONECANPAY", []byte(signPSBT(t, root, s.Base64(), true, txscript.SigHashAll|txscript.SigHashAnyOneCanPay)), s.Fee, ErrSighashType},
	} {
		tx, err := key.CheckSigned(s, c.upload, c.maxFee)
		if !errors.Is(err, c.err) || tx != nil {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}

// FuzzCheckSigned: whatever the upload, CheckSigned never panics and
// never accepts a transaction that is not the approved one, signed.
func FuzzCheckSigned(f *testing.F) {
	root := testRoot(f)
	key := spendKeys(f)["p2wpkh"]
	coins, prev := fund(f, key, 30_000, 70_000, 20_000)
	s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 1, FeeRate: 2, PrevTxs: prev})
	if err != nil {
		f.Fatal(err)
	}
	want, prevOuts, err := approvedTx(s)
	if err != nil {
		f.Fatal(err)
	}
	signed := signPSBT(f, root, s.Base64(), false, 0)
	final := signPSBT(f, root, s.Base64(), true, 0)
	f.Add([]byte(signed))
	f.Add([]byte(final))
	f.Add([]byte(s.Base64()))
	if raw, err := base64.StdEncoding.DecodeString(final); err == nil {
		f.Add(raw)
		if p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false); err == nil {
			if tx, err := psbt.Extract(p); err == nil {
				var buf bytes.Buffer
				_ = tx.Serialize(&buf)
				f.Add([]byte(hex.EncodeToString(buf.Bytes())))
			}
		}
	}
	f.Fuzz(func(t *testing.T, upload []byte) {
		tx, err := key.CheckSigned(s, upload, s.Fee)
		if err != nil {
			if tx != nil {
				t.Fatal("a transaction with an error")
			}
			return
		}
		if err := sameTx(want, tx); err != nil {
			t.Fatalf("accepted a transaction that is not the approved one: %v", err)
		}
		if err := verify(tx, prevOuts); err != nil {
			t.Fatalf("accepted a transaction that does not verify: %v", err)
		}
	})
}
