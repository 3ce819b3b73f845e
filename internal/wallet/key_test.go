package wallet

import (
	"errors"
	"strings"
	"testing"
)

// TestKeyString checks the canonical descriptor kassa stores for each kind
// of input. The checksums were cross-checked with BIP-380's Python
// reference code.
func TestKeyString(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		network string
		script  ScriptType
		want    string
	}{
		{
			name: "zpub", input: bip84Zpub, network: Mainnet, script: P2WPKH,
			want: "wpkh(" + bip84Xpub + "/0/*)#kj7aqcx6",
		},
		{
			name: "upub on regtest", input: bip49Upub, network: Regtest, script: P2SHP2WPKH,
			want: "sh(wpkh(tpubDD7tXK8KeQ3YY83yWq755fHY2JW8Ha8Q765tknUM5rSvjPcGWfUppDFMpQ1ScziKfW3ZNtZvAD7M3u7bSs7HofjTD3KP3YxPK7X6hwV8Rk2/0/*))#mc9ncp93",
		},
		{
			name: "vpub on regtest", input: bip84Vpub, network: Regtest, script: P2WPKH,
			want: "wpkh(" + bip84Tpub + "/0/*)#p8jtwxg2",
		},
		{
			name:  "tr with origin, ' for hardened, no checksum",
			input: "tr([73C5DA0A/86'/0'/0']" + bip86Xpub + "/0/*)", network: Mainnet, script: P2TR,
			want: "tr([73c5da0a/86h/0h/0h]" + bip86Xpub + "/0/*)#se42yddx",
		},
		{
			name: "Bitcoin Core descriptor with checksum", network: Mainnet, script: P2WPKH,
			input: "wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/0/*)#cjjspncu",
			want:  "wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/0/*)#cjjspncu",
		},
		{
			name: "surrounding whitespace", input: "  " + bip84Zpub + "\n", network: Mainnet, script: P2WPKH,
			want: "wpkh(" + bip84Xpub + "/0/*)#kj7aqcx6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseKey(tt.input, tt.network)
			if err != nil {
				t.Fatal(err)
			}
			if got := key.String(); got != tt.want {
				t.Errorf("String() = %s\nwant       %s", got, tt.want)
			}
			if key.ScriptType() != tt.script {
				t.Errorf("ScriptType() = %v, want %v", key.ScriptType(), tt.script)
			}
			if key.Network() != tt.network {
				t.Errorf("Network() = %s, want %s", key.Network(), tt.network)
			}
			// The stored form parses back to a key deriving the same
			// addresses.
			again, err := ParseKey(key.String(), tt.network)
			if err != nil {
				t.Fatalf("ParseKey(String()): %v", err)
			}
			if again.String() != key.String() {
				t.Errorf("round trip changed the descriptor: %s", again.String())
			}
			for i := range uint32(3) {
				a, err := key.Derive(i)
				if err != nil {
					t.Fatal(err)
				}
				b, err := again.Derive(i)
				if err != nil {
					t.Fatal(err)
				}
				if a.Address != b.Address {
					t.Errorf("address %d: %s before the round trip, %s after", i, a.Address, b.Address)
				}
			}
		})
	}
}

