package wallet

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// purposes are the BIP43 purposes of spendKeys' script types.
var purposes = map[string]uint32{"p2wpkh": 84, "p2sh-p2wpkh": 49, "p2pkh": 44, "p2tr": 86}

// hotForms are the ways a merchant gives the hot signer the private key of
// a spendKeys key: the account xprv, the master xprv (the key has an
// origin to derive the account along), and the key's descriptor with the
// account xprv in place of the xpub.
func hotForms(t *testing.T, name string, key *Key) map[string]string {
	t.Helper()
	acc := accountKey(t, purposes[name]).String()
	pub, err := accountKey(t, purposes[name]).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	desc := strings.Replace(key.String(), pub.String(), acc, 1)
	desc, _, _ = strings.Cut(desc, "#")
	withSum, err := withChecksum(desc)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"account xprv": acc, "master xprv": bip86Xprv, "descriptor": desc, "descriptor with checksum": withSum}
}

// TestHotKeySigns signs a spend of every script type with the hot key in
// every form it is given: CheckSigned accepts what it signed, and the
// transaction is the one an independent signer (signPSBT here, and
// test/psbtsign when KASSA_PSBTSIGN is set) makes of the same PSBT to the
// byte: ECDSA and BIP340 nonces are deterministic.
func TestHotKeySigns(t *testing.T) {
	for name, key := range spendKeys(t) {
		for form, secret := range hotForms(t, name, key) {
			t.Run(name+"/"+form, func(t *testing.T) {
				hot, err := ParseHotKey(secret, key)
				if err != nil {
					t.Fatal(err)
				}
				if hot.Key() != key {
					t.Fatal("Key is not the store's")
				}
				coins, prev := fund(t, key, 30_000, 70_000, 20_000)
				s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 2, FeeRate: 3, PrevTxs: prev})
				if err != nil {
					t.Fatal(err)
				}
				if s.Change == 0 || len(s.Inputs) < 2 {
					t.Fatalf("want a spend of several coins with change: %d inputs, change %d", len(s.Inputs), s.Change)
				}
				signed, err := hot.Sign(s)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := key.CheckSigned(s, signed, s.Fee)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := key.CheckSigned(s, []byte(signPSBT(t, testRoot(t), s.Base64(), true, 0)), s.Fee)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(txBytes(t, tx), txBytes(t, theirs)) {
					t.Error("the hot signer's transaction is not the independent signer's")
				}
				if ext := os.Getenv("KASSA_PSBTSIGN"); ext != "" {
					cmd := exec.Command(ext, "-hex")
					cmd.Env = append(os.Environ(), "PSBTSIGN_KEY="+bip86Xprv)
					cmd.Stdin = strings.NewReader(s.Base64())
					out, err := cmd.Output()
					if err != nil {
						t.Fatalf("psbtsign: %v", err)
					}
					ptx, err := key.CheckSigned(s, out, s.Fee)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(txBytes(t, tx), txBytes(t, ptx)) {
						t.Error("the hot signer's transaction is not test/psbtsign's")
					}
				}
			})
		}
	}
}

func txBytes(t *testing.T, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestHotKeySignsOnlyTheStoresCoins refuses a spend whose coin is not the
// key's at its recorded branch and index, and a damaged approved spend.
func TestHotKeySignsOnlyTheStoresCoins(t *testing.T) {
	key := spendKeys(t)["p2wpkh"]
	hot, err := ParseHotKey(bip84Zprv, key)
	if err != nil {
		t.Fatal(err)
	}
	coins, prev := fund(t, key, 30_000, 70_000)
	s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 2, FeeRate: 3, PrevTxs: prev})
	if err != nil {
		t.Fatal(err)
	}
	moved := *s
	moved.Inputs = append([]Coin(nil), s.Inputs...)
	moved.Inputs[0].Index += 5
	if _, err := hot.Sign(&moved); !errors.Is(err, ErrForeignCoin) {
		t.Errorf("a coin at another index: %v", err)
	}
	damaged := *s
	damaged.PSBT = []byte("psbt\xff")
	if _, err := hot.Sign(&damaged); !errors.Is(err, ErrBadApproved) {
		t.Errorf("a damaged PSBT: %v", err)
	}
}

