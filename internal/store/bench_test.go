package store

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
)

// The benchmarks report invoices/s and the p99 latency of one call, with 8
// and with 32 concurrent callers per CPU:
//
//	go test -run '^$' -bench . -benchtime 20000x ./internal/store

func trivialAddress(string, uint32) (string, []byte, error) {
	return "bcrt1qbenchmarkaddress", []byte{0x00, 0x14}, nil
}

// BenchmarkCreateInvoice measures the store path: group-committed
// CreateInvoice with its governor, outbox row and JSON encoding.
func BenchmarkCreateInvoice(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db := newDB(b, be)
			s := newStore(b, db, 1<<30)
			ctx := context.Background()
			benchParallel(b, func() error {
				inv := newInvoice(s.ID)
				return db.CreateInvoice(ctx, inv, createdNote(inv), trivialAddress)
			})
		})
	}
}

// BenchmarkRawInsertBaseline inserts the same rows (an invoice row and its
// outbox row) with the same kind of group commit, the same INSERTs (one
// prepared statement per row on SQLite, multi-row on PostgreSQL) and the
// same durability, and nothing else: the floor CreateInvoice is measured
// against.
func BenchmarkRawInsertBaseline(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db := newDB(b, be)
			s := newStore(b, db, 1<<30)
			w := newRawWriter(db)
			defer w.close()
			benchParallel(b, func() error {
				inv := newInvoice(s.ID)
				m := chain(inv)
				m.Destination, m.Script, inv.Version = "bcrt1qbenchmarkaddress", []byte{0x00, 0x14}, 1
				args, err := insertArgs(inv)
				if err != nil {
					return err
				}
				snap, err := json.Marshal(inv)
				if err != nil {
					return err
				}
				out := []any{auth.NewID(), string(SubjectInvoice), inv.ID, inv.StoreID, int(invoice.CodeCreated), "invoice_created",
					"new", "", millis(inv.CreatedAt), string(snap)}
				return w.insert(args, out)
			})
		})
	}
}

// benchParallel runs op from 8 and from 32 goroutines per CPU and
// reports throughput and the 99th percentile latency.
func benchParallel(b *testing.B, op func() error) {
	for _, perCPU := range []int{8, 32} {
		b.Run(fmt.Sprintf("callers=%d", perCPU*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			benchCallers(b, perCPU, op)
		})
	}
}

func benchCallers(b *testing.B, perCPU int, op func() error) {
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	b.SetParallelism(perCPU)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "invoices/s")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// rawWriter is a bare group commit: one goroutine inserts every waiting
// row pair in one transaction.
type rawWriter struct {
	db               *DB
	reqs             chan rawRequest
	wg               sync.WaitGroup
	invoices, outbox *multiInsert
}

type rawRequest struct {
	invoice, outbox []any
	done            chan error
}

func newRawWriter(db *DB) *rawWriter {
	w := &rawWriter{db: db, reqs: make(chan rawRequest),
		invoices: newMultiInsert(insertInvoiceSQL), outbox: newMultiInsert(insertOutboxSQL)}
	w.wg.Go(w.run)
	return w
}

func (w *rawWriter) insert(invoiceArgs, outboxArgs []any) error {
	r := rawRequest{invoiceArgs, outboxArgs, make(chan error, 1)}
	w.reqs <- r
	return <-r.done
}

func (w *rawWriter) close() {
	close(w.reqs)
	w.wg.Wait()
}

func (w *rawWriter) run() {
	for r := range w.reqs {
		batch := []rawRequest{r}
	fill:
		for len(batch) < 512 {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := w.write(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (w *rawWriter) write(batch []rawRequest) error {
	ctx := context.Background()
	tx, err := w.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if w.db.dialect == Postgres {
		// The same multi-row INSERTs the store uses on PostgreSQL.
		invoices, events := make([][]any, len(batch)), make([][]any, len(batch))
		for i, r := range batch {
			invoices[i], events[i] = r.invoice, r.outbox
		}
		if err := w.invoices.exec(ctx, tx, invoices, invoiceRowsPerInsert); err != nil {
			return err
		}
		if err := w.outbox.exec(ctx, tx, events, outboxRowsPerInsert); err != nil {
			return err
		}
		return tx.Commit()
	}
	insInvoice, err := tx.PrepareContext(ctx, insertInvoiceSQL)
	if err != nil {
		return err
	}
	defer insInvoice.Close()
	insOutbox, err := tx.PrepareContext(ctx, insertOutboxSQL)
	if err != nil {
		return err
	}
	defer insOutbox.Close()
	for _, r := range batch {
		if _, err := insInvoice.ExecContext(ctx, r.invoice...); err != nil {
			return err
		}
		if _, err := insOutbox.ExecContext(ctx, r.outbox...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
