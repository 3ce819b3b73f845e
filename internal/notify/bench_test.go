package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
)

// BenchmarkIPNThroughput queues 10,000 IPN events (2,500 invoices with
// four resends each, so per-invoice ordering is exercised) and measures
// how fast a Service plans, delivers to a loopback receiver and records
// them all, with 32 workers allowed on the receiver's host.
//
//	go test -run '^$' -bench IPNThroughput -benchtime 1x ./internal/notify
func BenchmarkIPNThroughput(b *testing.B) {
	const invoices, perInvoice = 2500, 4
	for _, be := range kassatest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				f := newFixture(b, be.URL(b), invoice.SpeedMedium)
				var got atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
				queueEvents(b, f, srv.URL+"/ipn", invoices, perInvoice)
				b.StartTimer()
				start := time.Now()
				stop := f.start(func(c *notify.Config) {
					c.Workers, c.HostLimit, c.Poll, c.RetryBase, c.RetryMax = 32, 32, time.Second, 0, 0
				})
				for {
					n, err := f.db.PendingDeliveries(context.Background(), store.ChannelIPN)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 && got.Load() >= invoices*perInvoice {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(start)
				b.StopTimer()
				stop()
				srv.Close()
				if n := got.Load(); n != invoices*perInvoice {
					b.Fatalf("receiver got %d IPNs, want %d", n, invoices*perInvoice)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*invoices*perInvoice)/total.Seconds(), "deliveries/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// queueEvents creates invoices notifying url and queues resends on them.
func queueEvents(b *testing.B, f *fixture, url string, invoices, perInvoice int) {
	b.Helper()
	ids := make([]string, invoices)
	var wg sync.WaitGroup
	var failed atomic.Value
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				inv, err := f.g.CreateInvoice(context.Background(), f.storeID, gatewayInvoice(url))
				if err != nil {
					failed.Store(err)
					continue
				}
				ids[i] = inv.ID
			}
		})
	}
	for i := range invoices {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	work = make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				for range perInvoice {
					if _, err := f.g.Act(context.Background(), ids[i], invoice.Resend{}); err != nil {
						failed.Store(err)
					}
				}
			}
		})
	}
	for i := range invoices {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// gatewayInvoice is a $10 invoice with full notifications to url.
func gatewayInvoice(url string) gateway.NewInvoice {
	return gateway.NewInvoice{Price: "10", Currency: "USD",
		Fields: invoice.Fields{NotificationURL: url, FullNotifications: true}}
}
