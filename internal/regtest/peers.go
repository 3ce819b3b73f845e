package regtest

import (
	"context"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Connect opens a (non-persistent) peer connection from n to other, unless
// they are connected already, and waits until both see it. Blocks and
// transactions then relay between them; call WaitSynced to wait for their
// chains to agree.
func (n *Node) Connect(ctx context.Context, other *Node) error {
	client, err := n.clientFor(ctx)
	if err != nil {
		return err
	}
	ours, theirs, err := links(ctx, n, other)
	if err != nil {
		return err
	}
	if len(ours) > 0 && len(theirs) > 0 {
		return nil
	}
	temp := "temp"
	if err := client.Node(btcjson.NConnect, other.P2PAddr(), &temp); err != nil {
		return fmt.Errorf("regtest: connect %s to %s: %w", n.P2PAddr(), other.P2PAddr(), err)
	}
	return poll(ctx, func() (bool, error) {
		ours, theirs, err := links(ctx, n, other)
		return len(ours) > 0 && len(theirs) > 0, err
	}, "peer connection %s → %s", n.P2PAddr(), other.P2PAddr())
}

// Disconnect closes every peer connection between n and other, in either
// direction, and waits until neither node lists the other as a peer.
func (n *Node) Disconnect(ctx context.Context, other *Node) error {
	return poll(ctx, func() (bool, error) {
		ours, theirs, err := links(ctx, n, other)
		if err != nil || len(ours)+len(theirs) == 0 {
			return err == nil, err
		}
		for _, id := range ours {
			// A failure means the peer is already gone; the next
			// round checks.
			_ = n.disconnectID(id)
		}
		for _, id := range theirs {
			_ = other.disconnectID(id)
		}
		return false, nil
	}, "disconnection of %s from %s", n.P2PAddr(), other.P2PAddr())
}

// disconnectID drops one peer by its btcd peer id.
func (n *Node) disconnectID(id int32) error {
	client, err := n.Client()
	if err != nil {
		return err
	}
	return client.Node(btcjson.NDisconnect, strconv.Itoa(int(id)), nil)
}

// links returns the peer ids, on a and on b, of the connections between a and
// b. An outbound connection lists the listener's address as the peer's
// address and its own end as the local address, which is how the other side
// lists the inbound peer.
func links(ctx context.Context, a, b *Node) (onA, onB []int32, err error) {
	ca, err := a.clientFor(ctx)
	if err != nil {
		return nil, nil, err
	}
	cb, err := b.clientFor(ctx)
	if err != nil {
		return nil, nil, err
	}
	peersA, err := ca.GetPeerInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("getpeerinfo on %s: %w", a.RPCHost(), err)
	}
	peersB, err := cb.GetPeerInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("getpeerinfo on %s: %w", b.RPCHost(), err)
	}
	// Connection ends: the set of "local address" values each node's
	// outbound connections to the other use.
	fromA := make(map[string]bool)
	for _, p := range peersA {
		if p.Addr == b.P2PAddr() && !p.Inbound {
			fromA[p.AddrLocal] = true
		}
	}
	fromB := make(map[string]bool)
	for _, p := range peersB {
		if p.Addr == a.P2PAddr() && !p.Inbound {
			fromB[p.AddrLocal] = true
		}
	}
	for _, p := range peersA {
		if (!p.Inbound && p.Addr == b.P2PAddr()) || (p.Inbound && fromB[p.Addr]) {
			onA = append(onA, p.ID)
		}
	}
	for _, p := range peersB {
		if (!p.Inbound && p.Addr == a.P2PAddr()) || (p.Inbound && fromA[p.Addr]) {
			onB = append(onB, p.ID)
		}
	}
	return onA, onB, nil
}

// WaitSynced waits until all nodes have the same best block.
func WaitSynced(ctx context.Context, nodes ...*Node) error {
	if len(nodes) < 2 {
		return nil
	}
	var last []chainhash.Hash
	err := poll(ctx, func() (bool, error) {
		last = last[:0]
		for _, n := range nodes {
			h, err := n.BestBlockHash(ctx)
			if err != nil {
				return false, err
			}
			last = append(last, h)
		}
		for _, h := range last[1:] {
			if h != last[0] {
				return false, nil
			}
		}
		return true, nil
	}, "%d nodes to agree on the best block", len(nodes))
	if err != nil {
		return fmt.Errorf("%w (tips %v)", err, last)
	}
	return nil
}

