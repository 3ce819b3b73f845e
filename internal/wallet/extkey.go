package wallet

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chainhash/v2"
)

// extKeyVersion describes the four version bytes that open a serialized
// extended key: which prefix they render as, which networks they are for,
// whether the key is private and which script SLIP-132 assigns them.
type extKeyVersion struct {
	prefix   string
	mainnet  bool
	private  bool
	multisig bool
	script   ScriptType
}

// extKeyVersions lists the BIP32 and SLIP-132 version bytes kassa knows, the
// private and multisig ones included so that they can be refused by name.
var extKeyVersions = map[[4]byte]extKeyVersion{
	{0x04, 0x88, 0xb2, 0x1e}: {prefix: "xpub", mainnet: true, script: P2PKH},
	{0x04, 0x9d, 0x7c, 0xb2}: {prefix: "ypub", mainnet: true, script: P2SHP2WPKH},
	{0x04, 0xb2, 0x47, 0x46}: {prefix: "zpub", mainnet: true, script: P2WPKH},
	{0x04, 0x35, 0x87, 0xcf}: {prefix: "tpub", script: P2PKH},
	{0x04, 0x4a, 0x52, 0x62}: {prefix: "upub", script: P2SHP2WPKH},
	{0x04, 0x5f, 0x1c, 0xf6}: {prefix: "vpub", script: P2WPKH},

	{0x04, 0x88, 0xad, 0xe4}: {prefix: "xprv", mainnet: true, private: true, script: P2PKH},
	{0x04, 0x9d, 0x78, 0x78}: {prefix: "yprv", mainnet: true, private: true, script: P2SHP2WPKH},
	{0x04, 0xb2, 0x43, 0x0c}: {prefix: "zprv", mainnet: true, private: true, script: P2WPKH},
	{0x04, 0x35, 0x83, 0x94}: {prefix: "tprv", private: true, script: P2PKH},
	{0x04, 0x4a, 0x4e, 0x28}: {prefix: "uprv", private: true, script: P2SHP2WPKH},
	{0x04, 0x5f, 0x18, 0xbc}: {prefix: "vprv", private: true, script: P2WPKH},

	{0x02, 0x95, 0xb4, 0x3f}: {prefix: "Ypub", mainnet: true, multisig: true},
	{0x02, 0xaa, 0x7e, 0xd3}: {prefix: "Zpub", mainnet: true, multisig: true},
	{0x02, 0x42, 0x89, 0xef}: {prefix: "Upub", multisig: true},
	{0x02, 0x57, 0x54, 0x83}: {prefix: "Vpub", multisig: true},
	{0x02, 0x95, 0xb0, 0x05}: {prefix: "Yprv", mainnet: true, private: true, multisig: true},
	{0x02, 0xaa, 0x7a, 0x99}: {prefix: "Zprv", mainnet: true, private: true, multisig: true},
	{0x02, 0x42, 0x85, 0xb5}: {prefix: "Uprv", private: true, multisig: true},
	{0x02, 0x57, 0x50, 0x48}: {prefix: "Vprv", private: true, multisig: true},
}

// The standard BIP32 public versions every parsed key is converted to, so
// that hdkeychain and descriptors see plain xpub/tpub keys.
var (
	xpubVersion = [4]byte{0x04, 0x88, 0xb2, 0x1e}
	tpubVersion = [4]byte{0x04, 0x35, 0x87, 0xcf}
)

// Sizes of the BIP32 serialization: 78 bytes of payload and a 4-byte
// double-SHA256 checksum.
const (
	extKeyPayloadLen = 78
	extKeyLen        = extKeyPayloadLen + 4
	maxExtKeyChars   = 120
)

// parsedExtKey is an extended public key together with what its version
// bytes said about it.
type parsedExtKey struct {
	key     *hdkeychain.ExtendedKey // carries the standard xpub/tpub version
	version extKeyVersion
}

