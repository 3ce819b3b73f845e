// Command kassa is a self-hosted, non-custodial Bitcoin payment gateway that
// speaks the BitPay merchant API. See the README for the quick start.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kassa-pay/kassa/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
