//go:build node

package gateway_test

import (
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// BenchmarkPaymentDetection measures the time from broadcasting a payment
// to the invoice's change to paid being committed in the store, with the
// watcher polling only every second: detection rides on btcd's websocket
// notifications. p50/p99 count from before the test wallet signs and sends
// (an upper bound); sent-p50/sent-p99 from sendrawtransaction's answer.
//
//	go test -tags node -run '^$' -bench PaymentDetection -benchtime 100x ./internal/gateway
func BenchmarkPaymentDetection(b *testing.B) {
	node := startNode(b)
	h := newHarnessPoll(b, node, invoice.SpeedMedium, time.Second)
	lat := make([]time.Duration, 0, b.N)      // from before signing and sending
	fromSent := make([]time.Duration, 0, b.N) // from sendrawtransaction's answer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		inv := h.create("10")
		drain(h)
		b.StartTimer()
		t0 := time.Now()
		h.pay(inv, inv.Due())
		t1 := time.Now()
		for paid := false; !paid; {
			select {
			case changes := <-h.commits:
				for _, c := range changes {
					if c.Invoice.ID == inv.ID && c.Invoice.Status == invoice.StatusPaid {
						paid = true
					}
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("invoice %s not paid after 30 s", inv.ID)
			}
		}
		lat = append(lat, time.Since(t0))
		fromSent = append(fromSent, time.Since(t1))
		if i%20 == 19 {
			b.StopTimer()
			h.mine(1) // keep the mempool small and the wallet's coins confirmed
			b.StartTimer()
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	slices.Sort(fromSent)
	b.ReportMetric(float64(fromSent[len(fromSent)/2].Microseconds())/1000, "sent-p50-ms")
	b.ReportMetric(float64(fromSent[len(fromSent)*99/100].Microseconds())/1000, "sent-p99-ms")
}

func drain(h *harness) {
	for {
		select {
		case <-h.commits:
		default:
			return
		}
	}
}
