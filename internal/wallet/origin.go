package wallet

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// ErrNoChangeBranch means the key cannot derive a change address: kassa
// sends a spend's change to the account's change branch (account/1/*), the
// sibling of the receive branch account/0/*, and a descriptor whose path
// does not end in /0/* has no such sibling. Change sent to a receive address
// would look like an invoice payment, so kassa does not fall back to it.
var ErrNoChangeBranch = errors.New("the key has no change branch: kassa sends change to the account's " +
	"/1/* branch, so give the account key with its receive branch, such as " +
	"wpkh([fingerprint/84h/0h/0h]xpub…/0/*), or the plain account xpub/zpub")

// ErrOriginMismatch means a key origin given for an extended key cannot be
// its origin: the path's length is not the key's depth, or its last step is
// not the key's child number, or a one-step path's fingerprint is not the
// key's parent.
var ErrOriginMismatch = errors.New("the key origin does not match the extended key")

// HasOrigin reports whether the key carries a key origin ("[fingerprint/
// path]"), the master key fingerprint and derivation path that hardware
// wallets, Sparrow, Electrum and Specter need in a PSBT to recognise their
// own inputs. Store setup asks for it when the key has none (WithOrigin).
// Without it kassa's PSBTs name the account key itself as the master, which
// a wallet holding the account's private key can sign but most signers
// holding only the seed cannot.
func (k *Key) HasOrigin() bool { return k.origin != "" }

// Origin returns the key origin in canonical form, such as
// "[d34db33f/84h/0h/0h]", or "" when the key has none.
func (k *Key) Origin() string { return k.origin }

// WithOrigin returns the key with the key origin origin, written
// "[d34db33f/84h/0h/0h]" (the brackets optional, ' or h for hardened): the
// fingerprint of the wallet's master key and the path from it to the account
// key, as wallets show them next to the xpub. An origin the key already has
// is replaced. The origin is checked against what the extended key records
// of itself (its depth, its child number and its parent's fingerprint), so
// that a mistyped path is refused rather than producing PSBTs no wallet
// signs; the master fingerprint itself cannot be checked without the seed.
func (k *Key) WithOrigin(origin string) (*Key, error) {
	origin = strings.TrimSpace(origin)
	if !strings.HasPrefix(origin, "[") {
		origin = "[" + origin + "]"
	}
	canonical, rest, err := parseOrigin(origin)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("%w: text after the key origin's ']'", ErrMalformedKey)
	}
	fp, path, err := splitOrigin(canonical)
	if err != nil {
		return nil, err
	}
	acc := k.account
	switch {
	case len(path) != int(acc.Depth()):
		return nil, fmt.Errorf("%w: the path has %d steps but the key is at depth %d", ErrOriginMismatch, len(path), acc.Depth())
	case len(path) > 0 && path[len(path)-1] != acc.ChildIndex():
		return nil, fmt.Errorf("%w: the path's last step is not the key's child number", ErrOriginMismatch)
	case len(path) == 1 && binary.BigEndian.Uint32(fp[:]) != acc.ParentFingerprint():
		return nil, fmt.Errorf("%w: the fingerprint is not the key's parent", ErrOriginMismatch)
	case len(path) == 0 && fp != fingerprint(k.accountPub()):
		return nil, fmt.Errorf("%w: an empty path names the key itself, and the fingerprint is not its own", ErrOriginMismatch)
	}
	return newKey(k.params, k.network, k.script, acc, canonical, slices.Clone(k.path))
}

// SameAddresses reports whether o derives exactly k's addresses (the same
// account key, path and script type, on the same network): what lets a
// store whose key is in use be given its key origin, which changes the
// descriptor but not one address.
func (k *Key) SameAddresses(o *Key) bool {
	return k.network == o.network && k.script == o.script && slices.Equal(k.path, o.path) &&
		k.account.String() == o.account.String()
}

// DeriveChange returns the address at index on the key's change branch, or
// ErrNoChangeBranch.
func (k *Key) DeriveChange(index uint32) (Address, error) {
	if !k.hasChange {
		return Address{}, ErrNoChangeBranch
	}
	return k.deriveOn(&k.change, "change address", index)
}

