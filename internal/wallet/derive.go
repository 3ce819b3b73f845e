package wallet

import (
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/txscript/v2"
)

// Address is one derived receiving address.
type Address struct {
	// Index is the child number under the key's receive branch.
	Index uint32

	// Address is the address encoded for the key's network.
	Address string

	// Script is the output script (scriptPubKey) paying to Address.
	Script []byte
}

// Derive returns the address at index on the key's receive branch. Each call
// costs one BIP32 child derivation; Derive is safe for concurrent use.
func (k *Key) Derive(index uint32) (Address, error) {
	return k.deriveOn(&k.branch, "address", index)
}

// deriveOn derives the address at index under branch; what names the
// branch in errors.
func (k *Key) deriveOn(branch *branchKey, what string, index uint32) (Address, error) {
	if index >= hdkeychain.HardenedKeyStart {
		return Address{}, fmt.Errorf("derive %s %d: %w", what, index, ErrIndexOutOfRange)
	}
	child, err := branch.child(index)
	if err != nil {
		return Address{}, fmt.Errorf("derive %s %d: %w", what, index, err)
	}
	addr, script, err := k.pay(child)
	if err != nil {
		return Address{}, fmt.Errorf("derive %s %d: %w", what, index, err)
	}
	return Address{Index: index, Address: addr.EncodeAddress(), Script: script}, nil
}

// pay returns the address and output script of the key's script type for
// one child public key. The scripts are assembled directly: they are fixed
// templates, and this is the hot path.
func (k *Key) pay(pub *btcec.PublicKey) (address.Address, []byte, error) {
	switch k.script {
	case P2PKH:
		hash := address.Hash160(pub.SerializeCompressed())
		addr, err := address.NewAddressPubKeyHash(hash, k.params)
		if err != nil {
			return nil, nil, err
		}
		script := []byte{txscript.OP_DUP, txscript.OP_HASH160, txscript.OP_DATA_20}
		script = append(script, hash...)
		return addr, append(script, txscript.OP_EQUALVERIFY, txscript.OP_CHECKSIG), nil

	case P2SHP2WPKH:
		redeem := append([]byte{txscript.OP_0, txscript.OP_DATA_20}, address.Hash160(pub.SerializeCompressed())...)
		addr, err := address.NewAddressScriptHash(redeem, k.params)
		if err != nil {
			return nil, nil, err
		}
		script := append([]byte{txscript.OP_HASH160, txscript.OP_DATA_20}, addr.ScriptAddress()...)
		return addr, append(script, txscript.OP_EQUAL), nil

	case P2WPKH:
		hash := address.Hash160(pub.SerializeCompressed())
		addr, err := address.NewAddressWitnessPubKeyHash(hash, k.params)
		if err != nil {
			return nil, nil, err
		}
		return addr, append([]byte{txscript.OP_0, txscript.OP_DATA_20}, hash...), nil

	case P2TR:
		output := schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub))
		addr, err := address.NewAddressTaproot(output, k.params)
		if err != nil {
			return nil, nil, err
		}
		return addr, append([]byte{txscript.OP_1, txscript.OP_DATA_32}, output...), nil
	}
	return nil, nil, fmt.Errorf("%w: %v", ErrUnsupportedScript, k.script)
}

// DeriveRange returns the n addresses at indexes from, from+1, …, from+n-1.
func (k *Key) DeriveRange(from, n uint32) ([]Address, error) {
	if uint64(from)+uint64(n) > hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("derive addresses %d to %d: %w", from, uint64(from)+uint64(n)-1, ErrIndexOutOfRange)
	}
	addrs := make([]Address, 0, n)
	for i := from; i < from+n; i++ {
		a, err := k.Derive(i)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}