// TestParseKeyDescriptorForms checks that the descriptor spellings a wallet
// may export for the BIP84 account derive BIP84's receive addresses.
func TestParseKeyDescriptorForms(t *testing.T) {
	inputs := []string{
		"wpkh(" + bip84Xpub + "/0/*)",
		"wpkh([73c5da0a/84h/0h/0h]" + bip84Xpub + "/0/*)",
		"wpkh([73c5da0a/84'/0'/0']" + bip84Xpub + "/0/*)",
		"wpkh([73c5da0a/84'/0h/0']" + bip84Xpub + "/0/*)",
		"wpkh([73c5da0a]" + bip84Xpub + "/0/*)",
		"wpkh(" + bip84Xpub + "/0/*)#kj7aqcx6",
	}
	for _, in := range inputs {
		t.Run(in[:25], func(t *testing.T) {
			key, err := ParseKey(in, Mainnet)
			if err != nil {
				t.Fatal(err)
			}
			addrs, err := key.DeriveRange(0, 2)
			if err != nil {
				t.Fatal(err)
			}
			if addrs[0].Address != bip84Receive0 || addrs[1].Address != bip84Receive1 {
				t.Errorf("got %s %s, want %s %s", addrs[0].Address, addrs[1].Address, bip84Receive0, bip84Receive1)
			}
		})
	}

	// A wildcard directly on the key derives account/i: the BIP84 key
	// at /0 as the descriptor's key gives the same receive addresses.
	branch, err := ParseKey("wpkh("+bip84Xpub+"/0/*)", Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := ParseKey("wpkh("+bip84Xpub+"/*)", Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Split(direct.String(), "#")[0], bip84Xpub+"/*)") {
		t.Errorf("String() = %s, want the key followed by /*", direct.String())
	}
	d, _ := direct.Derive(0)
	b, _ := branch.Derive(0)
	if d.Address == b.Address {
		t.Error("/* and /0/* derived the same address")
	}
}

// TestParseKeyNetworks checks test-network keys on each test network and
// the addresses they encode to. The bech32 addresses carry the witness
// program of BIP84's first receive address under each network's prefix,
// encoded independently with BIP173's reference algorithm.
func TestParseKeyNetworks(t *testing.T) {
	tests := []struct {
		name, input, network, want string
	}{
		{"vpub on regtest", bip84Vpub, Regtest, "bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx"},
		{"tpub descriptor on regtest", "wpkh(" + bip84Tpub + "/0/*)", Regtest, "bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx"},
		{"vpub on signet", bip84Vpub, Signet, "tb1qcr8te4kr609gcawutmrza0j4xv80jy8zmfp6l0"},
		{"vpub on testnet", bip84Vpub, Testnet, "tb1qcr8te4kr609gcawutmrza0j4xv80jy8zmfp6l0"},
		{"upub on regtest", bip49Upub, Regtest, bip49Receive0},
		{"upub on signet", bip49Upub, Signet, bip49Receive0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseKey(tt.input, tt.network)
			if err != nil {
				t.Fatal(err)
			}
			a, err := key.Derive(0)
			if err != nil {
				t.Fatal(err)
			}
			if a.Address != tt.want {
				t.Errorf("Derive(0) = %s, want %s", a.Address, tt.want)
			}
			script, err := ScriptForAddress(a.Address, tt.network)
			if err != nil {
				t.Fatal(err)
			}
			if string(script) != string(a.Script) {
				t.Errorf("Script = %x, ScriptForAddress = %x", a.Script, script)
			}
		})
	}
}

