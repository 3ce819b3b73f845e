package wallet

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// TestChildMatchesHDKeychain checks kassa's cached-branch derivation against
// hdkeychain's own BIP32 derivation, child by child.
func TestChildMatchesHDKeychain(t *testing.T) {
	for _, input := range []string{bip84Xpub, bip86Xpub, bip84Tpub} {
		ext, err := hdkeychain.NewKeyFromString(input)
		if err != nil {
			t.Fatal(err)
		}
		branchExt, err := ext.Derive(0)
		if err != nil {
			t.Fatal(err)
		}
		branch, err := newBranchKey(branchExt)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []uint32{0, 1, 2, 3, 19, 20, 1000, 1<<31 - 1} {
			want, err := branchExt.Derive(i)
			if err != nil {
				t.Fatal(err)
			}
			wantPub, err := want.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			got, err := branch.child(i)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.SerializeCompressed(), wantPub.SerializeCompressed()) {
				t.Errorf("%s…/0/%d: got %x, want %x", input[:12], i, got.SerializeCompressed(), wantPub.SerializeCompressed())
			}
		}
	}
}

// TestDeriveScripts checks that every script type's Script is the output
// script of its Address, across the networks.
func TestDeriveScripts(t *testing.T) {
	tests := []struct {
		input, network, prefix string
	}{
		{"pkh(" + bip84Xpub + "/0/*)", Mainnet, "1"},
		{"sh(wpkh(" + bip84Xpub + "/0/*))", Mainnet, "3"},
		{"wpkh(" + bip84Xpub + "/0/*)", Mainnet, "bc1q"},
		{"tr(" + bip84Xpub + "/0/*)", Mainnet, "bc1p"},
		{"pkh(" + bip84Tpub + "/0/*)", Regtest, "m"},
		{"sh(wpkh(" + bip84Tpub + "/0/*))", Regtest, "2"},
		{"wpkh(" + bip84Tpub + "/0/*)", Regtest, "bcrt1q"},
		{"tr(" + bip84Tpub + "/0/*)", Regtest, "bcrt1p"},
		{"tr(" + bip84Tpub + "/0/*)", Signet, "tb1p"},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.input[:4], func(t *testing.T) {
			key, err := ParseKey(tt.input, tt.network)
			if err != nil {
				t.Fatal(err)
			}
			addrs, err := key.DeriveRange(5, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(addrs) != 10 {
				t.Fatalf("DeriveRange returned %d addresses, want 10", len(addrs))
			}
			seen := map[string]bool{}
			for i, a := range addrs {
				if a.Index != uint32(5+i) {
					t.Errorf("addrs[%d].Index = %d, want %d", i, a.Index, 5+i)
				}
				if a.Address[:len(tt.prefix)] != tt.prefix {
					t.Errorf("address %s does not start with %s", a.Address, tt.prefix)
				}
				if seen[a.Address] {
					t.Errorf("address %s derived twice", a.Address)
				}
				seen[a.Address] = true
				script, err := ScriptForAddress(a.Address, tt.network)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(script, a.Script) {
					t.Errorf("%s: Script %x, want %x", a.Address, a.Script, script)
				}
				single, err := key.Derive(a.Index)
				if err != nil {
					t.Fatal(err)
				}
				if single.Address != a.Address {
					t.Errorf("Derive(%d) = %s, DeriveRange gave %s", a.Index, single.Address, a.Address)
				}
			}
		})
	}
}

// TestDeriveIndexRange checks that hardened-range indexes are refused.
func TestDeriveIndexRange(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := key.Derive(1<<31 - 1); err != nil {
		t.Errorf("Derive(2^31-1): %v", err)
	}
	if _, err := key.Derive(1 << 31); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("Derive(2^31): err = %v, want ErrIndexOutOfRange", err)
	}
	if _, err := key.DeriveRange(1<<31-1, 2); !errors.Is(err, ErrIndexOutOfRange) {
		t.Errorf("DeriveRange past 2^31: err = %v, want ErrIndexOutOfRange", err)
	}
	addrs, err := key.DeriveRange(1<<31-1, 1)
	if err != nil || len(addrs) != 1 {
		t.Errorf("DeriveRange(2^31-1, 1) = %d addresses, %v", len(addrs), err)
	}
	if addrs, err := key.DeriveRange(7, 0); err != nil || len(addrs) != 0 {
		t.Errorf("DeriveRange(7, 0) = %v, %v", addrs, err)
	}
}

// TestDeriveConcurrent derives from one Key on many goroutines; run with
// -race it shows a Key is safe for concurrent use.
func TestDeriveConcurrent(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := range uint32(20) {
				a, err := key.Derive(i % 2)
				if err != nil {
					errs <- err
					return
				}
				want := []string{bip84Receive0, bip84Receive1}[i%2]
				if a.Address != want {
					errs <- errors.New("got " + a.Address + ", want " + want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
