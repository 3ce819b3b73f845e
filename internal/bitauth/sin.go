package bitauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcec/v2"
)

// sinPrefix is the SIN version byte 0x0F followed by the SIN type byte
// 0x02 (an ephemeral, self-generated identity).
var sinPrefix = []byte{0x0f, 0x02}

// The lengths of the two accepted public key encodings.
const (
	compressedLen   = 33
	uncompressedLen = 65
)

// sinLen is the decoded length of a SIN: prefix, 20-byte hash, checksum.
const sinLen = 2 + 20 + 4

// SIN returns the client id for the public key bytes pub, hashed exactly
// as given: a compressed and an uncompressed encoding of the same key give
// different SINs, as they do for every BitPay client.
func SIN(pub []byte) (string, error) {
	if _, err := parsePubKey(pub); err != nil {
		return "", err
	}
	return sinOf(pub), nil
}

// sinOf derives the SIN of already validated key bytes.
func sinOf(pub []byte) string {
	buf := make([]byte, 0, sinLen)
	buf = append(buf, sinPrefix...)
	buf = append(buf, address.Hash160(pub)...)
	sum := doubleSHA256(buf)
	buf = append(buf, sum[:4]...)
	return base58.Encode(buf)
}

// ValidSIN reports whether s is a well-formed SIN: base58 with a valid
// checksum, 22 payload bytes and the 0x0F 0x02 prefix. Pairing requests
// carry a SIN in their "id" field.
func ValidSIN(s string) bool {
	raw := base58.Decode(s)
	if len(raw) != sinLen || !bytes.HasPrefix(raw, sinPrefix) {
		return false
	}
	sum := doubleSHA256(raw[:sinLen-4])
	return bytes.Equal(sum[:4], raw[sinLen-4:])
}

// ParsePublicKey parses a hex public key as sent in X-Identity, in
// compressed (02/03, 33 bytes) or uncompressed (04, 65 bytes) form.
func ParsePublicKey(hexKey string) (*btcec.PublicKey, error) {
	id, err := parseIdentity(hexKey)
	if err != nil {
		return nil, err
	}
	return id.key, nil
}

// clientKey is a parsed X-Identity: the key to verify with and its SIN.
type clientKey struct {
	key *btcec.PublicKey
	sin string
}

// parseIdentity decodes and parses a hex public key and derives its SIN
// from the bytes as sent.
func parseIdentity(hexKey string) (clientKey, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(hexKey))
	if err != nil {
		return clientKey{}, fmt.Errorf("%w: not hex: %v", ErrBadIdentity, err)
	}
	key, err := parsePubKey(raw)
	if err != nil {
		return clientKey{}, err
	}
	return clientKey{key: key, sin: sinOf(raw)}, nil
}

// parsePubKey accepts only the compressed and uncompressed encodings. The
// hybrid encodings (06/07) parse in btcec but no client sends them, and
// each would give the same key yet another SIN.
func parsePubKey(raw []byte) (*btcec.PublicKey, error) {
	switch {
	case len(raw) == compressedLen && (raw[0] == 0x02 || raw[0] == 0x03):
	case len(raw) == uncompressedLen && raw[0] == 0x04:
	default:
		return nil, fmt.Errorf("%w: %d bytes, want a 33-byte compressed or 65-byte uncompressed key", ErrBadIdentity, len(raw))
	}
	pub, err := btcec.ParsePubKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIdentity, err)
	}
	return pub, nil
}

func doubleSHA256(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}
