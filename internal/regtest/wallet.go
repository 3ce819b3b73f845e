package regtest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/kassa-pay/kassa/internal/money"
)

// Errors returned by the wallet, matched with errors.Is.
var (
	// ErrInsufficientFunds means the wallet has too few spendable coins:
	// mine more blocks (coinbase rewards need 100 confirmations).
	ErrInsufficientFunds = errors.New("regtest: insufficient spendable funds")
	// ErrUnknownTx means the transaction was not sent by this wallet.
	ErrUnknownTx = errors.New("regtest: transaction not sent by this wallet")
)

// coinbaseMaturity is the number of confirmations a coinbase output needs
// before it can be spent.
const coinbaseMaturity = 100

// Output is one payment of a PayMany transaction.
type Output struct {
	Address string     // A regtest address: bcrt1…, 2… or m…/n….
	Amount  money.Sats // The amount paid to Address.
}

// Wallet is a minimal in-memory P2WPKH wallet bound to one node. Its keys are
// derived from the node's seed, so addresses repeat from run to run. It learns
// coins from the blocks its node mines (Node.Mine, Node.MineBlock), from
// ScanBlocks, and from the change of its own transactions; before spending a
// coin it asks the node whether the coin still exists, so coins lost to a
// reorg or a replacement are dropped rather than spent. Its methods are safe
// for concurrent use.
type Wallet struct {
	node    *Node
	seed    string
	feeRate int64

	mu       sync.Mutex
	keys     []walletKey
	byScript map[string]int // pkScript → index in keys.
	coins    map[wire.OutPoint]*coin
	spentBy  map[wire.OutPoint]chainhash.Hash // Coins spent by the wallet's unconfirmed transactions.
	sent     map[chainhash.Hash]*sentTx
}

// walletKey is one private key with its P2WPKH address and script.
type walletKey struct {
	priv   *btcec.PrivateKey
	addr   *address.AddressWitnessPubKeyHash
	script []byte
}

// coin is an output paying one of the wallet's scripts.
type coin struct {
	outPoint wire.OutPoint
	value    int64
	key      int   // Index of the key that can spend it.
	height   int32 // Height of the block that created it; 0 while unconfirmed.
	coinbase bool
}

// sentTx is a transaction the wallet broadcast, kept for Replace.
type sentTx struct {
	tx       *wire.MsgTx
	prevOuts map[wire.OutPoint]*coin
	fee      int64
}

// newWallet derives the wallet's first key, whose address the node mines to.
func newWallet(n *Node, seed string, feeRate int64) (*Wallet, error) {
	w := &Wallet{
		node:     n,
		seed:     seed,
		feeRate:  feeRate,
		byScript: make(map[string]int),
		coins:    make(map[wire.OutPoint]*coin),
		spentBy:  make(map[wire.OutPoint]chainhash.Hash),
		sent:     make(map[chainhash.Hash]*sentTx),
	}
	if _, err := w.deriveKey(); err != nil {
		return nil, err
	}
	return w, nil
}

// deriveKey adds the next key: its secret is SHA-256 of a domain tag, the
// seed and the key index. The caller holds w.mu, or has not shared w yet.
func (w *Wallet) deriveKey() (walletKey, error) {
	h := sha256.New()
	h.Write([]byte("kassa/regtest/wallet-key\x00"))
	h.Write([]byte(w.seed))
	var idx [4]byte
	binary.BigEndian.PutUint32(idx[:], uint32(len(w.keys)))
	h.Write(idx[:])
	priv, pub := btcec.PrivKeyFromBytes(h.Sum(nil))
	addr, err := address.NewAddressWitnessPubKeyHash(
		address.Hash160(pub.SerializeCompressed()), w.node.Params())
	if err != nil {
		return walletKey{}, fmt.Errorf("regtest: derive wallet address: %w", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return walletKey{}, fmt.Errorf("regtest: derive wallet script: %w", err)
	}
	k := walletKey{priv: priv, addr: addr, script: script}
	w.byScript[string(script)] = len(w.keys)
	w.keys = append(w.keys, k)
	return k, nil
}

// MiningAddress returns the wallet's first address, which receives the
// rewards of the blocks its node mines.
func (w *Wallet) MiningAddress() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys[0].addr.EncodeAddress()
}

