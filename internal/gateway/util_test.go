package gateway_test

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// merchantKey is the test merchant's regtest BIP84 account key as a
// descriptor, for the node tests' harness and for BenchmarkCreateInvoice.
func merchantKey(t testing.TB) string {
	seed := sha256.Sum256([]byte("kassa gateway test merchant"))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{84, 1, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return "wpkh(" + pub.String() + "/0/*)"
}
