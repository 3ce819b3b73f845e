package invoice

import (
	"fmt"
	"testing"
)

// BenchmarkApply measures one event on an invoice paid by ten outputs, the
// work the watcher does per payment per block.
func BenchmarkApply(b *testing.B) {
	inv := newTestInvoice(SpeedMedium)
	for i := range 10 {
		p := seen(fmt.Sprintf("tx%d", i), due/10, 101)
		var err error
		if inv, _, err = Apply(inv, p, Env{Now: t0, Tip: 101}); err != nil {
			b.Fatal(err)
		}
	}
	events := []struct {
		name string
		ev   Event
	}{
		{"Tick", Tick{}},
		{"PaymentSeen/known", seen("tx9", due/10, 101)},
		{"PaymentSeen/late", seen("late", 1, 0)},
	}
	for _, e := range events {
		b.Run(e.name, func(b *testing.B) {
			env := Env{Now: t0.Add(minute), Tip: 102}
			for b.Loop() {
				if _, _, err := Apply(inv, e.ev, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
