package regtest

import (
	"context"
	"time"
)

// TB is the part of testing.TB the harness uses, so this package does not
// import testing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// MustStart starts a node for a test and stops it when the test ends. The
// data directory is t.TempDir() unless opts.DataDir is set. It fails the test
// if btcd cannot be found or started; btcd's log path is in the message.
func MustStart(t TB, opts Options) *Node {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start btcd: %v", err)
	}
	t.Cleanup(func() { stopForTest(t, n) })
	return n
}

// MustStartPair starts two connected, synced nodes for a test (see StartPair)
// and stops them when the test ends.
func MustStartPair(t TB, opts Options) (a, b *Node) {
	t.Helper()
	a = MustStart(t, opts)
	b = MustStart(t, secondOptions(opts))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Connect(ctx, b); err != nil {
		t.Fatalf("connect regtest nodes: %v", err)
	}
	if err := WaitSynced(ctx, a, b); err != nil {
		t.Fatalf("sync regtest nodes: %v", err)
	}
	return a, b
}

// stopForTest stops n at the end of a test and reports where its log is when
// stopping fails.
func stopForTest(t TB, n *Node) {
	if err := n.Stop(); err != nil {
		t.Logf("stop btcd: %v", err)
	}
}