// NewAddress derives a fresh P2WPKH address of the wallet. Outputs paying it
// are spendable by the wallet once it has seen them.
func (w *Wallet) NewAddress() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, err := w.deriveKey()
	if err != nil {
		return "", err
	}
	return k.addr.EncodeAddress(), nil
}

// Transaction returns a transaction the wallet sent, or nil if it did not
// send txid (or the transaction was replaced).
func (w *Wallet) Transaction(txid chainhash.Hash) *wire.MsgTx {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.sent[txid]
	if !ok {
		return nil
	}
	return s.tx.Copy()
}

// Balance returns the value the wallet can spend now: mature coins, and
// unconfirmed change, that no wallet transaction in the mempool spends.
func (w *Wallet) Balance(ctx context.Context) (money.Sats, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	coins, err := w.spendable(ctx, -1)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, c := range coins {
		total += c.value
	}
	return money.Sats(total), nil
}

// ScanBlocks fetches the blocks from the wallet's node and learns the outputs
// that pay the wallet. Node.Mine and Node.MineBlock do this themselves; call
// it for blocks mined elsewhere.
func (w *Wallet) ScanBlocks(ctx context.Context, hashes ...chainhash.Hash) error {
	for _, h := range hashes {
		block, err := w.node.Block(ctx, h)
		if err != nil {
			return err
		}
		height, err := w.node.blockHeight(ctx, h)
		if err != nil {
			return err
		}
		w.scanBlock(block, height)
	}
	return nil
}

// scanBlock records the outputs of block that pay the wallet, and drops the
// spent marks the block's transactions settle.
func (w *Wallet) scanBlock(block *wire.MsgBlock, height int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, tx := range block.Transactions {
		txid := tx.TxHash()
		for _, in := range tx.TxIn {
			// A confirmed spend is final for the harness's purpose; the
			// coin is gone.
			delete(w.coins, in.PreviousOutPoint)
			delete(w.spentBy, in.PreviousOutPoint)
		}
		w.addOutputs(txid, tx, height, i == 0)
	}
}

// addOutputs records tx's outputs that pay the wallet. The caller holds w.mu.
func (w *Wallet) addOutputs(txid chainhash.Hash, tx *wire.MsgTx, height int32, coinbase bool) {
	for vout, out := range tx.TxOut {
		key, ok := w.byScript[string(out.PkScript)]
		if !ok {
			continue
		}
		op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
		w.coins[op] = &coin{outPoint: op, value: out.Value, key: key, height: height, coinbase: coinbase}
	}
}

// spendable returns the coins the node confirms can be spent now, oldest
// first, stopping once their value reaches target (all coins when target is
// negative). Coins that no longer exist are forgotten. The caller holds w.mu.
func (w *Wallet) spendable(ctx context.Context, target int64) ([]*coin, error) {
	client, err := w.node.Client()
	if err != nil {
		return nil, err
	}
	mempool, err := w.node.mempoolSet(ctx)
	if err != nil {
		return nil, err
	}
	candidates := make([]*coin, 0, len(w.coins))
	for _, c := range w.coins {
		candidates = append(candidates, c)
	}
	// Oldest first: those are the mature coinbase rewards. Unconfirmed
	// change (height 0) comes last.
	sort.Slice(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if (a.height == 0) != (b.height == 0) {
			return b.height == 0
		}
		if a.height != b.height {
			return a.height < b.height
		}
		if c := a.outPoint.Hash.String(); c != b.outPoint.Hash.String() {
			return c < b.outPoint.Hash.String()
		}
		return a.outPoint.Index < b.outPoint.Index
	})
	var (
		picked []*coin
		total  int64
	)
	for _, c := range candidates {
		if target >= 0 && total >= target {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if spender, ok := w.spentBy[c.outPoint]; ok {
			if mempool[spender] {
				continue
			}
			// The spending transaction left the mempool without the
			// wallet seeing it confirmed: replaced, or confirmed in a
			// block mined elsewhere. gettxout tells which.
			delete(w.spentBy, c.outPoint)
		}
		res, err := client.GetTxOut(&c.outPoint.Hash, c.outPoint.Index, true)
		if err != nil {
			return nil, fmt.Errorf("regtest: gettxout %s: %w", c.outPoint, err)
		}
		if res == nil {
			delete(w.coins, c.outPoint)
			continue
		}
		if res.Coinbase && res.Confirmations < coinbaseMaturity {
			continue
		}
		picked = append(picked, c)
		total += c.value
	}
	return picked, nil
}
