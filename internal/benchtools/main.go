// Command benchtools is make bench's helper (scripts/bench.sh):
//
//	go run ./internal/benchtools rss -kassa bin/kassa-bench
//	go run ./internal/benchtools report -in bench/results.txt
//
// rss starts the real kassa serve binary on a fresh SQLite database
// against a regtest btcd, reads its resident memory from /proc when idle
// and again after creating and listing invoices over HTTP, and prints the
// figures as Go benchmark lines. report reads the benchmark output of a
// whole make bench run and writes bench/results.json (every figure, with
// its same-run baseline and the ratio where one exists) and
// bench/RESULTS.md (the table the README's Performance section shows).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtools rss|cluster|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "rss":
		err = runRSS(ctx, os.Args[2:])
	case "cluster":
		err = runCluster(ctx, os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want rss, cluster or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtools:", err)
		os.Exit(1)
	}
}