// TestParseKeyRejects lists every way a key can be refused, the sentinel
// error each matches and a phrase the merchant sees.
func TestParseKeyRejects(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		network string
		want    error
		phrase  string
	}{
		{"unknown network", bip84Zpub, "testnet4", ErrUnknownNetwork, "want mainnet, testnet, signet or regtest"},
		{"empty", "", Mainnet, ErrMalformedKey, "empty"},
		{"too long", strings.Repeat("x", 2000), Mainnet, ErrMalformedKey, "too long"},

		{"mainnet xpub on regtest", bip84Xpub, Regtest, ErrWrongNetwork, "key is a mainnet key (xpub), but kassa runs on regtest"},
		{"mainnet zpub on signet", bip84Zpub, Signet, ErrWrongNetwork, "key is a mainnet key (zpub), but kassa runs on signet"},
		{"test upub on mainnet", bip49Upub, Mainnet, ErrWrongNetwork, "key is a testnet/signet/regtest key (upub), but kassa runs on mainnet"},
		{"mainnet descriptor on testnet", "wpkh(" + bip84Xpub + "/0/*)", Testnet, ErrWrongNetwork, "mainnet key (xpub)"},
		{"test descriptor on mainnet", "tr(" + bip84Tpub + "/0/*)", Mainnet, ErrWrongNetwork, "(tpub), but kassa runs on mainnet"},

		{"xprv", bip86Xprv, Mainnet, ErrPrivateKey, "never give kassa a private key, export the account's extended public key (xpub) instead (got xprv)"},
		{"zprv", bip84Zprv, Mainnet, ErrPrivateKey, "never give kassa a private key"},
		{"uprv on regtest", bip49Uprv, Regtest, ErrPrivateKey, "never give kassa a private key"},
		{"xprv on the wrong network", bip86Xprv, Regtest, ErrPrivateKey, "never give kassa a private key"},
		{"xprv in a descriptor", "wpkh(" + bip86Xprv + "/0/*)", Mainnet, ErrPrivateKey, "never give kassa a private key"},
		{"WIF key", "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d", Mainnet, ErrPrivateKey, "got a WIF private key"},
		{"WIF in a descriptor", "wpkh(KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d)", Mainnet, ErrPrivateKey, "never give"},

		{"not base58", "zpub0OIl", Mainnet, ErrMalformedKey, "not valid base58"},
		{"truncated key", bip84Zpub[:100], Mainnet, ErrMalformedKey, "decodes to"},
		{"an address", bip84Receive0, Mainnet, ErrMalformedKey, ""},
		// The BIP84 zpub with characters changed, as a mistyped key
		// arrives.
		{"mistyped key", "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSDMoWd1SAnU5RFzyNfbBKtrVYAcGJgcYLuYLP1oDDW",
			Mainnet, ErrBadChecksum, "checksum"},
		{"bad descriptor checksum", "wpkh(" + bip84Xpub + "/0/*)#kj7aqcx7", Mainnet, ErrBadChecksum, "does not match"},
		{"descriptor checksum too short", "wpkh(" + bip84Xpub + "/0/*)#kj7aqcx", Mainnet, ErrMalformedKey, "8 characters"},
		{"empty descriptor checksum", "wpkh(" + bip84Xpub + "/0/*)#", Mainnet, ErrMalformedKey, "8 characters"},
		{"descriptor checksum of another path", "wpkh(" + bip84Xpub + "/1/*)#kj7aqcx6", Mainnet, ErrBadChecksum, ""},
		{"character outside the descriptor set", "wpkh(" + bip84Xpub + "/0/*)é#kj7aqcx6", Mainnet, ErrMalformedKey, "not allowed"},

		{"hardened wildcard h", "wpkh(" + bip84Xpub + "/0/*h)", Mainnet, ErrHardenedDerivation, "hardened wildcard"},
		{"hardened wildcard '", "wpkh(" + bip84Xpub + "/0/*')", Mainnet, ErrHardenedDerivation, "hardened wildcard"},
		{"hardened step", "wpkh(" + bip84Xpub + "/0h/*)", Mainnet, ErrHardenedDerivation, "0h"},
		{"no wildcard", "wpkh(" + bip84Xpub + "/0/0)", Mainnet, ErrMalformedKey, "must end in /*"},
		{"no path", "wpkh(" + bip84Xpub + ")", Mainnet, ErrMalformedKey, "must end in /*"},
		{"multipath", "wpkh(" + bip84Xpub + "/<0;1>/*)", Mainnet, ErrMalformedKey, "multipath"},
		{"step out of range", "wpkh(" + bip84Xpub + "/2147483648/*)", Mainnet, ErrMalformedKey, "out of range"},
		{"step not a number", "wpkh(" + bip84Xpub + "/1aa/*)", Mainnet, ErrMalformedKey, "not a number"},
		{"empty step", "wpkh(" + bip84Xpub + "//*)", Mainnet, ErrMalformedKey, "not a number"},
		{"bare key with path", bip84Xpub + "/0/*", Mainnet, ErrMalformedKey, "script expression"},

		{"short fingerprint", "wpkh([deadbef/84h]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "fingerprint"},
		{"long fingerprint", "wpkh([deadbeeef/84h]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "fingerprint"},
		{"non-hex fingerprint", "wpkh([gaaaaaaa]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "fingerprint"},
		{"trailing slash in origin", "wpkh([deadbeef/0h/]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "key origin"},
		{"H in origin", "wpkh([deadbeef/0H]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "key origin"},
		{"wildcard in origin", "wpkh([deadbeef/0h/*]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "key origin"},
		{"unclosed origin", "wpkh([deadbeef/0h" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "closing"},
		{"two origins", "wpkh([deadbeef][deadbeef]" + bip84Xpub + "/0/*)", Mainnet, ErrMalformedKey, "more than one key origin"},
		{"origin only", "wpkh([deadbeef])", Mainnet, ErrMalformedKey, "no key"},

		{"zpub in a descriptor", "wpkh(" + bip84Zpub + "/0/*)", Mainnet, ErrMalformedKey, "descriptors take xpub/tpub"},
		{"single public key", "wpkh(0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c)", Mainnet, ErrMalformedKey, "single public key"},
		{"multisig", "wsh(sortedmulti(2," + bip84Xpub + "/0/*," + bip86Xpub + "/0/*))", Mainnet, ErrUnsupportedScript, "wsh(…) is not supported"},
		{"tr with a script tree", "tr(" + bip86Xpub + "/0/*,pk(" + bip84Xpub + "/0/*))", Mainnet, ErrUnsupportedScript, "script paths"},
		{"sh(pkh)", "sh(pkh(" + bip84Xpub + "/0/*))", Mainnet, ErrUnsupportedScript, "sh(…) is not supported"},
		{"combo", "combo(" + bip84Xpub + "/0/*)", Mainnet, ErrUnsupportedScript, "combo(…)"},
		{"addr", "addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)#02wpgw69", Regtest, ErrUnsupportedScript, "addr(…)"},
		{"raw", "raw(deadbeef)#89f8spxm", Mainnet, ErrUnsupportedScript, "raw(…)"},
		{"unbalanced", "wpkh(" + bip84Xpub + "/0/*", Mainnet, ErrMalformedKey, "unbalanced"},
		{"multisig Zpub", reversion(t, bip84Xpub, 0x02aa7ed3), Mainnet, ErrUnsupportedScript, "Zpub is a multisig key"},
		{"unknown version", reversion(t, bip84Xpub, 0x01020304), Mainnet, ErrMalformedKey, "unknown extended key version"},
		{"private key data under a public version", privateUnderPublicVersion(t), Mainnet, ErrPrivateKey, "never give"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseKey(tt.input, tt.network)
			if err == nil {
				t.Fatalf("ParseKey accepted it: %s", key)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("err = %q, want it to say %q", err, tt.phrase)
			}
			// An error never repeats the key material it was given.
			for _, secret := range []string{bip86Xprv, bip84Zprv, bip49Uprv, bip84Xpub, bip84Zpub} {
				if strings.Contains(err.Error(), secret[4:30]) {
					t.Errorf("err repeats key material: %q", err)
				}
			}
		})
	}

	var mismatch *NetworkMismatchError
	_, err := ParseKey(bip84Xpub, Regtest)
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want a *NetworkMismatchError", err)
	}
	if mismatch.KeyNetwork != "mainnet" || mismatch.Prefix != "xpub" || mismatch.Network != Regtest {
		t.Errorf("mismatch = %+v", mismatch)
	}
}

// privateUnderPublicVersion returns BIP86's root private key relabelled with
// xpub version bytes: the key data still starts with the zero byte of a
// private key, and kassa must still refuse it.
func privateUnderPublicVersion(t *testing.T) string {
	return reversion(t, bip86Xprv, 0x0488b21e)
}
