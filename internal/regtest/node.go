package regtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"
)

// Default values used when the matching Options field is left empty.
const (
	DefaultRPCUser      = "kassa"
	DefaultRPCPass      = "kassa"
	DefaultSeed         = "kassa-regtest"
	DefaultStartTimeout = 30 * time.Second

	// MatureBlocks is how many blocks Options.Mature mines on start: the
	// coinbase maturity of 100 blocks plus one, so the first reward is
	// spendable.
	MatureBlocks = 101
)

// ErrStopped is returned by node methods that need a running btcd process
// after Stop or Kill.
var ErrStopped = errors.New("regtest: node is not running")

// Options configures Start. The zero value is usable: it finds btcd on its
// own, picks free loopback ports and a temporary data directory, and derives
// the wallet from DefaultSeed.
type Options struct {
	// Binary is the path of the btcd executable. When empty, Start looks at
	// the KASSA_BTCD environment variable, then <repo>/.tools/bin/btcd (the
	// repository root is the first parent of the working directory holding
	// go.mod), then PATH.
	Binary string

	// DataDir holds btcd's chain, logs and btcd.log (its captured output).
	// When empty, Start creates a temporary directory and Stop removes it.
	DataDir string

	// RPCUser and RPCPass are btcd's RPC credentials; DefaultRPCUser and
	// DefaultRPCPass when empty.
	RPCUser string
	RPCPass string

	// Seed makes the wallet's keys, and so its addresses and the node's
	// mining address, reproducible. DefaultSeed when empty. Two nodes that
	// must not share coins need different seeds (StartPair sees to it).
	Seed string

	// Mature mines MatureBlocks blocks on start so the wallet has spendable
	// coins.
	Mature bool

	// FeeRate is the wallet's fee rate in sat/vB; 2 when zero.
	FeeRate int64

	// TxIndex starts btcd with --txindex, so getrawtransaction also finds
	// confirmed transactions.
	TxIndex bool

	// ExtraArgs are appended to btcd's command line.
	ExtraArgs []string

	// StartTimeout bounds how long Start and Restart wait for the RPC
	// server; DefaultStartTimeout when zero.
	StartTimeout time.Duration

	// Logger receives the harness's own progress messages; slog.Default
	// when nil. btcd's output goes to LogPath, not here.
	Logger *slog.Logger
}

// Node is a btcd process in regtest mode with its own test wallet. Its
// methods are safe for concurrent use.
type Node struct {
	opts    Options
	binary  string
	dataDir string
	tempDir bool // dataDir was created by Start and is removed by Stop.
	rpcPort int
	p2pPort int
	log     *slog.Logger
	wallet  *Wallet

	mu      sync.Mutex
	stopped bool             // Stop was called; the node cannot restart.
	saved   []*wire.MsgBlock // Best chain kept by Kill and Restart for the next launch.
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for.
	logFile *os.File
	client  *rpcclient.Client
}

// Start launches btcd in regtest mode and returns once its RPC server
// answers. With opts.Mature it also mines MatureBlocks blocks to the wallet.
// The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.RPCUser == "" {
		opts.RPCUser = DefaultRPCUser
	}
	if opts.RPCPass == "" {
		opts.RPCPass = DefaultRPCPass
	}
	if opts.Seed == "" {
		opts.Seed = DefaultSeed
	}
	if opts.FeeRate == 0 {
		opts.FeeRate = 2
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	binary, err := FindBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: opts, binary: binary, dataDir: opts.DataDir, log: log}
	if n.dataDir == "" {
		n.dataDir, err = os.MkdirTemp("", "kassa-btcd-")
		if err != nil {
			return nil, fmt.Errorf("regtest: create data dir: %w", err)
		}
		n.tempDir = true
	}
	n.wallet, err = newWallet(n, opts.Seed, opts.FeeRate)
	if err != nil {
		n.removeTemp()
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		n.removeTemp()
		return nil, err
	}
	n.rpcPort, n.p2pPort = ports[0], ports[1]
	// On a failed launch the data directory stays, so the log the error
	// points at can be read.
	if err := n.launch(ctx); err != nil {
		return nil, err
	}
	if opts.Mature {
		if _, err := n.Mine(ctx, MatureBlocks); err != nil {
			_ = n.Stop() // The mining error is the one worth reporting.
			return nil, fmt.Errorf("regtest: mine to maturity: %w", err)
		}
	}
	return n, nil
}

