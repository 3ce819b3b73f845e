package regtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"
)

// stopTimeout is how long halt waits for btcd to exit after a signal before
// it sends SIGKILL.
const stopTimeout = 15 * time.Second

// args returns btcd's command line for this node.
func (n *Node) args() []string {
	args := []string{
		"--regtest",
		"--configfile=" + filepath.Join(n.dataDir, "btcd.conf"),
		"--datadir=" + filepath.Join(n.dataDir, "data"),
		"--logdir=" + filepath.Join(n.dataDir, "logs"),
		"--rpcuser=" + n.opts.RPCUser,
		"--rpcpass=" + n.opts.RPCPass,
		"--rpclisten=" + n.RPCHost(),
		"--listen=" + n.P2PAddr(),
		"--notls",
		"--nobanning",
		// Relay transactions to peers at once rather than every 10 s.
		"--trickleinterval=50ms",
		"--miningaddr=" + n.wallet.MiningAddress(),
	}
	if n.opts.TxIndex {
		args = append(args, "--txindex")
	}
	return append(args, n.opts.ExtraArgs...)
}

// launch starts the btcd process and waits for its RPC server.
func (n *Node) launch(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return ErrStopped
	}
	if n.cmd != nil {
		return errors.New("regtest: node is already running")
	}
	// An empty configuration file keeps btcd away from ~/.btcd.
	conf := filepath.Join(n.dataDir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return fmt.Errorf("regtest: write %s: %w", conf, err)
	}
	logFile, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("regtest: open btcd log: %w", err)
	}
	cmd := exec.Command(n.binary, n.args()...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("regtest: start %s: %w", n.binary, err)
	}
	exited := make(chan struct{})
	go func() {
		// Wait's error only repeats the exit status, which the log explains.
		_ = cmd.Wait()
		close(exited)
	}()
	client, err := rpcclient.New(&rpcclient.ConnConfig{
		Host:         n.RPCHost(),
		User:         n.opts.RPCUser,
		Pass:         n.opts.RPCPass,
		HTTPPostMode: true,
		DisableTLS:   true,
	}, nil)
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
		return fmt.Errorf("regtest: rpc client: %w", err)
	}
	n.cmd, n.exited, n.logFile, n.client = cmd, exited, logFile, client
	if err := n.waitRPC(ctx, client, exited); err != nil {
		n.haltLocked(os.Kill)
		return err
	}
	n.log.Debug("regtest: btcd started", "rpc", n.RPCHost(), "p2p", n.P2PAddr(),
		"pid", cmd.Process.Pid, "log", n.LogPath())
	return nil
}

// waitRPC polls the RPC server until it answers, btcd exits, the context ends
// or StartTimeout passes.
func (n *Node) waitRPC(ctx context.Context, client *rpcclient.Client, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A plain dial first: the RPC client retries a refused request
		// for about 20 s before it reports the failure.
		conn, err := net.DialTimeout("tcp", n.RPCHost(), time.Second)
		if err == nil {
			conn.Close()
			if _, err = client.GetBlockCount(); err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("regtest: btcd exited during start-up (see %s):\n%s",
				n.LogPath(), n.logTail())
		case <-ctx.Done():
			return fmt.Errorf("regtest: btcd RPC at %s not ready (see %s): %w (last error: %v)",
				n.RPCHost(), n.LogPath(), ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// haltLocked signals btcd, waits for it to exit and releases the RPC client
// and log file. It does nothing when btcd is not running. The caller holds
// n.mu.
func (n *Node) haltLocked(sig os.Signal) error {
	if n.cmd == nil {
		return nil
	}
	var err error
	if sigErr := n.cmd.Process.Signal(sig); sigErr != nil && !errors.Is(sigErr, os.ErrProcessDone) {
		err = fmt.Errorf("regtest: signal btcd: %w", sigErr)
	}
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
		err = fmt.Errorf("regtest: btcd did not stop within %s and was killed (see %s)",
			stopTimeout, n.LogPath())
	}
	n.client.Shutdown()
	n.logFile.Close()
	n.cmd, n.exited, n.logFile, n.client = nil, nil, nil, nil
	return err
}

// snapshotLocked fetches the blocks of the best chain above genesis, oldest
// first. The caller holds n.mu and btcd is running.
func (n *Node) snapshotLocked() ([]*wire.MsgBlock, error) {
	count, err := n.client.GetBlockCount()
	if err != nil {
		return nil, fmt.Errorf("regtest: record chain: getblockcount: %w", err)
	}
	hashes := make([]rpcclient.FutureGetBlockHashResult, count)
	for i := range hashes {
		hashes[i] = n.client.GetBlockHashAsync(int64(i + 1))
	}
	blocks := make([]rpcclient.FutureGetBlockResult, count)
	for i, f := range hashes {
		h, err := f.Receive()
		if err != nil {
			return nil, fmt.Errorf("regtest: record chain: getblockhash %d: %w", i+1, err)
		}
		blocks[i] = n.client.GetBlockAsync(h)
	}
	saved := make([]*wire.MsgBlock, count)
	for i, f := range blocks {
		if saved[i], err = f.Receive(); err != nil {
			return nil, fmt.Errorf("regtest: record chain: getblock at %d: %w", i+1, err)
		}
	}
	return saved, nil
}

// replay submits the blocks recorded before the last halt to the freshly
// started btcd.
func (n *Node) replay(ctx context.Context) error {
	n.mu.Lock()
	saved := n.saved
	n.saved = nil
	n.mu.Unlock()
	if len(saved) == 0 {
		return nil
	}
	// btcd answers submitblock with a rejection reason, not an RPC error,
	// and a node under load has rejected blocks here: submit until the
	// best block is the last one saved, from above the node's height each
	// time (what a killed btcd kept is a prefix of the saved chain).
	want := saved[len(saved)-1].BlockHash()
	for attempt := 0; ; attempt++ {
		client, err := n.clientFor(ctx)
		if err != nil {
			return err
		}
		best, err := client.GetBestBlockHash()
		if err == nil && *best == want {
			return nil
		}
		count, err := client.GetBlockCount()
		if err != nil {
			return fmt.Errorf("regtest: restore: getblockcount: %w (see %s)", err, n.LogPath())
		}
		if attempt == 3 {
			return fmt.Errorf("regtest: restore: the node is at height %d, not at the saved tip %d %s (see %s)",
				count, len(saved), want, n.LogPath())
		}
		for i := int(min(max(count, 0), int64(len(saved)))); i < len(saved); i++ {
			if err := client.SubmitBlock(btcutil.NewBlock(saved[i]), nil); err != nil {
				return fmt.Errorf("regtest: restore block %d (%s): %w (see %s)",
					i+1, saved[i].BlockHash(), err, n.LogPath())
			}
		}
	}
}

// logTail returns the last lines of btcd's captured output for error
// messages.
func (n *Node) logTail() string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// freePorts asks the kernel for count distinct free TCP ports on 127.0.0.1.
// The listeners are closed before returning, so another process could take a
// port in between; on a test machine that is rare enough.
func freePorts(count int) ([]int, error) {
	ports := make([]int, 0, count)
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("regtest: find free port: %w", err)
		}
		defer l.Close()
		_, port, err := net.SplitHostPort(l.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("regtest: find free port: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("regtest: find free port: %w", err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}
