package wallet

import (
	"testing"
)

// BenchmarkDerive measures address derivation per script type and reports
// addresses per second on one goroutine.
func BenchmarkDerive(b *testing.B) {
	for _, tt := range []struct{ name, key string }{
		{"p2wpkh", bip84Zpub},
		{"p2sh-p2wpkh", "sh(wpkh(" + bip84Xpub + "/0/*))"},
		{"p2pkh", "pkh(" + bip84Xpub + "/0/*)"},
		{"p2tr", "tr(" + bip86Xpub + "/0/*)"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			key, err := ParseKey(tt.key, Mainnet)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var i uint32
			for b.Loop() {
				if _, err := key.Derive(i); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "addrs/s")
		})
	}
}
