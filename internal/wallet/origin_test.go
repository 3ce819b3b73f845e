package wallet

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// bip84Change0 is BIP84's first change address, m/84'/0'/0'/1/0.
const bip84Change0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"

// bip84Origin is the origin of bip84Xpub: the BIP84 seed's master
// fingerprint and the account path.
const bip84Origin = "[73c5da0a/84h/0h/0h]"

const hard = hdkeychain.HardenedKeyStart

func TestChangeBranch(t *testing.T) {
	for _, tt := range []struct {
		name, key string
		err       error
	}{
		{"zpub", bip84Zpub, nil},
		{"descriptor with origin", "wpkh(" + bip84Origin + bip84Xpub + "/0/*)", nil},
		{"descriptor without origin", "wpkh(" + bip84Xpub + "/0/*)", nil},
		{"descriptor ending in /5/*", "wpkh(" + bip84Xpub + "/5/*)", ErrNoChangeBranch},
		{"descriptor on the branch key itself", "wpkh(" + bip84Xpub + "/*)", ErrNoChangeBranch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseKey(tt.key, Mainnet)
			if err != nil {
				t.Fatal(err)
			}
			a, err := key.DeriveChange(0)
			if !errors.Is(err, tt.err) {
				t.Fatalf("DeriveChange: %v, want %v", err, tt.err)
			}
			if err == nil && a.Address != bip84Change0 {
				t.Errorf("change 0 = %s, want %s", a.Address, bip84Change0)
			}
		})
	}
}

func TestDerivationOrigin(t *testing.T) {
	plain, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if plain.HasOrigin() {
		t.Fatal("a zpub has no origin")
	}
	d, err := plain.derive(1, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Without an origin the account key stands for the master: its own
	// fingerprint, the path relative to it.
	if want := fingerprint(plain.accountPub()); d.fingerprint != want || !slices.Equal(d.path, []uint32{1, 7}) {
		t.Errorf("no origin: %x %v, want %x [1 7]", d.fingerprint, d.path, want)
	}

	withOrigin, err := plain.WithOrigin("73c5da0a/84'/0'/0'")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := ParseKey("wpkh("+bip84Origin+bip84Xpub+"/0/*)", Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Key{withOrigin, desc} {
		if !k.HasOrigin() || k.Origin() != bip84Origin {
			t.Errorf("%s: origin %q", k, k.Origin())
		}
		d, err := k.derive(1, 7)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(d.fingerprint[:]) != "73c5da0a" || !slices.Equal(d.path, []uint32{84 + hard, hard, hard, 1, 7}) {
			t.Errorf("%s: %x %v", k, d.fingerprint, d.path)
		}
	}
	if withOrigin.String() != desc.String() {
		t.Errorf("WithOrigin gives %s, the descriptor %s", withOrigin, desc)
	}
}

func TestWithOriginRefuses(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, origin string
		err          error
	}{
		{"too short a path", "[73c5da0a/84h/0h]", ErrOriginMismatch},
		{"wrong account number", "[73c5da0a/84h/0h/1h]", ErrOriginMismatch},
		{"not hex", "[73c5da0z/84h/0h/0h]", ErrMalformedKey},
		{"text after", "[73c5da0a/84h/0h/0h]xpub", ErrMalformedKey},
		{"empty", "", ErrMalformedKey},
	} {
		if _, err := key.WithOrigin(tt.origin); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
}