// StartPair starts two nodes, a with opts and b with opts but a seed of its
// own and never Mature, connects them and waits until b has a's chain. Both
// must be stopped by the caller, also when an error is returned (a nil node
// needs no stopping).
func StartPair(ctx context.Context, opts Options) (a, b *Node, err error) {
	a, err = Start(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	b, err = Start(ctx, secondOptions(opts))
	if err != nil {
		return a, nil, err
	}
	if err := a.Connect(ctx, b); err != nil {
		return a, b, err
	}
	return a, b, WaitSynced(ctx, a, b)
}

// secondOptions returns the options of a pair's second node: its own data
// directory and seed, and no maturing.
func secondOptions(opts Options) Options {
	opts.Mature = false
	opts.DataDir = ""
	if opts.Seed == "" {
		opts.Seed = DefaultSeed
	}
	opts.Seed += "/b"
	return opts
}

// ReorgResult describes the reorganisation Reorg caused on node a.
type ReorgResult struct {
	Orphaned []chainhash.Hash // Blocks a mined and then abandoned, oldest first.
	Winning  []chainhash.Hash // b's blocks that a switched to, oldest first.
}

// Reorg makes node a reorganise away its next depth blocks. a and b must
// share a chain (StartPair, or Connect and WaitSynced). Reorg disconnects
// them, mines depth blocks on a with Mine (so they confirm a's mempool, a
// payment for instance), then has b overtake a with Overtake. Afterwards a's
// best block is b's, the transactions of the orphaned blocks are back in a's
// mempool, and the two are connected again.
//
// To observe the confirmations before the reorganisation, do the steps by
// hand: a.Disconnect(ctx, b), a.Mine(ctx, depth), check, then
// Overtake(ctx, a, b).
func Reorg(ctx context.Context, a, b *Node, depth int) (ReorgResult, error) {
	if err := a.Disconnect(ctx, b); err != nil {
		return ReorgResult{}, err
	}
	orphaned, err := a.Mine(ctx, depth)
	if err != nil {
		return ReorgResult{}, err
	}
	winning, err := Overtake(ctx, a, b)
	if err != nil {
		return ReorgResult{}, err
	}
	return ReorgResult{Orphaned: orphaned, Winning: winning}, nil
}

// Overtake has b, disconnected from a, mine empty blocks (MineEmpty, so none
// of the mempool's transactions) until its chain is one block longer than
// a's, hands b's blocks to a, reconnects them and waits until they agree. It
// returns the blocks b mined, oldest first.
//
// The blocks go to a by submitblock rather than by peer sync: btcd skips
// its mempool clean-up for blocks connected while it syncs from a peer that
// is ahead, which would leave a transaction double-spent by b's chain in
// a's mempool.
func Overtake(ctx context.Context, a, b *Node) ([]chainhash.Hash, error) {
	ha, err := a.BlockCount(ctx)
	if err != nil {
		return nil, err
	}
	hb, err := b.BlockCount(ctx)
	if err != nil {
		return nil, err
	}
	winning, err := b.MineEmpty(ctx, int(max(ha-hb+1, 1)))
	if err != nil {
		return nil, err
	}
	if err := copyBlocks(ctx, b, a); err != nil {
		return nil, err
	}
	if err := a.Connect(ctx, b); err != nil {
		return nil, err
	}
	if err := WaitSynced(ctx, a, b); err != nil {
		return nil, err
	}
	return winning, nil
}

// copyBlocks submits to dst the blocks of src's best chain that dst does not
// have, oldest first.
func copyBlocks(ctx context.Context, src, dst *Node) error {
	srcClient, err := src.clientFor(ctx)
	if err != nil {
		return err
	}
	dstClient, err := dst.clientFor(ctx)
	if err != nil {
		return err
	}
	tip, err := src.BestBlockHash(ctx)
	if err != nil {
		return err
	}
	var missing []*wire.MsgBlock
	for hash := tip; ; {
		if _, err := dstClient.GetBlockHeaderVerbose(&hash); err == nil {
			break // dst has this block and so all its ancestors.
		}
		block, err := srcClient.GetBlock(&hash)
		if err != nil {
			return fmt.Errorf("regtest: getblock %s from %s: %w", hash, src.RPCHost(), err)
		}
		missing = append(missing, block)
		hash = block.Header.PrevBlock
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := dstClient.SubmitBlock(btcutil.NewBlock(missing[i]), nil); err != nil {
			return fmt.Errorf("regtest: submit block %s to %s: %w (see %s)",
				missing[i].BlockHash(), dst.RPCHost(), err, dst.LogPath())
		}
	}
	return nil
}
