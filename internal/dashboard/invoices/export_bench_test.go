package invoices

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkDashboardExport measures the CSV export as the download writes
// it (writeCSV into a discarding writer) of 100,000 and of all invoices of
// a store of a million (a year of them), on SQLite and on PostgreSQL:
// rows/s, time per export and the memory it took. Seeding is part of the
// run (and logged); nothing of it runs in the normal test suite.
//
//	go test ./internal/dashboard/invoices -run '^$' -bench DashboardExport -benchtime 3s -timeout 60m -v
//	(-dashboard.rows=100000 for a quicker run)
func BenchmarkDashboardExport(b *testing.B) {
	for _, be := range backends {
		b.Run(be.Name, func(b *testing.B) {
			n := *benchRows
			hs, start := seedBench(b, be.Name, be.URL(b), n)
			for _, rows := range []int{n / 10, n} {
				to := start.Add(benchStep * time.Duration(rows))
				if rows == n {
					to = time.Time{}
				}
				b.Run(fmt.Sprintf("export=%d", rows), func(b *testing.B) { benchExport(b, hs, start, to, rows) })
			}
		})
	}
}

// benchExport exports the invoices created in [from, to), which are rows,
// with writeCSV to a discarding writer, and reports rows/s and the memory
// it took: the process's peak RSS over the export (VmHWM, reset before
// it) above its RSS before; the Go heap's peak (live and garbage) above
// its size before; and the live heap's peak (as of each GC) above its
// size before.
// The first depends on the garbage collector's pace, which a busy machine
// slows; the last does not.
func benchExport(b *testing.B, hs *harness, from, to time.Time, rows int) {
	ctx := context.Background()
	var rssGrowth, heapGrowth, liveGrowth uint64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		debug.FreeOSMemory()
		before := resetPeakRSS(b)
		heap0, live0 := heapBytes()
		stop := sampleHeap()
		b.StartTimer()
		var w countingWriter
		n, err := writeCSV(ctx, &w, hs.db, hs.store.ID, from, to)
		b.StopTimer()
		heap, live := stop()
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("exported %d invoices, want %d", n, rows)
		}
		rssGrowth = max(rssGrowth, vmKB(b, "VmHWM")-before)
		heapGrowth = max(heapGrowth, heap-min(heap, heap0))
		liveGrowth = max(liveGrowth, live-min(live, live0))
		b.StartTimer()
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/export")
	b.ReportMetric(float64(rssGrowth)/1024, "peakRSS-growth-MB")
	b.ReportMetric(float64(heapGrowth)/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(liveGrowth)/(1<<20), "live-heap-growth-MB")
	b.ReportMetric(float64(vmKB(b, "VmHWM"))/1024, "peakRSS-MB")
	b.ReportMetric(0, "ns/op")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux's
// clear_refs 5) and returns that RSS in kB.
func resetPeakRSS(b *testing.B) uint64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset peak RSS: %v", err)
	}
	return vmKB(b, "VmRSS")
}

// vmKB reads a kB field of /proc/self/status.
func vmKB(b *testing.B, field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// heapMetrics are the heap's objects (live and not yet swept) and its
// live bytes as of the last GC.
var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

func heapBytes() (heap, live uint64) {
	s := []metrics.Sample{{Name: heapMetrics[0]}, {Name: heapMetrics[1]}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// sampleHeap samples the heap every millisecond until the returned
// function is called, which returns the largest samples.
func sampleHeap() func() (heap, live uint64) {
	var (
		peak, peakLive uint64
		wg             sync.WaitGroup
		done           = make(chan struct{})
	)
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			h, l := heapBytes()
			peak, peakLive = max(peak, h), max(peakLive, l)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return peak, peakLive
	}
}
