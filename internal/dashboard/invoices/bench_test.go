package invoices

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/sample"
	"github.com/kassa-pay/kassa/internal/store"
)

// BenchmarkDashboardPages measures the pages as a browser gets them: an
// HTTP GET on loopback, rendered in full (the test layout's chrome aside),
// over a store of a million invoices on SQLite and on PostgreSQL. It
// reports p50 and p99 per page:
//
//	go test ./internal/dashboard/invoices -run '^$' -bench DashboardPages -benchtime 2000x -timeout 60m -v
//	(-dashboard.rows=100000 for a quicker run)
var benchRows = flag.Int("dashboard.rows", 1_000_000, "invoices BenchmarkDashboardPages and BenchmarkDashboardExport seed")

// benchStep is the time between two seeded invoices: a million make a
// year.
const benchStep = 31500 * time.Millisecond

// seedBench opens a database at dbURL with n sample invoices of the
// harness's store, benchStep apart and ending at the harness's now, and
// returns the harness and when the first invoice was created.
func seedBench(b *testing.B, name, dbURL string, n int) (*harness, time.Time) {
	b.Helper()
	hs := newHarness(b, dbURL, Config{})
	start := hs.now.Add(-time.Duration(n) * benchStep)
	t0 := time.Now()
	err := hs.db.SeedInvoices(context.Background(), n, func(i int, inv *invoice.Invoice) {
		sample.Invoice(hs.store.ID, start, benchStep, i, inv)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d invoices in %v", name, n, time.Since(t0).Round(time.Second))
	return hs, start
}

func BenchmarkDashboardPages(b *testing.B) {
	for _, be := range backends {
		b.Run(be.Name, func(b *testing.B) {
			n := *benchRows
			hs, start := seedBench(b, be.Name, be.URL(b), n)
			step := benchStep
			// The middle invoice: created n/2 steps in, the (n/2+1)th row.
			mid := store.Cursor{CreatedAt: start.Add(time.Duration(n/2) * step).UnixMilli(), Seq: int64(n/2 + 1)}
			first := hs.get(hs.root()+"/invoices", "manager")
			ids := rows(first.body)
			if len(ids) == 0 {
				b.Fatalf("no invoices listed: %d", first.status)
			}
			month := hs.now.AddDate(0, 0, -30).Format(time.DateOnly)
			pages := []struct{ name, path string }{
				{"list=first", "/invoices"},
				{"list=middle", "/invoices?after=" + mid.String()},
				{"list=last", "/invoices?last=1"},
				{"list=status-invalid", "/invoices?status=invalid"},
				{"list=search-email", "/invoices?q=" + url.QueryEscape(fmt.Sprintf("buyer%05d@example.com", (n/2)%20_000))},
				{"list=search-order-id", "/invoices?q=" + fmt.Sprintf("order-%07d", n/3)},
				{"list=search-item", "/invoices?q=" + url.QueryEscape("hoodie, xl")},
				{"list=30-days-status", "/invoices?status=complete&from=" + month},
				{"detail", "/invoices/" + ids[0]},
				{"overview=30-days", ""},
			}
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					target := hs.root() + p.path
					lat := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for range b.N {
						t0 := time.Now()
						r := hs.get(target, "manager")
						lat = append(lat, time.Since(t0))
						if r.status != http.StatusOK {
							b.Fatalf("%s: %d", p.path, r.status)
						}
					}
					b.StopTimer()
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
				})
			}
		})
	}
}
