package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// The standard BIP32 private versions a hot key is converted to.
var (
	xprvVersion = [4]byte{0x04, 0x88, 0xad, 0xe4}
	tprvVersion = [4]byte{0x04, 0x35, 0x83, 0x94}
)

// The ways a private key given to the hot signer can be wrong, besides the
// key errors ParseKey shares (ErrMalformedKey, ErrBadChecksum,
// ErrWrongNetwork, ErrUnsupportedScript). No error names key material.
var (
	// ErrNotPrivateKey means the hot signer was given a public key: it
	// needs the private key that spends the store's coins.
	ErrNotPrivateKey = errors.New("this is not a private key: the hot signer needs the account's " +
		"extended private key (xprv/tprv, or a descriptor with one)")

	// ErrNotStoreKey means the private key does not derive the store's
	// receiving key: it would sign nothing the store owns.
	ErrNotStoreKey = errors.New("the private key is not the store's key")
)

// HotKey is the private key of a store's receiving key, which the opt-in
// hot signer holds to sign the store's spends without the merchant's
// wallet. It is immutable and safe for concurrent use. Its String, GoString
// and LogValue never show the key: printing or logging a HotKey prints a
// placeholder.
type HotKey struct {
	key     *Key
	account *hdkeychain.ExtendedKey // private, the store's account key
}

// ParseHotKey parses the private key of store's receiving key: the
// account's extended private key (xprv/tprv, or yprv/zprv/uprv/vprv whose
// SLIP-132 script type must then be the store's), the master private key
// when the store's key has a key origin to derive the account along, or a
// descriptor with the private key in place of the public one, such as
// wpkh([d34db33f/84h/0h/0h]xprv…/0/*), whose script and path must be the
// store's. The key must derive exactly the store's account public key.
//
// Errors wrap ErrNotPrivateKey, ErrNotStoreKey or the key errors of
// ParseKey, and never contain the key given.
func ParseHotKey(s string, store *Key) (*HotKey, error) {
	s, isDescriptor, err := trimKey(s)
	if err != nil {
		return nil, err
	}
	if !isDescriptor {
		priv, v, err := parsePrivExtKey(s, store.network)
		if err != nil {
			return nil, err
		}
		if v.prefix != "xprv" && v.prefix != "tprv" && v.script != store.script {
			return nil, fmt.Errorf("%w: a %s is for %v addresses, the store receives to %v", ErrNotStoreKey,
				v.prefix, v.script, store.script)
		}
		return matchStore(priv, store)
	}
	d, err := splitDescriptor(s)
	if err != nil {
		return nil, err
	}
	script, encoded, pathExpr := d.script, d.key, d.path
	priv, v, err := parsePrivExtKey(encoded, store.network)
	if err != nil {
		return nil, err
	}
	if v.prefix != "xprv" && v.prefix != "tprv" {
		return nil, fmt.Errorf("%w: descriptors take xprv/tprv keys, not %s", ErrMalformedKey, v.prefix)
	}
	path, err := parseWildcardPath(pathExpr)
	if err != nil {
		return nil, err
	}
	switch {
	case script != store.script:
		return nil, fmt.Errorf("%w: the descriptor pays to %v addresses, the store's to %v", ErrNotStoreKey, script, store.script)
	case !slices.Equal(path, store.path):
		return nil, fmt.Errorf("%w: the descriptor's derivation after the key is not the store's", ErrNotStoreKey)
	}
	return matchStore(priv, store)
}

// parsePrivExtKey decodes an extended private key for network and returns
// it re-versioned as a standard xprv or tprv.
func parsePrivExtKey(s, network string) (*hdkeychain.ExtendedKey, extKeyVersion, error) {
	if isHexKey(s) {
		return nil, extKeyVersion{}, fmt.Errorf("%w: a single key gives one address; the hot signer needs "+
			"the account's extended private key", ErrMalformedKey)
	}
	payload, v, err := decodeExtKey(s)
	if errors.Is(err, ErrPrivateKey) { // a WIF key
		return nil, extKeyVersion{}, fmt.Errorf("%w: a WIF key is one address's; the hot signer needs "+
			"the account's extended private key", ErrMalformedKey)
	}
	if err != nil {
		return nil, extKeyVersion{}, err
	}
	if !v.private || payload[45] != 0x00 {
		return nil, extKeyVersion{}, fmt.Errorf("%w (got %s)", ErrNotPrivateKey, v.prefix)
	}
	if err := checkVersion(v, network); err != nil {
		return nil, extKeyVersion{}, err
	}
	std := tprvVersion
	if v.mainnet {
		std = xprvVersion
	}
	key, err := withVersion(payload, std)
	if err != nil {
		return nil, extKeyVersion{}, err
	}
	return key, v, nil
}

// matchStore returns the hot key when priv, or the account key derived
// from priv along the store key's origin, is the store's account key.
func matchStore(priv *hdkeychain.ExtendedKey, store *Key) (*HotKey, error) {
	account := priv
	want := store.account.Depth()
	if got := priv.Depth(); got != want {
		// A master key derives the account along the key origin, when
		// the store's key has one that reaches the account.
		if got != 0 || len(store.originPath) != int(want) || !store.HasOrigin() {
			return nil, fmt.Errorf("%w: it is at depth %d of its wallet, the store's account key at depth %d: "+
				"give the account's extended private key", ErrNotStoreKey, got, want)
		}
		pub, err := priv.ECPubKey()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
		if fingerprint(pub.SerializeCompressed()) != store.fingerprint {
			return nil, fmt.Errorf("%w: the master key's fingerprint is not the store key origin's", ErrNotStoreKey)
		}
		for _, step := range store.originPath {
			if account, err = account.Derive(step); err != nil {
				return nil, fmt.Errorf("%w: derive the account key: %v", ErrMalformedKey, err)
			}
		}
	}
	pub, err := account.Neuter()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	// Public keys and chain codes: nothing secret is compared here.
	if !samePublic(pub, store.account) {
		return nil, fmt.Errorf("%w: its public key is not the store's account key (another wallet, "+
			"or another account of the same wallet)", ErrNotStoreKey)
	}
	return &HotKey{key: store, account: account}, nil
}

// samePublic reports whether two extended public keys have the same key
// and chain code.
func samePublic(a, b *hdkeychain.ExtendedKey) bool {
	pa, err1 := a.ECPubKey()
	pb, err2 := b.ECPubKey()
	return err1 == nil && err2 == nil && pa.IsEqual(pb) && bytes.Equal(a.ChainCode(), b.ChainCode())
}

// Key returns the store's receiving key the hot key spends for.
func (h *HotKey) Key() *Key { return h.key }

// String hides the key.
func (h HotKey) String() string { return "wallet.HotKey(hidden)" }

// Format hides the key from every fmt verb, %#v and %x included.
func (h HotKey) Format(f fmt.State, _ rune) { io.WriteString(f, h.String()) }

// LogValue hides the key from log/slog.
func (h HotKey) LogValue() slog.Value { return slog.StringValue(h.String()) }