// RPCURL returns the node's RPC endpoint in the form kassa's configuration
// takes: rpc://user:pass@127.0.0.1:port.
func (n *Node) RPCURL() string {
	u := url.URL{
		Scheme: "rpc",
		User:   url.UserPassword(n.opts.RPCUser, n.opts.RPCPass),
		Host:   n.RPCHost(),
	}
	return u.String()
}

// RPCHost returns the RPC server's host:port on 127.0.0.1.
func (n *Node) RPCHost() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.rpcPort))
}

// RPCUser returns the RPC user name.
func (n *Node) RPCUser() string { return n.opts.RPCUser }

// RPCPass returns the RPC password.
func (n *Node) RPCPass() string { return n.opts.RPCPass }

// P2PAddr returns the peer-to-peer listener's host:port on 127.0.0.1.
func (n *Node) P2PAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.p2pPort))
}

// DataDir returns btcd's data directory.
func (n *Node) DataDir() string { return n.dataDir }

// LogPath returns the file that captures btcd's standard output and error.
func (n *Node) LogPath() string { return filepath.Join(n.dataDir, "btcd.log") }

// Params returns the chain parameters, always regtest.
func (n *Node) Params() *chaincfg.Params { return &chaincfg.RegressionNetParams }

// Wallet returns the node's test wallet, whose address receives the rewards
// of the blocks the node mines.
func (n *Node) Wallet() *Wallet { return n.wallet }

// Client returns an RPC client connected to the running node. It is replaced
// by Restart; do not keep it across restarts.
func (n *Node) Client() (*rpcclient.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		return nil, ErrStopped
	}
	select {
	case <-n.exited:
		return nil, fmt.Errorf("%w: btcd exited on its own (see %s)", ErrStopped, n.LogPath())
	default:
	}
	return n.client, nil
}

// Stop shuts btcd down gracefully (SIGINT), waits for it to exit and removes
// the data directory if Start created it. Stop is final and idempotent; to
// stop a node for a while use Kill and Restart.
func (n *Node) Stop() error {
	n.mu.Lock()
	n.stopped = true
	err := n.haltLocked(os.Interrupt)
	n.mu.Unlock()
	n.removeTemp()
	return err
}

// Kill ends btcd with SIGKILL, as a crash would. It first records the best
// chain, so Restart brings the node back with the same blocks.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	saved, err := n.snapshotLocked()
	if err != nil {
		return err
	}
	n.saved = saved
	return n.haltLocked(syscall.SIGKILL)
}

// Restart stops btcd if it is running and starts it again on the same ports
// with the same best chain. btcd wipes its regtest database at every start,
// so Restart resubmits the blocks it recorded before stopping (Kill records
// them too). The mempool is not kept, as with a real btcd restart.
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	if n.cmd != nil {
		saved, err := n.snapshotLocked()
		if err != nil {
			n.mu.Unlock()
			return err
		}
		n.saved = saved
		if err := n.haltLocked(os.Interrupt); err != nil {
			n.mu.Unlock()
			return err
		}
	}
	n.mu.Unlock()
	if err := n.launch(ctx); err != nil {
		return err
	}
	return n.replay(ctx)
}

// removeTemp deletes the data directory when Start created it.
func (n *Node) removeTemp() {
	if n.tempDir {
		if err := os.RemoveAll(n.dataDir); err != nil {
			n.log.Warn("regtest: remove data dir", "dir", n.dataDir, "err", err)
		}
	}
}