// TestParseHotKeyRefuses refuses every private key that is not the
// store's, and public keys, saying what does not match without repeating
// any key.
func TestParseHotKeyRefuses(t *testing.T) {
	keys := spendKeys(t)
	plain, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	otherAccount, err := accountKey(t, 84).Derive(0) // not an account key
	if err != nil {
		t.Fatal(err)
	}
	acc84 := accountKey(t, 84).String()
	acc49 := accountKey(t, 49).String()
	tprv := reversion(t, acc84, 0x04358394)
	mistyped := []byte(acc84)
	mistyped[50] = map[bool]byte{true: 'y', false: 'x'}[mistyped[50] == 'x']
	for _, tt := range []struct {
		name, key string
		store     *Key
		err       error
		msg       string
	}{
		{"public key", bip84Zpub, keys["p2wpkh"], ErrNotPrivateKey, "(got zpub)"},
		{"public descriptor", keys["p2wpkh"].String(), keys["p2wpkh"], ErrNotPrivateKey, "(got xpub)"},
		{"another script's account", acc49, keys["p2wpkh"], ErrNotStoreKey, "not the store's account key"},
		{"a child of the account", otherAccount.String(), keys["p2wpkh"], ErrNotStoreKey, "at depth 4 of its wallet, the store's account key at depth 3"},
		{"master without origin", bip86Xprv, plain, ErrNotStoreKey, "at depth 0"},
		{"SLIP-132 script differs", reversion(t, acc49, 0x04b2430c), keys["p2sh-p2wpkh"], ErrNotStoreKey, "a zprv is for p2wpkh addresses, the store receives to p2sh-p2wpkh"},
		{"descriptor script differs", "pkh(" + acc84 + "/0/*)", keys["p2wpkh"], ErrNotStoreKey, "pays to p2pkh addresses"},
		{"descriptor path differs", "wpkh(" + acc84 + "/1/*)", keys["p2wpkh"], ErrNotStoreKey, "derivation after the key"},
		{"descriptor with zprv", "wpkh(" + bip84Zprv + "/0/*)", keys["p2wpkh"], ErrMalformedKey, "not zprv"},
		{"wrong network", tprv, keys["p2wpkh"], ErrWrongNetwork, "tprv"},
		{"WIF", "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d", keys["p2wpkh"], ErrMalformedKey, "WIF"},
		{"mistyped", string(mistyped), keys["p2wpkh"], ErrBadChecksum, "checksum"},
		{"bad descriptor checksum", "wpkh(" + acc84 + "/0/*)#aaaaaaaa", keys["p2wpkh"], ErrBadChecksum, "does not match"},
		{"empty", " ", keys["p2wpkh"], ErrMalformedKey, "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHotKey(tt.key, tt.store)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.msg)
			}
			for _, secret := range []string{acc84, acc49, bip86Xprv, bip84Zprv, tprv, otherAccount.String()} {
				if strings.Contains(err.Error(), secret[4:30]) {
					t.Errorf("err repeats key material: %q", err)
				}
			}
		})
	}
	// The same key in its SLIP-132 form for the store's script is fine.
	if _, err := ParseHotKey(bip84Zprv, keys["p2wpkh"]); err != nil {
		t.Errorf("zprv for a wpkh store: %v", err)
	}
	if _, err := ParseHotKey(bip84Zprv, plain); err != nil {
		t.Errorf("zprv for its zpub: %v", err)
	}
}

// TestHotKeyHidden prints and logs a hot key every way: the key never shows.
func TestHotKeyHidden(t *testing.T) {
	hot, err := ParseHotKey(bip84Zprv, spendKeys(t)["p2wpkh"])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		fmt.Fprintf(&out, verb+" "+verb+"\n", hot, *hot)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("hot", "key", hot, "value", *hot)
	slog.New(slog.NewTextHandler(&out, nil)).Info("hot", "key", hot)
	secrets := []string{bip84Zprv, accountKey(t, 84).String(), base64.StdEncoding.EncodeToString([]byte(bip84Zprv))}
	for _, s := range secrets {
		if strings.Contains(out.String(), s[4:30]) {
			t.Fatalf("the key shows:\n%s", out.String())
		}
	}
	if strings.Contains(out.String(), "prv") {
		t.Fatalf("something of the key shows:\n%s", out.String())
	}
}