// derivation is where a coin's key sits in the merchant's wallet, in the
// form BIP174's bip32_derivation fields take.
type derivation struct {
	pub         *btcec.PublicKey
	fingerprint [4]byte
	path        []uint32
}

// derive returns the public key at index on branch (0 receive, 1 change)
// and its full derivation from the origin's master key.
func (k *Key) derive(branch, index uint32) (derivation, error) {
	var (
		bk   *branchKey
		path []uint32
	)
	switch {
	case branch == 0:
		bk, path = &k.branch, k.path
	case branch == 1 && k.hasChange:
		bk, path = &k.change, k.changePath
	case branch == 1:
		return derivation{}, ErrNoChangeBranch
	default:
		return derivation{}, fmt.Errorf("%w: branch %d is neither receive (0) nor change (1)", ErrIndexOutOfRange, branch)
	}
	if index >= hdkeychain.HardenedKeyStart {
		return derivation{}, fmt.Errorf("derive %d/%d: %w", branch, index, ErrIndexOutOfRange)
	}
	pub, err := bk.child(index)
	if err != nil {
		return derivation{}, fmt.Errorf("derive %d/%d: %w", branch, index, err)
	}
	full := make([]uint32, 0, len(k.originPath)+len(path)+1)
	full = append(append(append(full, k.originPath...), path...), index)
	return derivation{pub: pub, fingerprint: k.fingerprint, path: full}, nil
}

// setOrigin fills fingerprint and originPath from origin, or from the
// account key itself when there is no origin.
func (k *Key) setOrigin() error {
	if k.origin == "" {
		k.fingerprint = fingerprint(k.accountPub())
		return nil
	}
	fp, path, err := splitOrigin(k.origin)
	if err != nil {
		return err
	}
	k.fingerprint, k.originPath = fp, path
	return nil
}

// setChange derives the change branch: the receive branch's last step
// 0 becomes 1 (account/0 → account/1 for extended keys, …/0/* → …/1/* for
// descriptors). Other paths leave the key without a change branch.
func (k *Key) setChange() error {
	n := len(k.path)
	if n == 0 || k.path[n-1] != 0 {
		return nil
	}
	k.changePath = append(slices.Clone(k.path[:n-1]), 1)
	branch := k.account
	for _, step := range k.changePath {
		child, err := branch.Derive(step)
		if err != nil {
			return fmt.Errorf("%w: derive the change branch key: %v", ErrMalformedKey, err)
		}
		branch = child
	}
	bk, err := newBranchKey(branch)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	k.change, k.hasChange = bk, true
	return nil
}

// accountPub returns the account key's compressed public key.
func (k *Key) accountPub() []byte {
	pub, err := k.account.ECPubKey()
	if err != nil {
		// A parsed extended public key always holds a valid point.
		return nil
	}
	return pub.SerializeCompressed()
}

// fingerprint is BIP32's key fingerprint: the first four bytes of the
// HASH160 of the compressed public key.
func fingerprint(pub []byte) [4]byte {
	var fp [4]byte
	copy(fp[:], address.Hash160(pub))
	return fp
}

// splitOrigin parses a canonical origin "[fp/1h/2]" (see parseOrigin).
func splitOrigin(origin string) ([4]byte, []uint32, error) {
	var fp [4]byte
	inner := strings.TrimSuffix(strings.TrimPrefix(origin, "["), "]")
	fpHex, rest, _ := strings.Cut(inner, "/")
	if _, err := hex.Decode(fp[:], []byte(fpHex)); err != nil || len(fpHex) != 8 {
		return fp, nil, fmt.Errorf("%w: key origin fingerprint must be 8 hex digits", ErrMalformedKey)
	}
	var path []uint32
	if rest == "" {
		return fp, path, nil
	}
	for step := range strings.SplitSeq(rest, "/") {
		num, hardened := strings.CutSuffix(step, "h")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n >= hdkeychain.HardenedKeyStart {
			return fp, nil, fmt.Errorf("%w: key origin step out of range", ErrMalformedKey)
		}
		if hardened {
			n += hdkeychain.HardenedKeyStart
		}
		path = append(path, uint32(n))
	}
	return fp, path, nil
}
