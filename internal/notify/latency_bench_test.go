//go:build node

package notify_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/regtest"
)

// chainRig is kassa serve's payment path on a real btcd regtest node: the
// fixture's gateway fed by a processor and the node watcher, for the
// notify Service the benchmark starts. TestPaymentIPNs, which also needs
// the BitPay API, runs kassa serve itself, in internal/cli.
type chainRig struct {
	*fixture
	node *regtest.Node
}

func startNode(tb testing.TB) *regtest.Node {
	tb.Helper()
	node, err := regtest.Start(context.Background(), regtest.Options{Mature: true})
	if err != nil {
		tb.Fatalf("start btcd (run scripts/install-btcd.sh): %v", err)
	}
	tb.Cleanup(func() { _ = node.Stop() })
	return node
}

func newChainRig(tb testing.TB, node *regtest.Node, dbURL string, poll time.Duration) *chainRig {
	tb.Helper()
	r := &chainRig{fixture: newFixture(tb, dbURL, invoice.SpeedMedium), node: node}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	proc := gateway.NewProcessor(r.g, gateway.ProcessorConfig{Store: r.db})
	backend, err := chain.Open(ctx, chain.Options{URL: node.RPCURL(), Network: "regtest", Sink: proc, PollInterval: poll, Log: r.log})
	if err != nil {
		tb.Fatal(err)
	}
	proc.Attach(backend)
	if err := proc.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	wg.Go(func() { _ = backend.Run(ctx) })
	wg.Go(func() { _ = proc.Run(ctx, poll) })
	return r
}

func (r *chainRig) mine(n int) {
	r.t.Helper()
	if _, err := r.node.Mine(context.Background(), n); err != nil {
		r.t.Fatal(err)
	}
}

// BenchmarkIPNLatency measures the time from paying an invoice on the
// real btcd node to its paid IPN (fullNotifications) arriving at a
// loopback receiver, with the chain watcher and the service polling only
// every second: both ride on notifications (btcd's websocket, the
// store's commit signal). p50/p99 count from before the test wallet signs
// and sends; sent-p50/sent-p99 from sendrawtransaction's answer.
//
//	go test -tags node -run '^$' -bench IPNLatency -benchtime 100x ./internal/notify
func BenchmarkIPNLatency(b *testing.B) {
	r := newChainRig(b, startNode(b), kassatest.SQLite.URL(b), time.Second)
	rc := newReceiver(b, nil)
	r.start(func(c *notify.Config) { c.Poll = time.Second })
	lat := make([]time.Duration, 0, b.N)
	fromSent := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		inv, err := r.g.CreateInvoice(context.Background(), r.storeID, gatewayInvoice(rc.url("/ipn")))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := r.node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		for arrived := false; !arrived; {
			select {
			case in := <-rc.arrived:
				arrived = in.invoiceID == inv.ID && in.status == "paid"
			case <-time.After(30 * time.Second):
				b.Fatalf("no IPN for invoice %s after 30 s", inv.ID)
			}
		}
		lat = append(lat, time.Since(t0))
		fromSent = append(fromSent, time.Since(t1))
		if i%20 == 19 {
			b.StopTimer()
			r.mine(1) // keep the mempool small and the wallet's coins confirmed
			b.StartTimer()
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(fromSent)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(fromSent[len(fromSent)/2]), "sent-p50-ms")
	b.ReportMetric(ms(fromSent[len(fromSent)*99/100]), "sent-p99-ms")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
