package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// result is one benchmark line of go test's output: its package (last
// path element), its name without the -GOMAXPROCS suffix, and its
// metrics by unit.
type result struct {
	pkg, name string
	metrics   map[string]float64
	date      string // when its run started (the file's header)
}

// machine is what the run's header says about the machine.
type machine struct {
	Date   string `json:"date"`
	CPU    string `json:"cpu"`
	Nproc  string `json:"nproc"`
	Go     string `json:"go"`
	OS     string `json:"os"`
	Kernel string `json:"kernel,omitempty"`
}

// figure is one published number: a benchmark metric and, where the run
// measured one, the same-run baseline it is compared with.
type figure struct {
	Group        string   `json:"group"`
	Name         string   `json:"name"`
	Value        float64  `json:"value"`
	Unit         string   `json:"unit"`
	Baseline     *float64 `json:"baseline,omitempty"`
	BaselineName string   `json:"baseline_name,omitempty"`
	// Ratio is Value / Baseline.
	Ratio     *float64 `json:"ratio,omitempty"`
	Benchmark string   `json:"benchmark"`
	Command   string   `json:"command"`
	// Measured is when the figure's run started.
	Measured string `json:"measured"`
}

// spec says how to find figures in the results. bench is a regular
// expression over "pkg:BenchmarkName" whose captures fill label and
// baseline ($1, $2); baseline is a "pkg:BenchmarkName" template.
type spec struct {
	group, label, bench, metric, unit string
	baseline, baseLabel, baseMetric   string
	command                           string
}

