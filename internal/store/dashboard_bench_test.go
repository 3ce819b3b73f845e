package store

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/sample"
)

// BenchmarkDashboard measures the dashboard's invoice queries over a store
// of a million invoices (a year of them, 31.5 s apart), on SQLite and on
// PostgreSQL: p50 and p99 of one call for the first, a middle (by cursor)
// and the last page, filters and searches, sales and counts. (The CSV
// export, which reads with EachInvoice, is measured with its layout by
// BenchmarkDashboardExport in package dashboard/invoices.) Seeding is part
// of the run (and logged); nothing of it runs in the normal test suite.
//
//	go test ./internal/store -run '^$' -bench Dashboard -benchtime 3s -timeout 60m -v
//	go test ./internal/store -run '^$' -bench Dashboard -benchtime 3s -dashboard.rows=100000 -v
//
// (-v prints the seeding time and the query plans at that size.)
var dashboardRows = flag.Int("dashboard.rows", 1_000_000, "invoices BenchmarkDashboard seeds")

// DashboardEnv is a seeded store and the search targets in it.
type dashboardEnv struct {
	db      *DB
	storeID string
	n       int
	start   time.Time
	mid     Cursor // the cursor of the invoice in the middle of the list
	midID   string
}

// dashboardStart is when the first seeded invoice was created, and
// dashboardStep the time between two (a million make a year).
var dashboardStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const dashboardStep = 31500 * time.Millisecond

// seedDashboardBench seeds n sample invoices 31.5 s apart into a fresh
// database of backend be.
func seedDashboardBench(b *testing.B, be backend, n int) *dashboardEnv {
	b.Helper()
	ctx := context.Background()
	db := newDB(b, be)
	if err := db.MigrateSearch(ctx); err != nil {
		b.Fatal(err)
	}
	s := newStore(b, db, 20)
	t0 := time.Now()
	err := db.SeedInvoices(ctx, n, func(i int, inv *invoice.Invoice) {
		sample.Invoice(s.ID, dashboardStart, dashboardStep, i, inv)
	})
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	b.Logf("%s: seeded %d invoices in %v (%.0f/s)", be.name, n, took.Round(time.Second), float64(n)/took.Seconds())
	env := &dashboardEnv{db: db, storeID: s.ID, n: n, start: dashboardStart}
	// Setting up the benchmark may use OFFSET; the dashboard never does.
	err = db.sql.QueryRowContext(ctx, `SELECT created_at, seq, id FROM invoices WHERE store_id = $1
		ORDER BY created_at DESC, seq DESC LIMIT 1 OFFSET $2`, s.ID, n/2).
		Scan(&env.mid.CreatedAt, &env.mid.Seq, &env.midID)
	if err != nil {
		b.Fatal(err)
	}
	return env
}

func BenchmarkDashboard(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			env := seedDashboardBench(b, be, *dashboardRows)
			ctx := context.Background()
			n, start := env.n, env.start
			page := func(q InvoiceQuery) func() error {
				q.StoreID = env.storeID
				return func() error {
					p, err := env.db.InvoicePage(ctx, q)
					if err == nil && len(p.Invoices) == 0 {
						err = fmt.Errorf("empty page for %+v", q)
					}
					return err
				}
			}
			step := dashboardStep
			month := start.Add(step * time.Duration(n/2))
			cases := []struct {
				name string
				op   func() error
			}{
				{"page=first", page(InvoiceQuery{})},
				{"page=middle", page(InvoiceQuery{After: env.mid})},
				{"page=middle-newer", page(InvoiceQuery{Before: env.mid})},
				{"page=last", page(InvoiceQuery{Last: true})},
				{"filter=status-invalid", page(InvoiceQuery{Status: invoice.StatusInvalid})},
				{"filter=status-expired-middle", page(InvoiceQuery{Status: invoice.StatusExpired, After: env.mid})},
				{"filter=date-30d", page(InvoiceQuery{From: month, To: month.Add(30 * 24 * time.Hour)})},
				{"filter=order-id", page(InvoiceQuery{OrderID: fmt.Sprintf("order-%07d", n/3)})},
				{"search=id", page(InvoiceQuery{Search: env.midID})},
				{"search=order-id", page(InvoiceQuery{Search: fmt.Sprintf("order-%07d", n/3)})},
				{"search=email", page(InvoiceQuery{Search: fmt.Sprintf("Buyer%05d@example.com", (n/2)%20_000)})},
				{"search=email-status", page(InvoiceQuery{Search: fmt.Sprintf("buyer%05d@example.com", (n/2)%20_000),
					Status: invoice.StatusExpired})},
				{"search=item-1000th", page(InvoiceQuery{Search: "hoodie, xl"})},
				{"search=item-40th", page(InvoiceQuery{Search: "hoodie"})},
				{"sales=30d", func() error {
					_, err := env.db.SalesPerDay(ctx, env.storeID, month, month.Add(30*24*time.Hour))
					return err
				}},
				{"counts=30d", func() error {
					_, err := env.db.CountByStatus(ctx, env.storeID, month, month.Add(30*24*time.Hour))
					return err
				}},
				{"counts=all", func() error {
					_, err := env.db.CountByStatus(ctx, env.storeID, time.Time{}, time.Time{})
					return err
				}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) { benchLatency(b, c.op) })
			}
			logPlans(b, env)
		})
	}
}

// benchLatency runs op b.N times and reports its p50 and p99 in ms.
func benchLatency(b *testing.B, op func() error) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
}

// logPlans logs the plans of the main queries at this size.
func logPlans(b *testing.B, env *dashboardEnv) {
	explain := "EXPLAIN QUERY PLAN "
	if env.db.dialect == Postgres {
		explain = "EXPLAIN "
	}
	q := InvoiceQuery{StoreID: env.storeID}
	shapes := []struct {
		name string
		q    InvoiceQuery
		br   branch
		term string
	}{
		{"middle page", q, branchNone, ""},
		{"status", InvoiceQuery{StoreID: env.storeID, Status: invoice.StatusInvalid}, branchNone, ""},
		{"search email", q, branchEmail, "buyer00001@example.com"},
		{"search item", q, branchItem, "hoodie"},
	}
	var out bytes.Buffer
	for _, s := range shapes {
		query, args := env.db.pageSQL(s.q, s.br, s.term, olderFirst, env.mid, true, 51)
		rows, err := env.db.sql.Query(explain+query, args...)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&out, "\n%s:", s.name)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&out, "\n  %v", vals[len(vals)-1])
		}
		rows.Close()
	}
	io.WriteString(&out, "\n")
	b.Logf("%s plans at %d invoices:%s", env.db.dialect, env.n, out.String())
}
