package chain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// fakeChain is a scripted Source: a best chain of blocks, side blocks kept
// by hash, and a mempool.
type fakeChain struct {
	mu      sync.Mutex
	blocks  map[chainhash.Hash]*wire.MsgBlock
	best    []chainhash.Hash // index = height
	mempool map[chainhash.Hash]*wire.MsgTx
	order   []chainhash.Hash // mempool order
	nonce   uint32
	down    bool
	// blockCalls counts the Block requests.
	blockCalls int
	// onMempool runs after Mempool answers, to script races.
	onMempool func()
}

func newFakeChain(height int) *fakeChain {
	c := &fakeChain{blocks: map[chainhash.Hash]*wire.MsgBlock{}, mempool: map[chainhash.Hash]*wire.MsgTx{}}
	for range height + 1 {
		c.mine()
	}
	return c
}

var errDown = errors.New("connection refused")

func (c *fakeChain) Network(context.Context) (string, error) { return "regtest", nil }

func (c *fakeChain) Tip(context.Context) (int32, chainhash.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return 0, chainhash.Hash{}, errDown
	}
	return int32(len(c.best) - 1), c.best[len(c.best)-1], nil
}

func (c *fakeChain) BlockHash(_ context.Context, h int32) (chainhash.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return chainhash.Hash{}, errDown
	}
	if int(h) >= len(c.best) || h < 0 {
		return chainhash.Hash{}, fmt.Errorf("height %d out of range", h)
	}
	return c.best[h], nil
}

func (c *fakeChain) Block(_ context.Context, h chainhash.Hash) (*wire.MsgBlock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errDown
	}
	c.blockCalls++
	b, ok := c.blocks[h]
	if !ok {
		return nil, fmt.Errorf("block %s not found", h)
	}
	return b, nil
}

func (c *fakeChain) Mempool(context.Context) ([]chainhash.Hash, error) {
	c.mu.Lock()
	if c.down {
		c.mu.Unlock()
		return nil, errDown
	}
	ids := slices.Clone(c.order)
	hook := c.onMempool
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ids, nil
}

func (c *fakeChain) MempoolTx(_ context.Context, id chainhash.Hash) (*wire.MsgTx, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errDown
	}
	tx, ok := c.mempool[id]
	if !ok {
		return nil, ErrTxNotFound
	}
	return tx, nil
}

// addTx puts tx in the mempool.
func (c *fakeChain) addTx(tx *wire.MsgTx) chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := tx.TxHash()
	c.mempool[id] = tx
	c.order = append(c.order, id)
	return id
}

// dropTx removes a transaction from the mempool.
func (c *fakeChain) dropTx(id chainhash.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mempool, id)
	c.order = slices.DeleteFunc(c.order, func(h chainhash.Hash) bool { return h == id })
}

// mine makes a block on the tip with the whole mempool plus extra txs.
func (c *fakeChain) mine(extra ...*wire.MsgTx) chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var txs []*wire.MsgTx
	for _, id := range c.order {
		txs = append(txs, c.mempool[id])
	}
	c.mempool, c.order = map[chainhash.Hash]*wire.MsgTx{}, nil
	return c.addBlockLocked(len(c.best), append(txs, extra...))
}

// fork replaces the best chain above height with n new blocks holding the
// given txs in the first one; the reorged-out txs not in them go back to
// the mempool unless dropped is set for them.
func (c *fakeChain) fork(height int, n int, txs []*wire.MsgTx, back func(*wire.MsgTx) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.best[height+1:]
	c.best = slices.Clone(c.best[:height+1])
	in := map[chainhash.Hash]bool{}
	for _, tx := range txs {
		in[tx.TxHash()] = true
	}
	for i := range n {
		var bt []*wire.MsgTx
		if i == 0 {
			bt = txs
		}
		c.addBlockLocked(len(c.best), bt)
	}
	for _, h := range old {
		for _, tx := range c.blocks[h].Transactions[1:] {
			id := tx.TxHash()
			if !in[id] && back(tx) {
				c.mempool[id] = tx
				c.order = append(c.order, id)
			}
		}
	}
}

func (c *fakeChain) addBlockLocked(height int, txs []*wire.MsgTx) chainhash.Hash {
	c.nonce++
	var prev chainhash.Hash
	if height > 0 {
		prev = c.best[height-1]
	}
	b := &wire.MsgBlock{Header: wire.BlockHeader{
		Version: 4, PrevBlock: prev, Timestamp: time.Unix(1_700_000_000+int64(c.nonce), 0), Nonce: c.nonce,
	}}
	b.Transactions = append([]*wire.MsgTx{coinbase(int32(height), c.nonce)}, txs...)
	h := b.BlockHash()
	c.blocks[h] = b
	c.best = append(c.best, h)
	return h
}

func coinbase(height int32, nonce uint32) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	sig := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(height)), nonce)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 0xffffffff}, SignatureScript: sig})
	tx.AddTxOut(&wire.TxOut{Value: 50_0000_0000, PkScript: p2wpkh(0xffffff00 + nonce)})
	return tx
}

var spendCounter uint32

// payTx returns a transaction spending a fresh fake outpoint with one
// output per (script, amount) pair.
func payTx(outs ...any) *wire.MsgTx {
	spendCounter++
	tx := wire.NewMsgTx(2)
	var prev chainhash.Hash
	binary.LittleEndian.PutUint32(prev[:], spendCounter)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev}, Sequence: 0xfffffffd})
	for i := 0; i < len(outs); i += 2 {
		tx.AddTxOut(&wire.TxOut{PkScript: outs[i].([]byte), Value: int64(outs[i+1].(int))})
	}
	return tx
}

// spendSame returns a transaction spending the same input as tx (a
// double-spend or RBF replacement) paying elsewhere.
func spendSame(tx *wire.MsgTx, script []byte, amount int64) *wire.MsgTx {
	r := wire.NewMsgTx(2)
	r.AddTxIn(&wire.TxIn{PreviousOutPoint: tx.TxIn[0].PreviousOutPoint, Sequence: 0xfffffffd})
	r.AddTxOut(&wire.TxOut{PkScript: script, Value: amount})
	return r
}

func p2wpkh(n uint32) []byte {
	s := make([]byte, 22)
	s[0], s[1] = 0x00, 0x14
	binary.BigEndian.PutUint32(s[2:], n)
	binary.BigEndian.PutUint32(s[18:], ^n)
	return s
}

// fakeSink records batches and keeps the processed blocks like a store.
type fakeSink struct {
	mu        sync.Mutex
	blocks    []Block
	batches   []Batch
	failNext  int
	failCalls int
}

func (s *fakeSink) RecentBlocks(context.Context) ([]Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.blocks), nil
}

func (s *fakeSink) Apply(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		s.failCalls++
		return errors.New("database is locked")
	}
	if b.DisconnectedAbove >= 0 {
		s.blocks = slices.DeleteFunc(s.blocks, func(x Block) bool { return x.Height > b.DisconnectedAbove })
	}
	s.blocks = append(s.blocks, b.Connected...)
	s.batches = append(s.batches, b)
	return nil
}

// take returns and clears the recorded batches.
func (s *fakeSink) take() []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches
	s.batches = nil
	return b
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }
