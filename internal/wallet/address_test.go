package wallet

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestScriptForAddress(t *testing.T) {
	tests := []struct {
		name, addr, network, script string
		err                         error
	}{
		// Scripts from the BIP84 and BIP86 test vectors and BIP49's
		// addressBytes.
		{"p2wpkh", bip84Receive0, Mainnet, "0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2", nil},
		{"p2tr", bip86Receive0, Mainnet, "5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c", nil},
		{"p2sh on testnet", bip49Receive0, Testnet, "a914336caa13e08b96080a32b5d818d59b4ab3b3674287", nil},
		{"p2sh on regtest", bip49Receive0, Regtest, "a914336caa13e08b96080a32b5d818d59b4ab3b3674287", nil},
		{"p2pkh on regtest", "mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j", Regtest, "", nil},
		{"mainnet address on regtest", bip84Receive0, Regtest, "", ErrBadAddress},
		{"testnet bech32 on regtest", "tb1qcr8te4kr609gcawutmrza0j4xv80jy8zmfp6l0", Regtest, "", ErrBadAddress},
		{"regtest address on mainnet", "bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx", Mainnet, "", ErrBadAddress},
		{"bad bech32 checksum", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyv", Mainnet, "", ErrBadAddress},
		{"public key", "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c", Mainnet, "", ErrBadAddress},
		{"garbage", "not an address", Mainnet, "", ErrBadAddress},
		{"unknown network", bip84Receive0, "bitcoin", "", ErrUnknownNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, err := ScriptForAddress(tt.addr, tt.network)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.script != "" && hex.EncodeToString(script) != tt.script {
				t.Errorf("script = %x, want %s", script, tt.script)
			}
		})
	}
}

func TestNetworkParams(t *testing.T) {
	for _, tt := range []struct{ name, params, hrp string }{
		{Mainnet, "mainnet", "bc"},
		{Testnet, "testnet3", "tb"},
		{Signet, "signet", "tb"},
		{Regtest, "regtest", "bcrt"},
	} {
		p, err := NetworkParams(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != tt.params || p.Bech32HRPSegwit != tt.hrp {
			t.Errorf("NetworkParams(%s) = %s/%s, want %s/%s", tt.name, p.Name, p.Bech32HRPSegwit, tt.params, tt.hrp)
		}
	}
	for _, name := range []string{"", "Mainnet", "testnet3", "testnet4", "simnet"} {
		if _, err := NetworkParams(name); !errors.Is(err, ErrUnknownNetwork) {
			t.Errorf("NetworkParams(%q): err = %v, want ErrUnknownNetwork", name, err)
		}
	}
}
