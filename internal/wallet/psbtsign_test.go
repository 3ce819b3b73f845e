package wallet

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestExternalSigner is the round trip with a wallet kassa did not write:
// kassa builds, test/psbtsign (btcd's pre-split psbt package, its own
// module) signs with the seed's master key, CheckSigned accepts and
// finalizes, and every input verifies under the script engine — for each
// script type, with the signer finalizing or not, and as a raw transaction.
// `make test` builds the signer (make tools) and sets KASSA_PSBTSIGN.
func TestExternalSigner(t *testing.T) {
	signer := os.Getenv("KASSA_PSBTSIGN")
	if signer == "" {
		t.Skip("KASSA_PSBTSIGN is not set: run `make tools` and `make test`, or set it to .tools/bin/psbtsign")
	}
	keys := spendKeys(t)
	plain, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	keys["p2wpkh without origin"] = plain
	for name, key := range keys {
		for _, mode := range [][]string{nil, {"-finalize"}, {"-hex"}} {
			t.Run(fmt.Sprintf("%s%v", name, mode), func(t *testing.T) {
				coins, prev := fund(t, key, 30_000, 70_000, 20_000)
				s, err := key.BuildSpend(SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), 80_000}}, ChangeIndex: 2, FeeRate: 3, PrevTxs: prev})
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(signer, mode...)
				// A key without origin names the account key as the
				// master: the account's private key signs it.
				signWith := bip86Xprv
				if !key.HasOrigin() {
					signWith = bip84Zprv
				}
				cmd.Env = append(os.Environ(), "PSBTSIGN_KEY="+signWith)
				cmd.Stdin = bytes.NewReader([]byte(s.Base64() + "\n"))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("psbtsign: %v: %s", err, stderr.Bytes())
				}
				tx, err := key.CheckSigned(s, out, s.Fee)
				if err != nil {
					t.Fatal(err)
				}
				if len(tx.TxIn) != len(s.Inputs) || len(tx.TxOut) != len(s.Outputs) {
					t.Errorf("%d inputs, %d outputs", len(tx.TxIn), len(tx.TxOut))
				}
			})
		}
	}
}
