package gateway_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/rates"
)

// BenchmarkCreateInvoice measures durable invoice creation through the
// service layer (rate from memory, address derivation, insert + outbox
// committed before the caller returns) with 16 and 64 concurrent callers,
// on SQLite and PostgreSQL. The store's BenchmarkRawInsertBaseline, run in
// the same command with the same callers, is the baseline (make bench
// prints the ratio):
//
//	go test -run '^$' -bench 'CreateInvoice|RawInsertBaseline' ./internal/gateway ./internal/store
func BenchmarkCreateInvoice(b *testing.B) {
	for _, backend := range kassatest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			db := kassatest.DBOn(b, backend)
			st := merchant.Store{ID: auth.NewID(), Name: "Bench", Network: "regtest", Key: merchantKey(b),
				Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 1 << 30, DefaultCurrency: "USD", CreatedAt: time.Now()}
			if err := db.CreateStore(context.Background(), st); err != nil {
				b.Fatal(err)
			}
			rs, _ := rates.NewFixed(context.Background(), "BTC_USD=50000")
			g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest"})
			defer g.Close()
			req := gateway.NewInvoice{Price: "10", Currency: "USD"}
			if _, err := g.CreateInvoice(context.Background(), st.ID, req); err != nil {
				b.Fatal(err)
			}
			for _, perCPU := range []int{8, 32} {
				b.Run(fmt.Sprintf("callers=%d", perCPU*runtime.GOMAXPROCS(0)), func(b *testing.B) {
					var mu sync.Mutex
					lat := make([]time.Duration, 0, b.N)
					b.SetParallelism(perCPU)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						local := make([]time.Duration, 0, 1024)
						for pb.Next() {
							t0 := time.Now()
							if _, err := g.CreateInvoice(context.Background(), st.ID, req); err != nil {
								b.Error(err)
								return
							}
							local = append(local, time.Since(t0))
						}
						mu.Lock()
						lat = append(lat, local...)
						mu.Unlock()
					})
					b.StopTimer()
					reportLatency(b, lat)
				})
			}
		})
	}
}

// reportLatency reports throughput and the p50/p99 latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "invoices/s")
	reportPercentiles(b, lat)
}

// reportPercentiles reports the p50 and p99 of lat in milliseconds.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