// Every figure make bench publishes, in the order the table shows them.
var specs = []spec{
	{group: "Invoice creation (service, durable)", label: "gateway $1 $2", bench: `gateway:BenchmarkCreateInvoice/(\w+)/(callers=\d+)`,
		metric: "invoices/s", unit: "invoices/s", baseline: "store:BenchmarkRawInsertBaseline/$1/$2", baseLabel: "raw group-commit INSERT, same rows",
		command: "go test -run '^$' -bench 'CreateInvoice|RawInsertBaseline' -benchtime 20000x ./internal/gateway ./internal/store"},
	{group: "Invoice creation (service, durable)", label: "gateway $1 $2 p99", bench: `gateway:BenchmarkCreateInvoice/(\w+)/(callers=\d+)`,
		metric: "p99-ms", unit: "ms", baseline: "store:BenchmarkRawInsertBaseline/$1/$2", baseLabel: "raw group-commit INSERT p99",
		command: "(same run)"},
	{group: "Invoice creation (store path)", label: "store $1 $2", bench: `store:BenchmarkCreateInvoice/(\w+)/(callers=\d+)`,
		metric: "invoices/s", unit: "invoices/s", baseline: "store:BenchmarkRawInsertBaseline/$1/$2", baseLabel: "raw group-commit INSERT, same rows",
		command: "(same run)"},
	{group: "HTTP POST /invoices (SQLite, 64 keep-alive clients)", label: "$1", bench: `api:BenchmarkHTTPCreateInvoice/(pos|merchant-signed)`,
		metric: "req/s", unit: "req/s", baseline: "api:BenchmarkHTTPCreateInvoice/baseline", baseLabel: "empty handler, same server",
		command: "go test -run '^$' -bench HTTPCreateInvoice -benchtime 20000x ./internal/api"},
	{group: "HTTP POST /invoices (SQLite, 64 keep-alive clients)", label: "$1 p99", bench: `api:BenchmarkHTTPCreateInvoice/(pos|merchant-signed)`,
		metric: "p99-ms", unit: "ms", baseline: "api:BenchmarkHTTPCreateInvoice/baseline", baseLabel: "empty handler p99",
		command: "(same run)"},
	{group: "HTTP POST /invoices (PostgreSQL, 64 keep-alive clients)", label: "$1", bench: `api:BenchmarkHTTPCreateInvoice/postgres-(pos|merchant-signed)`,
		metric: "req/s", unit: "req/s", baseline: "api:BenchmarkHTTPCreateInvoice/baseline", baseLabel: "empty handler, same server",
		command: "(the HTTP run above)"},
	{group: "HTTP POST /invoices (PostgreSQL, 64 keep-alive clients)", label: "$1 p99", bench: `api:BenchmarkHTTPCreateInvoice/postgres-(pos|merchant-signed)`,
		metric: "p99-ms", unit: "ms", baseline: "api:BenchmarkHTTPCreateInvoice/baseline", baseLabel: "empty handler p99",
		command: "(same run)"},
	{group: "Payment → IPN (btcd regtest, SQLite)", label: "payment detected p50", bench: `gateway:BenchmarkPaymentDetection`,
		metric: "p50-ms", unit: "ms", command: "go test -tags node -run '^$' -bench PaymentDetection -benchtime 100x ./internal/gateway"},
	{group: "Payment → IPN (btcd regtest, SQLite)", label: "payment → paid IPN received p50", bench: `notify:BenchmarkIPNLatency`,
		metric: "p50-ms", unit: "ms", baseline: "gateway:BenchmarkPaymentDetection", baseLabel: "payment detected p50", baseMetric: "p50-ms",
		command: "go test -tags node -run '^$' -bench IPNLatency -benchtime 100x ./internal/notify"},
	{group: "Payment → IPN (btcd regtest, SQLite)", label: "payment → paid IPN received p99", bench: `notify:BenchmarkIPNLatency`,
		metric: "p99-ms", unit: "ms", baseline: "gateway:BenchmarkPaymentDetection", baseLabel: "payment detected p99", baseMetric: "p99-ms",
		command: "(same run)"},
	{group: "Payment → IPN (btcd regtest, SQLite)", label: "broadcast → paid IPN received p50", bench: `notify:BenchmarkIPNLatency`,
		metric: "sent-p50-ms", unit: "ms", command: "(same run)"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "PrepareRefund (SQLite), one coin pays, p50", bench: `spender:BenchmarkPrepareRefund/one_coin`,
		metric: "p50-ms", unit: "ms", baseline: "spender:BenchmarkPrepareRefund/baseline_all_coins", baseLabel: "loading every coin (each build before) p50",
		command: "go test -run '^$' -bench PrepareRefund -benchtime 300x ./internal/spender"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "PrepareRefund (SQLite), one coin pays, p99", bench: `spender:BenchmarkPrepareRefund/one_coin`,
		metric: "p99-ms", unit: "ms", baseline: "spender:BenchmarkPrepareRefund/baseline_all_coins", baseLabel: "loading every coin (each build before) p99",
		command: "(same run)"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "PrepareRefund (SQLite), largest coins first, p50", bench: `spender:BenchmarkPrepareRefund/many_coins`,
		metric: "p50-ms", unit: "ms", baseline: "spender:BenchmarkPrepareRefund/baseline_all_coins", baseLabel: "loading every coin (each build before) p50",
		command: "(same run)"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "PrepareRefund (SQLite), largest coins first, p99", bench: `spender:BenchmarkPrepareRefund/many_coins`,
		metric: "p99-ms", unit: "ms", baseline: "spender:BenchmarkPrepareRefund/baseline_all_coins", baseLabel: "loading every coin (each build before) p99",
		command: "(same run)"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "wallet.BuildSpend from 10,000 coins in memory, one coin pays, p99", bench: `wallet:BenchmarkBuildSpend/one_coin`,
		metric: "p99-ms", unit: "ms", command: "go test -run '^$' -bench BuildSpend ./internal/wallet"},
	{group: "PSBT build for one refund, 10,000 coins in the store (goal: p99 < 20 ms)", label: "wallet.BuildSpend from 10,000 coins in memory, largest first, p99", bench: `wallet:BenchmarkBuildSpend/many_coins`,
		metric: "p99-ms", unit: "ms", command: "(same run)"},
	{group: "Refund submit → broadcast → refund_pending webhook (btcd regtest, SQLite; goal: p99 < 100 ms)", label: "signed upload → node has it and webhook received, p50", bench: `notify:BenchmarkRefundPending`,
		metric: "p50-ms", unit: "ms", baseline: "notify:BenchmarkRefundPending", baseLabel: "sendrawtransaction alone p50", baseMetric: "send-p50-ms",
		command: "go test -tags node -run '^$' -bench RefundPending -benchtime 100x ./internal/notify"},
	{group: "Refund submit → broadcast → refund_pending webhook (btcd regtest, SQLite; goal: p99 < 100 ms)", label: "signed upload → node has it and webhook received, p99", bench: `notify:BenchmarkRefundPending`,
		metric: "p99-ms", unit: "ms", baseline: "notify:BenchmarkRefundPending", baseLabel: "sendrawtransaction alone p99", baseMetric: "send-p99-ms",
		command: "(same run)"},
	{group: "Refund submit → broadcast → refund_pending webhook (btcd regtest, SQLite; goal: p99 < 100 ms)", label: "upload check + spend and refund recorded, p99", bench: `notify:BenchmarkRefundPending`,
		metric: "check-p99-ms", unit: "ms", command: "(same run)"},
	{group: "Refund submit → broadcast → refund_pending webhook (btcd regtest, SQLite; goal: p99 < 100 ms)", label: "recorded → webhook received (outbox, notify), p99", bench: `notify:BenchmarkRefundPending`,
		metric: "webhook-p99-ms", unit: "ms", command: "(same run)"},
	{group: "IPN delivery throughput (loopback receiver)", label: "$1", bench: `notify:BenchmarkIPNThroughput/(\w+)`,
		metric: "deliveries/s", unit: "deliveries/s", command: "go test -run '^$' -bench IPNThroughput -benchtime 1x ./internal/notify"},
	{group: "Block matching", label: "4,000-tx block vs 1M watched scripts", bench: `chain:BenchmarkMatchBlock`,
		metric: "ms/block", unit: "ms", command: "go test -run '^$' -bench MatchBlock -benchtime 20x ./internal/chain"},
	{group: "Block matching", label: "watch set memory per script", bench: `chain:BenchmarkMatchBlock`,
		metric: "heapB/script", unit: "bytes", command: "(same run)"},
	{group: "Address derivation (one goroutine)", label: "$1", bench: `wallet:BenchmarkDerive/([\w-]+)`,
		metric: "addrs/s", unit: "addrs/s", command: "go test -run '^$' -bench Derive -benchtime 2s ./internal/wallet"},
	{group: "Checkout page (loopback, SQLite)", label: "time to first byte", bench: `web:BenchmarkCheckout`,
		metric: "ttfb-ns/op", unit: "ms", command: "go test -run '^$' -bench Checkout ./internal/web"},
	{group: "Checkout page (loopback, SQLite)", label: "server render (handler alone)", bench: `web:BenchmarkCheckoutRender`,
		metric: "ns/op", unit: "ms", command: "(same run)"},
	{group: "Checkout page (loopback, SQLite)", label: "page size", bench: `web:BenchmarkCheckout`,
		metric: "page-bytes", unit: "bytes", command: "(same run)"},
	{group: "Checkout page (loopback, SQLite)", label: "page size gzip", bench: `web:BenchmarkCheckout`,
		metric: "gzip-bytes", unit: "bytes", command: "(same run)"},
	{group: "Dashboard at 1M invoices", label: "$1 $2 p50", bench: `store:BenchmarkDashboard/(\w+)/(page=first|page=middle|page=last|filter=date-30d|search=email|search=order-id|counts=all|sales=30d)`,
		metric: "p50-ms", unit: "ms", command: "make bench-1m (go test -run '^$' -bench Dashboard -benchtime 3s -timeout 60m ./internal/store)"},
	// The CSV export was a case of the store's BenchmarkDashboard until its
	// layout moved to dashboard/invoices; runs recorded before still count.
	{group: "Dashboard at 1M invoices", label: "$1 CSV $2 rows", bench: `(?:invoices:BenchmarkDashboardExport|store:BenchmarkDashboard)/(\w+)/(export=1000000)`,
		metric: "rows/s", unit: "rows/s", command: "make bench-1m (go test -run '^$' -bench DashboardExport -benchtime 3s -timeout 60m ./internal/dashboard/invoices)"},
	{group: "Dashboard at 1M invoices", label: "$1 CSV $2 peak RSS growth", bench: `(?:invoices:BenchmarkDashboardExport|store:BenchmarkDashboard)/(\w+)/(export=1000000)`,
		metric: "peakRSS-growth-MB", unit: "MB", command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "idle", bench: `benchtools:BenchmarkRSS/idle`,
		metric: "VmRSS-MiB", unit: "MiB", command: "go build -o bin/kassa ./cmd/kassa && go run ./internal/benchtools rss -kassa bin/kassa -invoices 20000 -stores 400"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "after one invoice in each of 400 stores", bench: `benchtools:BenchmarkRSS/stores`,
		metric: "VmRSS-MiB", unit: "MiB", baseline: "benchtools:BenchmarkRSS/idle", baseLabel: "idle",
		command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "memory per store (first invoice)", bench: `benchtools:BenchmarkRSS/stores`,
		metric: "KiB/store", unit: "KiB", command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "after 20,000 invoices created and listed over HTTP", bench: `benchtools:BenchmarkRSS/loaded`,
		metric: "VmRSS-MiB", unit: "MiB", baseline: "benchtools:BenchmarkRSS/idle", baseLabel: "idle",
		command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "peak (VmHWM) while loaded", bench: `benchtools:BenchmarkRSS/loaded`,
		metric: "VmHWM-MiB", unit: "MiB", baseline: "benchtools:BenchmarkRSS/idle", baseLabel: "idle peak",
		command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "memory per further invoice", bench: `benchtools:BenchmarkRSS/loaded`,
		metric: "KiB/invoice", unit: "KiB", command: "(same run)"},
	{group: "Resident memory of kassa serve (SQLite, btcd regtest)", label: "HTTP creation rate during the load (400 stores, default limits)", bench: `benchtools:BenchmarkRSS/loaded`,
		metric: "invoices/s", unit: "invoices/s", command: "(same run)"},
	{group: "Several nodes on one PostgreSQL (HTTP POST /invoices, 64 clients, same 2-core machine)", label: "3 nodes", bench: `benchtools:BenchmarkCluster/nodes=3`,
		metric: "invoices/s", unit: "invoices/s", baseline: "benchtools:BenchmarkCluster/nodes=1", baseLabel: "1 node, same run",
		command: "go build -o bin/kassa ./cmd/kassa && go run ./internal/benchtools cluster -kassa bin/kassa -invoices 12000 -stores 400 -rounds 2 -kills 10"},
	{group: "Several nodes on one PostgreSQL (HTTP POST /invoices, 64 clients, same 2-core machine)", label: "kassa CPU per invoice, $1", bench: `benchtools:BenchmarkCluster/(nodes=\d)`,
		metric: "kassa-cpu-ms/invoice", unit: "ms", command: "(same run)"},
	{group: "Several nodes on one PostgreSQL (HTTP POST /invoices, 64 clients, same 2-core machine)", label: "PostgreSQL CPU per invoice, $1", bench: `benchtools:BenchmarkCluster/(nodes=\d)`,
		metric: "pg-cpu-ms/invoice", unit: "ms", command: "(same run)"},
	{group: "Several nodes on one PostgreSQL (HTTP POST /invoices, 64 clients, same 2-core machine)", label: "PostgreSQL commits per invoice, $1", bench: `benchtools:BenchmarkCluster/(nodes=\d)`,
		metric: "commits/invoice", unit: "commits", command: "(same run)"},
	{group: "Several nodes on one PostgreSQL (HTTP POST /invoices, 64 clients, same 2-core machine)", label: "PostgreSQL one-row commits, 32 connections", bench: `benchtools:BenchmarkCluster/pg-commits`,
		metric: "commits/s", unit: "commits/s", command: "(same run)"},
	{group: "Failover (3 nodes, kill -9 of the leader, a block mined at once)", label: "kill → a survivor leads, median", bench: `benchtools:BenchmarkFailover`,
		metric: "elected-median-s", unit: "s", command: "(the cluster run above)"},
	{group: "Failover (3 nodes, kill -9 of the leader, a block mined at once)", label: "kill → the new leader processed the block, median", bench: `benchtools:BenchmarkFailover`,
		metric: "block-median-s", unit: "s", command: "(same run)"},
	{group: "Failover (3 nodes, kill -9 of the leader, a block mined at once)", label: "kill → the new leader processed the block, worst", bench: `benchtools:BenchmarkFailover`,
		metric: "block-max-s", unit: "s", command: "(same run)"},
	{group: "Failover (3 nodes, kill -9 of the leader, a block mined at once)", label: "leader kills", bench: `benchtools:BenchmarkFailover`,
		metric: "kills", unit: "kills", command: "(same run)"},
	{group: "Failover (3 nodes, kill -9 of the leader, a block mined at once)", label: "open invoices the new leader loads", bench: `benchtools:BenchmarkFailover`,
		metric: "open-invoices", unit: "invoices", command: "(same run)"},
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	jsonOut := fs.String("json", "bench/results.json", "machine-readable results")
	mdOut := fs.String("md", "bench/RESULTS.md", "Markdown table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("report: name the benchmark output files")
	}
	var results []result
	var m machine
	for _, path := range fs.Args() {
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue // an optional part (bench-1m) that was not run
		}
		if err != nil {
			return err
		}
		rs, mm, err := parseBench(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		results = append(results, rs...)
		if m.Date == "" {
			m = mm
		}
	}
	figs, err := figures(results)
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(struct {
		Machine machine  `json:"machine"`
		Figures []figure `json:"figures"`
	}{m, figs}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*jsonOut, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	md, err := os.Create(*mdOut)
	if err != nil {
		return err
	}
	writeMarkdown(md, m, figs)
	return md.Close()
}

var suffix = regexp.MustCompile(`-\d+$`)

// parseBench reads go test -bench output and the "# key: value" header
// lines scripts/bench.sh writes.
func parseBench(r io.Reader) ([]result, machine, error) {
	var out []result
	var m machine
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), ": "); ok && strings.HasPrefix(line, "# ") {
			switch k {
			case "date":
				m.Date = v
			case "cpu":
				m.CPU = v
			case "nproc":
				m.Nproc = v
			case "go":
				m.Go = v
			case "os":
				m.OS = v
			case "kernel":
				m.Kernel = v
			}
			continue
		}
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue // a benchmark that failed or logged on its name line
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		res := result{pkg: pkg, name: suffix.ReplaceAllString(f[0], ""), metrics: map[string]float64{}}
		if strings.HasPrefix(res.name, "BenchmarkRSS") || strings.HasPrefix(res.name, "BenchmarkCluster") || strings.HasPrefix(res.name, "BenchmarkFailover") {
			res.pkg = "benchtools"
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, m, fmt.Errorf("bad value %q in %q", f[i], line)
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	for i := range out {
		out[i].date = m.Date
	}
	return out, m, sc.Err()
}