// parseExtKey decodes a base58check extended public key in any of the
// versions above, refuses private, multisig and wrong-network keys, and
// returns it re-versioned as a standard xpub or tpub.
func parseExtKey(s, network string) (parsedExtKey, error) {
	payload, v, err := decodeExtKey(s)
	if err != nil {
		return parsedExtKey{}, err
	}
	if v.private {
		return parsedExtKey{}, fmt.Errorf("%w (got %s)", ErrPrivateKey, v.prefix)
	}
	// A zero byte before the key data marks a private key whatever the
	// version bytes claim.
	if payload[45] == 0x00 {
		return parsedExtKey{}, fmt.Errorf("%w (got private key data under %s version bytes)", ErrPrivateKey, v.prefix)
	}
	if err := checkVersion(v, network); err != nil {
		return parsedExtKey{}, err
	}
	std := tpubVersion
	if v.mainnet {
		std = xpubVersion
	}
	key, err := withVersion(payload, std)
	if err != nil {
		return parsedExtKey{}, err
	}
	return parsedExtKey{key: key, version: v}, nil
}

// decodeExtKey decodes a base58check extended key, public or private, and
// looks up its version bytes. The errors never repeat the input.
func decodeExtKey(s string) ([]byte, extKeyVersion, error) {
	if len(s) > maxExtKeyChars {
		return nil, extKeyVersion{}, fmt.Errorf("%w: %d characters is too long for an extended key", ErrMalformedKey, len(s))
	}
	raw := base58.Decode(s)
	if len(raw) == 0 {
		return nil, extKeyVersion{}, fmt.Errorf("%w: not valid base58", ErrMalformedKey)
	}
	if len(raw) != extKeyLen {
		if isWIF(raw) {
			return nil, extKeyVersion{}, fmt.Errorf("%w (got a WIF private key)", ErrPrivateKey)
		}
		return nil, extKeyVersion{}, fmt.Errorf("%w: decodes to %d bytes, an extended key has %d",
			ErrMalformedKey, len(raw), extKeyLen)
	}
	payload, sum := raw[:extKeyPayloadLen], raw[extKeyPayloadLen:]
	if !bytes.Equal(chainhash.DoubleHashB(payload)[:4], sum) {
		return nil, extKeyVersion{}, fmt.Errorf("%w: extended key checksum is wrong; "+
			"copy the key again from the wallet", ErrBadChecksum)
	}
	v, ok := extKeyVersions[[4]byte(payload[:4])]
	if !ok {
		return nil, extKeyVersion{}, fmt.Errorf("%w: unknown extended key version %x", ErrMalformedKey, payload[:4])
	}
	return payload, v, nil
}

// checkVersion refuses multisig versions and versions of another network.
func checkVersion(v extKeyVersion, network string) error {
	if v.multisig {
		return fmt.Errorf("%w: %s is a multisig key; kassa derives single-key addresses "+
			"(use a descriptor wallet's single-key xpub/ypub/zpub)", ErrUnsupportedScript, v.prefix)
	}
	if v.mainnet != isMainnet(network) {
		keyNet := "mainnet"
		if !v.mainnet {
			keyNet = "testnet/signet/regtest"
		}
		return &NetworkMismatchError{KeyNetwork: keyNet, Prefix: v.prefix, Network: network}
	}
	return nil
}

// withVersion re-serializes payload under the standard version std and lets
// hdkeychain do the BIP32 decoding, which also checks the key is valid.
func withVersion(payload []byte, std [4]byte) (*hdkeychain.ExtendedKey, error) {
	buf := make([]byte, 0, extKeyLen)
	buf = append(buf, std[:]...)
	buf = append(buf, payload[4:]...)
	buf = append(buf, chainhash.DoubleHashB(buf)[:4]...)
	key, err := hdkeychain.NewKeyFromString(base58.Encode(buf))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	return key, nil
}

// isWIF reports whether raw looks like a base58check-decoded WIF private key:
// a mainnet or testnet version byte, 32 key bytes, an optional compression
// flag and a valid checksum.
func isWIF(raw []byte) bool {
	if len(raw) != 37 && len(raw) != 38 {
		return false
	}
	if raw[0] != 0x80 && raw[0] != 0xef {
		return false
	}
	n := len(raw) - 4
	return bytes.Equal(chainhash.DoubleHashB(raw[:n])[:4], raw[n:])
}
