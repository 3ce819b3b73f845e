package rates

import (
	"fmt"
	"log/slog"
	"testing"
)

// BenchmarkRate measures Rate under concurrent readers, with four providers
// quoting the currency.
func BenchmarkRate(b *testing.B) {
	var providers []Provider
	for i := range 4 {
		providers = append(providers, newFake(fmt.Sprintf("p%d", i), map[string]string{
			"USD": fmt.Sprintf("6461%d.1", i), "EUR": "59671.2", "GBP": "50912.4", "JPY": "9786300",
		}))
	}
	r, err := New(Config{Providers: providers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Rate("USD"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