// figures picks the published figures out of the results, in spec
// order, and pairs each with its baseline.
func figures(results []result) ([]figure, error) {
	byName := map[string]result{}
	for _, r := range results {
		byName[r.pkg+":"+r.name] = r // a later run of the same benchmark wins
	}
	var figs []figure
	for _, s := range specs {
		re, err := regexp.Compile("^" + s.bench + "$")
		if err != nil {
			return nil, err
		}
		var keys []string
		for k := range byName {
			if re.MatchString(k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := byName[k].metrics[s.metric]
			if !ok {
				continue
			}
			sub := re.FindStringSubmatchIndex(k)
			fig := figure{Group: s.group, Name: string(re.ExpandString(nil, s.label, k, sub)),
				Value: scale(v, s.metric, s.unit), Unit: s.unit, Benchmark: k, Command: s.command,
				Measured: byName[k].date}
			if s.baseline != "" {
				bk := string(re.ExpandString(nil, s.baseline, k, sub))
				metric := s.metric
				if s.baseMetric != "" {
					metric = s.baseMetric
				}
				if b, ok := byName[bk].metrics[metric]; ok && b != 0 {
					b = scale(b, metric, s.unit)
					ratio := fig.Value / b
					fig.Baseline, fig.Ratio, fig.BaselineName = &b, &ratio, s.baseLabel+" ("+bk+")"
				}
			}
			figs = append(figs, fig)
		}
	}
	return figs, nil
}

// scale converts a nanosecond metric to milliseconds when the figure is
// in ms.
func scale(v float64, metric, unit string) float64 {
	if unit == "ms" && strings.HasPrefix(metric, "ns/op") || unit == "ms" && strings.HasSuffix(metric, "-ns/op") {
		return v / 1e6
	}
	return v
}

func writeMarkdown(w io.Writer, m machine, figs []figure) {
	fmt.Fprintf(w, "Measured %s on %s CPUs (%s), %s, %s.\n\n", m.Date, m.Nproc, m.CPU, m.Go, m.OS)
	fmt.Fprintln(w, "Ratios are figure / baseline, both measured in the same run (the machine is noisy; compare ratios, not absolute numbers):")
	fmt.Fprintln(w, "for throughput a ratio below 1 is what kassa costs over the bare operation; for latency and memory above 1.")
	group := ""
	for _, f := range figs {
		if f.Group != group {
			group = f.Group
			when := ""
			if f.Measured != m.Date {
				when = " (measured " + f.Measured + ")"
			}
			fmt.Fprintf(w, "\n**%s**%s\n\n| figure | value | same-run baseline | ratio |\n| --- | ---: | --- | ---: |\n", group, when)
		}
		base, ratio := "", ""
		if f.Baseline != nil {
			base = fmt.Sprintf("%s %s: %s", num(*f.Baseline), f.Unit, strings.SplitN(f.BaselineName, " (", 2)[0])
			ratio = fmt.Sprintf("%.2f", *f.Ratio)
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s |\n", f.Name, num(f.Value), f.Unit, base, ratio)
	}
	fmt.Fprintln(w, "\nCommands (each figure's own; `make bench` runs them all, `make bench-1m` the dashboard):")
	fmt.Fprintln(w)
	seen := map[string]bool{}
	for _, f := range figs {
		if !strings.HasPrefix(f.Command, "(") && !seen[f.Command] {
			seen[f.Command] = true
			fmt.Fprintf(w, "- %s: `%s`\n", f.Group, f.Command)
		}
	}
}

// num formats a figure with three significant digits or as an integer.
func num(v float64) string {
	switch {
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
