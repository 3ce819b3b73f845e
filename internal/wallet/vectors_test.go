package wallet

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/chainhash/v2"
)

// vector is one "name = value" line of a BIP's test vectors, with the
// derivation path of the section it appears in.
type vector struct {
	path  []string // "m", "84'", "0'", "0'", "0", "1"
	name  string
	value string
}

// readVectors reads a BIP's test-vector block kept verbatim in testdata.
// Section comments such as "// Account 0, first receiving address =
// m/84'/0'/0'/0/0" set the path of the lines that follow; for a line with
// several " = " (BIP49's "address = base58check(…) = 2Mww…") the value is
// the last field, without a trailing "(testnet)".
func readVectors(t *testing.T, file string) []vector {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var (
		vs   []vector
		path []string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "//"):
			if _, p, ok := strings.Cut(line, "= m/"); ok {
				path = strings.Split("m/"+p, "/")
			}
			continue
		}
		fields := strings.Split(line, " = ")
		if len(fields) < 2 {
			t.Fatalf("%s: cannot read line %q", file, line)
		}
		value := strings.TrimSpace(strings.TrimSuffix(fields[len(fields)-1], "(testnet)"))
		vs = append(vs, vector{path: path, name: strings.TrimSpace(fields[0]), value: value})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// reversion re-encodes a base58check extended key with other version bytes,
// as a wallet exporting a SLIP-132 key does.
func reversion(t testing.TB, key string, version uint32) string {
	t.Helper()
	raw := base58.Decode(key)
	if len(raw) != 82 {
		t.Fatalf("reversion: %d bytes", len(raw))
	}
	buf := []byte{byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version)}
	buf = append(buf, raw[4:78]...)
	buf = append(buf, chainhash.DoubleHashB(buf)[:4]...)
	return base58.Encode(buf)
}

// TestBIPVectors derives every address of the BIP44-family test vectors,
// receive and change branches alike, and checks it and its script.
func TestBIPVectors(t *testing.T) {
	tests := []struct {
		file    string
		network string
		script  ScriptType
		// keys returns, for the account key and a branch, the inputs
		// that must derive that branch's addresses.
		keys func(account string, branch string) []string
	}{
		{
			file: "testdata/bip84.txt", network: Mainnet, script: P2WPKH,
			keys: func(account, branch string) []string {
				xpub := reversion(t, account, 0x0488b21e)
				keys := []string{"wpkh(" + xpub + "/" + branch + "/*)"}
				if branch == "0" {
					keys = append(keys, account)
				}
				return keys
			},
		},
		{
			file: "testdata/bip49.txt", network: Testnet, script: P2SHP2WPKH,
			keys: func(account, branch string) []string {
				tpub := reversion(t, account, 0x043587cf)
				keys := []string{"sh(wpkh([00000000/49h/1h/0h]" + tpub + "/" + branch + "/*))"}
				if branch == "0" {
					keys = append(keys, account)
				}
				return keys
			},
		},
		{
			file: "testdata/bip86.txt", network: Mainnet, script: P2TR,
			keys: func(account, branch string) []string {
				return []string{"tr(" + account + "/" + branch + "/*)"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			vs := readVectors(t, tt.file)
			var account string
			for _, v := range vs {
				if len(v.path) == 4 && (v.name == "xpub" || v.name == "account0Xpub") {
					account = v.value
				}
			}
			if account == "" {
				t.Fatal("no account key in the vectors")
			}
			checked := 0
			for _, v := range vs {
				if len(v.path) != 6 {
					continue
				}
				branch := v.path[4]
				index, err := strconv.ParseUint(v.path[5], 10, 32)
				if err != nil {
					t.Fatal(err)
				}
				for _, input := range tt.keys(account, branch) {
					key, err := ParseKey(input, tt.network)
					if err != nil {
						t.Fatalf("ParseKey(%s): %v", input, err)
					}
					if key.ScriptType() != tt.script {
						t.Fatalf("ScriptType = %v, want %v", key.ScriptType(), tt.script)
					}
					got, err := key.Derive(uint32(index))
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%s %s/%d", v.name, branch, index)
					switch v.name {
					case "address":
						checked++
						if got.Address != v.value {
							t.Errorf("%s from %s: got %s, want %s", name, input, got.Address, v.value)
						}
						script, err := ScriptForAddress(v.value, tt.network)
						if err != nil {
							t.Fatal(err)
						}
						if hex.EncodeToString(got.Script) != hex.EncodeToString(script) {
							t.Errorf("%s: script %x, want %x", name, got.Script, script)
						}
					case "scriptPubKey":
						if hex.EncodeToString(got.Script) != v.value {
							t.Errorf("%s: got %x, want %s", name, got.Script, v.value)
						}
					case "addressBytes":
						want := "a914" + strings.TrimPrefix(v.value, "0x") + "87"
						if hex.EncodeToString(got.Script) != want {
							t.Errorf("%s: script %x, want %s", name, got.Script, want)
						}
					}
				}
			}
			if checked == 0 {
				t.Fatal("no address vectors checked")
			}
		})
	}
}
