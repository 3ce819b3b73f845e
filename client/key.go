package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// sinPrefix is the SIN version byte 0x0F followed by the SIN type byte 0x02
// (spec §1.1).
var sinPrefix = []byte{0x0f, 0x02}

// Key is a client identity: a secp256k1 private key whose public key goes in
// X-Identity and whose SIN identifies the client when pairing.
type Key struct {
	priv *btcec.PrivateKey
}

// NewKey generates a fresh random key. Store its Hex form somewhere safe:
// tokens paired to the key's SIN are useless without it.
func NewKey() (*Key, error) {
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// ParseKey reads a private key from its 64-character hex form, as written by
// Hex and by BitPay's SDKs.
func ParseKey(s string) (*Key, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	if len(b) != btcec.PrivKeyBytesLen {
		return nil, fmt.Errorf("parse key: %d bytes, want %d", len(b), btcec.PrivKeyBytesLen)
	}
	var scalar btcec.ModNScalar
	if overflow := scalar.SetByteSlice(b); overflow || scalar.IsZero() {
		return nil, fmt.Errorf("parse key: not a valid secp256k1 private key")
	}
	return &Key{priv: btcec.PrivKeyFromScalar(&scalar)}, nil
}

// Hex returns the private key as 64 lowercase hex characters.
func (k *Key) Hex() string {
	return hex.EncodeToString(k.priv.Serialize())
}

// PublicHex returns the compressed public key as 66 hex characters, the
// value of the X-Identity header.
func (k *Key) PublicHex() string {
	return hex.EncodeToString(k.priv.PubKey().SerializeCompressed())
}

// SIN returns the key's BitAuth client identifier: base58 of
// 0x0F 0x02 ‖ RIPEMD160(SHA256(compressed public key)) followed by the first
// four bytes of the payload's double SHA-256 (spec §1.1).
func (k *Key) SIN() string {
	payload := make([]byte, 0, 2+20+4)
	payload = append(payload, sinPrefix...)
	payload = append(payload, address.Hash160(k.priv.PubKey().SerializeCompressed())...)
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	return base58.Encode(append(payload, second[:4]...))
}

// sign returns the hex DER ECDSA signature over SHA-256(message), the value
// of the X-Signature header. The message is the full request URL followed by
// the raw body (spec §1.2).
func (k *Key) sign(message []byte) string {
	digest := sha256.Sum256(message)
	return hex.EncodeToString(ecdsa.Sign(k.priv, digest[:]).Serialize())
}
