package wallet

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// ScriptType is the kind of output script a Key pays to.
type ScriptType int

// The script types kassa derives, one per BIP43 purpose.
const (
	// P2PKH is legacy pay-to-pubkey-hash (BIP44, pkh()).
	P2PKH ScriptType = iota + 1
	// P2SHP2WPKH is P2WPKH nested in P2SH (BIP49, sh(wpkh())).
	P2SHP2WPKH
	// P2WPKH is native segwit v0 (BIP84, wpkh()).
	P2WPKH
	// P2TR is key-path-only taproot (BIP86, tr()).
	P2TR
)

// String returns the script type's conventional short name.
func (t ScriptType) String() string {
	switch t {
	case P2PKH:
		return "p2pkh"
	case P2SHP2WPKH:
		return "p2sh-p2wpkh"
	case P2WPKH:
		return "p2wpkh"
	case P2TR:
		return "p2tr"
	}
	return "ScriptType(" + strconv.Itoa(int(t)) + ")"
}

// maxInputLen bounds what ParseKey reads; real descriptors for one key are
// far shorter.
const maxInputLen = 1000

// Key is a merchant's receiving key: an extended public key, the
// non-hardened path from it to the receive branch, and the script type.
// A Key is immutable and safe for concurrent use.
type Key struct {
	params  *chaincfg.Params
	network string
	script  ScriptType

	// account is the extended public key as given, re-versioned as a
	// plain xpub or tpub; origin is the descriptor's "[fp/path]" in
	// canonical form, empty when none was given.
	account *hdkeychain.ExtendedKey
	origin  string
	path    []uint32

	// fingerprint and originPath are origin parsed: the master key's
	// fingerprint and the path from it to account. Without an origin,
	// fingerprint is account's own and originPath is empty.
	fingerprint [4]byte
	originPath  []uint32

	// branch is account/path, derived once so that each address costs
	// one child derivation; see branchKey.child. change is the change
	// branch, account/changePath, when the key has one (hasChange).
	branch     branchKey
	change     branchKey
	changePath []uint32
	hasChange  bool

	// desc is the canonical descriptor with its checksum.
	desc string
}

// ParseKey parses a merchant's receiving key for the named network (see
// NetworkParams). It accepts an account-level extended public key (xpub,
// ypub, zpub on mainnet; tpub, upub, vpub on testnet, signet and regtest),
// whose version picks the script type and whose receive branch is /0, or an
// output descriptor wpkh(KEY/…/*), sh(wpkh(KEY/…/*)), pkh(KEY/…/*) or
// tr(KEY/…/*) with an optional key origin and an optional checksum, which
// is verified when present.
//
// The errors wrap the package's sentinel errors; a key for another network
// is a *NetworkMismatchError. Errors never repeat the key material given.
func ParseKey(s, network string) (*Key, error) {
	params, err := NetworkParams(network)
	if err != nil {
		return nil, err
	}
	s, isDescriptor, err := trimKey(s)
	if err != nil {
		return nil, err
	}
	if isDescriptor {
		return parseDescriptor(s, params, network)
	}
	ext, err := parseExtKey(s, network)
	if err != nil {
		return nil, err
	}
	return newKey(params, network, ext.version.script, ext.key, "", []uint32{0})
}

// trimKey trims a key or descriptor as given, refuses an empty or overlong
// one and reports whether it is a descriptor.
func trimKey(s string) (string, bool, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", false, fmt.Errorf("%w: empty key", ErrMalformedKey)
	case len(s) > maxInputLen:
		return "", false, fmt.Errorf("%w: %d characters is too long for a key or descriptor", ErrMalformedKey, len(s))
	}
	return s, strings.ContainsAny(s, "()#[/"), nil
}

// newKey derives the branch key and the canonical descriptor.
func newKey(params *chaincfg.Params, network string, script ScriptType,
	account *hdkeychain.ExtendedKey, origin string, path []uint32) (*Key, error) {

	branch := account
	for _, step := range path {
		child, err := branch.Derive(step)
		if err != nil {
			return nil, fmt.Errorf("%w: derive the branch key: %v", ErrMalformedKey, err)
		}
		branch = child
	}
	// The addresses are children of branch, so branch must leave room
	// for one more level in BIP32's one-byte depth.
	if branch.Depth() == 255 {
		return nil, fmt.Errorf("%w: the key is too deep in its tree to derive children", ErrMalformedKey)
	}

	var b strings.Builder
	b.WriteString(origin)
	b.WriteString(account.String())
	for _, step := range path {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(step), 10))
	}
	b.WriteString("/*")
	keyExpr := b.String()

	var desc string
	switch script {
	case P2PKH:
		desc = "pkh(" + keyExpr + ")"
	case P2SHP2WPKH:
		desc = "sh(wpkh(" + keyExpr + "))"
	case P2WPKH:
		desc = "wpkh(" + keyExpr + ")"
	case P2TR:
		desc = "tr(" + keyExpr + ")"
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedScript, script)
	}
	desc, err := withChecksum(desc)
	if err != nil {
		return nil, err
	}
	bk, err := newBranchKey(branch)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	k := &Key{
		params:  params,
		network: network,
		script:  script,
		account: account,
		origin:  origin,
		path:    path,
		branch:  bk,
		desc:    desc,
	}
	if err := k.setOrigin(); err != nil {
		return nil, err
	}
	if err := k.setChange(); err != nil {
		return nil, err
	}
	return k, nil
}

// String returns the canonical output descriptor with its checksum, such as
// "wpkh([d34db33f/84h/0h/0h]xpub…/0/*)#cjjspncu". It is the form to store:
// ParseKey on it gives a Key deriving the same addresses.
func (k *Key) String() string { return k.desc }

// ScriptType returns the kind of output script the key's addresses use.
func (k *Key) ScriptType() ScriptType { return k.script }

// Network returns the network name the key was parsed for.
func (k *Key) Network() string { return k.network }
