package wallet

import (
	"errors"
	"fmt"
)

// The sentinel errors below are what callers branch on with errors.Is; the
// errors ParseKey returns wrap one of them with the detail the merchant needs.
// No error ever contains the key material that was given.
var (
	// ErrUnknownNetwork means the network name is not one kassa runs on.
	ErrUnknownNetwork = errors.New("unknown network")

	// ErrMalformedKey means the input is not a well-formed extended public
	// key or descriptor: bad base58, wrong length, bad syntax.
	ErrMalformedKey = errors.New("malformed key")

	// ErrBadChecksum means a checksum in the input does not match: the
	// base58check checksum of an extended key or the BIP-380 checksum of a
	// descriptor. The input was most likely mistyped or truncated.
	ErrBadChecksum = errors.New("checksum mismatch")

	// ErrPrivateKey means the input holds a private key. kassa refuses it
	// so that a compromise of the server cannot spend the merchant's coins.
	ErrPrivateKey = errors.New("this is a private key: never give kassa a private key, " +
		"export the account's extended public key (xpub) instead")

	// ErrWrongNetwork means the key belongs to another network than the one
	// kassa runs on; the concrete error is a *NetworkMismatchError.
	ErrWrongNetwork = errors.New("key is for another network")

	// ErrHardenedDerivation means the descriptor asks for a hardened step
	// after the extended public key, which no public key can derive.
	ErrHardenedDerivation = errors.New("hardened derivation after an extended public key " +
		"is impossible: give the key at the last hardened step instead")

	// ErrUnsupportedScript means the key's version bytes or the descriptor's
	// script expression name a script type kassa does not derive.
	ErrUnsupportedScript = errors.New("unsupported script type")

	// ErrIndexOutOfRange means the address index is in BIP32's hardened
	// range (2^31 and above), which a public key cannot derive.
	ErrIndexOutOfRange = errors.New("address index out of range")

	// ErrInvalidChild means BIP32 yields no key at this index (odds below
	// 1 in 2^127); the caller skips to the next index, as BIP32 says.
	ErrInvalidChild = errors.New("no valid key at this index; skip to the next index")

	// ErrBadAddress means a string is not a payable address on the
	// network.
	ErrBadAddress = errors.New("not a valid address")
)

// NetworkMismatchError reports a key made for another network than the one
// kassa runs on. It matches ErrWrongNetwork with errors.Is.
type NetworkMismatchError struct {
	// KeyNetwork names the network(s) the key is for, such as "mainnet"
	// or "testnet/signet/regtest".
	KeyNetwork string

	// Prefix is the key's human-readable prefix, such as "xpub" or "vpub".
	Prefix string

	// Network is the network kassa runs on.
	Network string
}

// Error says which network the key is for and which one kassa runs on.
func (e *NetworkMismatchError) Error() string {
	return fmt.Sprintf("key is a %s key (%s), but kassa runs on %s", e.KeyNetwork, e.Prefix, e.Network)
}

// Unwrap lets errors.Is match ErrWrongNetwork.
func (e *NetworkMismatchError) Unwrap() error { return ErrWrongNetwork }
