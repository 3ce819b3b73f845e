package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
)

// BenchmarkInvoiceBudget is the cost of one invoice's draw from its
// store's budget: in memory (one node) and in the database every node
// shares, over 64 stores drawn from in parallel.
func BenchmarkInvoiceBudget(b *testing.B) {
	for _, kind := range budgetKinds() {
		b.Run(kind.name, func(b *testing.B) {
			shared := kind.shared(b)
			l := newInvoiceLimiter(func(string) merchant.Limits { return merchant.Limits{PerSecond: merchant.MaxLimit} }, shared)
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, _, err := l.allow(context.Background(), fmt.Sprint("store", i%64), time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
