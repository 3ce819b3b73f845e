package main

import (
	"bytes"
	"strings"
	"testing"
)

const sampleRun = `# date: 2026-11-25T23:31Z
# go: go1.26.8
# nproc: 2
# cpu: AMD EPYC
# os: Linux x86_64
goos: linux
pkg: github.com/kassa-pay/kassa/internal/gateway
BenchmarkCreateInvoice/sqlite/callers=16-2   	   20000	         0 ns/op	      3000 invoices/s	         4.000 p50-ms	        10.00 p99-ms
pkg: github.com/kassa-pay/kassa/internal/store
BenchmarkRawInsertBaseline/sqlite/callers=16-2         	   20000	         0 ns/op	      4000 invoices/s	         8.000 p99-ms
--- FAIL: BenchmarkBroken
pkg: github.com/kassa-pay/kassa/internal/web
BenchmarkCheckout-2   	    1000	    900000 ns/op	    630000 ttfb-ns/op	     20560 page-bytes
BenchmarkRSS/idle	1	0 ns/op	22.4 VmRSS-MiB	22.4 VmHWM-MiB
BenchmarkRSS/loaded	1	0 ns/op	44.8 VmRSS-MiB	50.0 VmHWM-MiB	20000 invoices	1000 invoices/s	0 retried-429	1.00 KiB/invoice
`

// TestFiguresPairBaselines checks that a figure is paired with the
// baseline of the same backend and callers, that nanosecond metrics are
// shown in milliseconds, and that the Markdown table carries the machine
// line and the ratios.
func TestFiguresPairBaselines(t *testing.T) {
	results, m, err := parseBench(strings.NewReader(sampleRun))
	if err != nil {
		t.Fatal(err)
	}
	if m.Nproc != "2" || m.CPU != "AMD EPYC" || m.Go != "go1.26.8" || m.Date != "2026-11-25T23:31Z" {
		t.Fatalf("machine %+v", m)
	}
	figs, err := figures(results)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]figure{}
	for _, f := range figs {
		byName[f.Group+"/"+f.Name] = f
	}
	svc := byName["Invoice creation (service, durable)/gateway sqlite callers=16"]
	if svc.Value != 3000 || svc.Baseline == nil || *svc.Baseline != 4000 || *svc.Ratio != 0.75 {
		t.Fatalf("service figure %+v", svc)
	}
	p99 := byName["Invoice creation (service, durable)/gateway sqlite callers=16 p99"]
	if p99.Ratio == nil || *p99.Ratio != 1.25 {
		t.Fatalf("p99 figure %+v", p99)
	}
	ttfb := byName["Checkout page (loopback, SQLite)/time to first byte"]
	if ttfb.Value != 0.63 || ttfb.Unit != "ms" || ttfb.Baseline != nil {
		t.Fatalf("ttfb figure %+v", ttfb)
	}
	loaded := byName["Resident memory of kassa serve (SQLite, btcd regtest)/after 20,000 invoices created and listed over HTTP"]
	if loaded.Ratio == nil || *loaded.Ratio != 2 {
		t.Fatalf("loaded figure %+v", loaded)
	}
	var md bytes.Buffer
	writeMarkdown(&md, m, figs)
	for _, want := range []string{"Measured 2026-11-25T23:31Z on 2 CPUs (AMD EPYC), go1.26.8",
		"| gateway sqlite callers=16 | 3000 invoices/s | 4000 invoices/s: raw group-commit INSERT, same rows | 0.75 |"} {
		if !strings.Contains(md.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, md.String())
		}
	}
}
