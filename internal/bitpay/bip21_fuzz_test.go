package bitpay

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/shopspring/decimal"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// FuzzBIP21 builds payment URIs for addresses of every script type kassa
// derives (P2PKH, P2SH-P2WPKH, P2WPKH, P2TR) on mainnet and regtest, at a
// fuzzed index, with a fuzzed amount, and parses them back as a wallet
// would: the scheme is bitcoin, the path is the same address paying the
// same script, and the amount is the same number of satoshis, in plain
// decimal BTC with at most 8 decimals; no amount is sent for zero or less.
func FuzzBIP21(f *testing.F) {
	f.Add(uint8(0), uint32(0), int64(29_800))
	f.Add(uint8(3), uint32(1<<31-1), int64(money.MaxSats))
	f.Add(uint8(5), uint32(7), int64(1))
	f.Add(uint8(6), uint32(7), int64(0))
	f.Add(uint8(7), uint32(2), int64(-5))
	f.Add(uint8(2), uint32(9), int64(1<<62))
	keys := bip21Keys(f)
	f.Fuzz(func(t *testing.T, which uint8, index uint32, amount int64) {
		k := keys[int(which)%len(keys)]
		addr, err := k.key.Derive(index & (1<<31 - 1))
		if err != nil {
			return // an invalid child: the wallet skips it
		}
		uri := BIP21(addr.Address, money.Sats(amount))
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("BIP21 = %q does not parse: %v", uri, err)
		}
		if u.Scheme != "bitcoin" || u.Opaque != addr.Address {
			t.Fatalf("BIP21 = %q: scheme %q, address %q, want bitcoin and %q", uri, u.Scheme, u.Opaque, addr.Address)
		}
		script, err := wallet.ScriptForAddress(u.Opaque, k.network)
		if err != nil || !bytes.Equal(script, addr.Script) {
			t.Fatalf("the URI's address %q pays %x (%v), the derived script is %x", u.Opaque, script, err, addr.Script)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("BIP21 = %q: query does not parse: %v", uri, err)
		}
		if amount <= 0 {
			if strings.Contains(uri, "?") {
				t.Fatalf("BIP21 = %q carries an amount for %d sats", uri, amount)
			}
			return
		}
		if len(q) != 1 || len(q["amount"]) != 1 {
			t.Fatalf("BIP21 = %q: want exactly one amount parameter", uri)
		}
		text := q.Get("amount")
		if strings.ContainsAny(text, "eE+-") {
			t.Fatalf("BIP21 = %q: amount %q is not plain decimal", uri, text)
		}
		if _, frac, ok := strings.Cut(text, "."); ok && len(frac) > 8 {
			t.Fatalf("BIP21 = %q: amount %q is finer than a satoshi", uri, text)
		}
		d, err := decimal.NewFromString(text)
		if err != nil || !d.Equal(decimal.New(amount, -8)) {
			t.Fatalf("BIP21 = %q: amount %q is not %d sats", uri, text, amount)
		}
		if amount <= int64(money.MaxSats) {
			if back, err := money.ParseBTC(text); err != nil || int64(back) != amount {
				t.Fatalf("ParseBTC(%q) = %d, %v; want %d", text, back, err, amount)
			}
		}
	})
}

type bip21Key struct {
	key     *wallet.Key
	network string
}

// bip21Keys returns an account key of each script type on mainnet and
// regtest, from a fixed seed.
func bip21Keys(tb testing.TB) []bip21Key {
	tb.Helper()
	var out []bip21Key
	for _, n := range []struct {
		name   string
		params *chaincfg.Params
	}{{wallet.Mainnet, &chaincfg.MainNetParams}, {wallet.Regtest, &chaincfg.RegressionNetParams}} {
		m, err := hdkeychain.NewMaster(bytes.Repeat([]byte{0x21}, 32), n.params)
		if err != nil {
			tb.Fatal(err)
		}
		pub, err := m.Neuter()
		if err != nil {
			tb.Fatal(err)
		}
		for _, desc := range []string{"pkh(%s/0/*)", "sh(wpkh(%s/0/*))", "wpkh(%s/0/*)", "tr(%s/0/*)"} {
			k, err := wallet.ParseKey(strings.Replace(desc, "%s", pub.String(), 1), n.name)
			if err != nil {
				tb.Fatalf("%s: %v", desc, err)
			}
			out = append(out, bip21Key{k, n.name})
		}
	}
	return out
}
