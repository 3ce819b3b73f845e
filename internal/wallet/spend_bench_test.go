package wallet

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
)

// BenchmarkBuildSpend builds the PSBT of one refund from a store holding
// 10,000 P2WPKH coins (amounts 10,000 to 1,000,000 sats), as the spend
// engine does for every refund, and reports the p50 and p99 build time
// (the goal: p99 under 20 ms). "one coin" pays an amount one coin
// covers; "many coins" needs the largest-first fallback.
func BenchmarkBuildSpend(b *testing.B) {
	key := spendKeys(b)["p2wpkh"]
	rng := rand.New(rand.NewPCG(1, 2))
	amounts := make([]money.Sats, 10_000)
	for i := range amounts {
		amounts[i] = 10_000 + money.Sats(rng.Int64N(990_000))
	}
	coins, _ := fund(b, key, amounts...)
	for _, c := range []struct {
		name   string
		amount money.Sats
	}{
		{"one coin", 250_000},
		{"many coins", 5_000_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := SpendRequest{Coins: coins, Payees: []Payee{{payTo(7), c.amount}}, ChangeIndex: 1, FeeRate: 5}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := key.BuildSpend(req); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
