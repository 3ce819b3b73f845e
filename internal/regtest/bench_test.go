//go:build node

package regtest_test

import (
	"testing"

	"github.com/kassa-pay/kassa/internal/regtest"
)

// BenchmarkStartStop measures a bare node's start (until RPC answers) and
// graceful stop.
func BenchmarkStartStop(b *testing.B) {
	for b.Loop() {
		n, err := regtest.Start(b.Context(), regtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMine measures mining one block and scanning it into the wallet.
func BenchmarkMine(b *testing.B) {
	node := regtest.MustStart(b, regtest.Options{})
	for b.Loop() {
		if _, err := node.Mine(b.Context(), 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPay measures building, signing and broadcasting one payment,
// with a block mined every 20 payments.
func BenchmarkPay(b *testing.B) {
	node := regtest.MustStart(b, regtest.Options{Mature: true})
	to, err := node.Wallet().NewAddress()
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := node.Wallet().Pay(b.Context(), to, 10_000); err != nil {
			b.Fatal(err)
		}
		if i++; i%20 == 0 {
			if _, err := node.Mine(b.Context(), 1); err != nil {
				b.Fatal(err)
			}
		}
	}
}
