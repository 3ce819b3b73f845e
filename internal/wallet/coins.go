package wallet

import (
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/money"
)

// Coin is an unspent output a store's key can spend: where it is, what it
// holds, its script and the key that unlocks it (branch 0 receive, 1
// change; index on that branch).
type Coin struct {
	TxID   string
	Vout   uint32
	Amount money.Sats
	Script []byte
	Branch uint32
	Index  uint32
	Height int32 // 0 while unconfirmed
}

// Selection is the coins a spend uses, the network fee it pays and the
// change it sends back to the store (0: none; below the dust limit the
// change goes to the fee instead).
type Selection struct {
	Coins  []Coin
	Fee    money.Sats
	Change money.Sats
}

// DustLimit is the smallest change output kept: below it the change is
// added to the fee (an output costs more to spend than it is worth, and
// nodes refuse outputs under their dust threshold).
const DustLimit money.Sats = 546

// ErrInsufficientFunds: the coins do not cover the amount and its fee.
var ErrInsufficientFunds = errors.New("the store's coins do not cover the amount and the network fee")

// The virtual sizes (vbytes) the fee is estimated from: a transaction's
// fixed part (version, counts, lock time and the segwit marker, rounded
// up), and an input by the kind of script it spends.
const (
	txOverheadVBytes = 11
	inputP2WPKH      = 68
	inputP2SHP2WPKH  = 91
	inputP2TR        = 58
	inputP2PKH       = 148
)

// InputVBytes returns the virtual size of an input spending script
// (keyed by the script's form: P2WPKH, P2SH-P2WPKH, P2TR, else P2PKH).
func InputVBytes(script []byte) int64 {
	switch {
	case len(script) == 22 && script[0] == 0x00 && script[1] == 0x14:
		return inputP2WPKH
	case len(script) == 23 && script[0] == 0xa9:
		return inputP2SHP2WPKH
	case len(script) == 34 && script[0] == 0x51:
		return inputP2TR
	}
	return inputP2PKH
}

// OutputVBytes returns the size of an output paying script.
func OutputVBytes(script []byte) int64 { return 8 + 1 + int64(len(script)) }

// Select picks the coins to pay outputs (their scripts' sizes in
// outputVBytes, their sum target) at feeRate satoshis per vbyte, with a
// change output of changeVBytes when there is change. It spends as few
// coins as it can and mixes as little of the store's history as it can:
// the smallest single coin that pays everything without change when one
// does (within what a change output would cost), else the smallest
// single coin that pays everything with change, else the largest coins
// first until they do. Coins whose own input costs more than they hold
// at feeRate are never used. Among coins of the same amount the first in
// coins is the single coin chosen; the largest-first order breaks ties by
// txid then output index.
//
// Select runs on every PSBT build over all of a store's coins (10,000 and
// more), so it neither copies nor sorts them: one pass finds the single
// coins and what all usable coins add up to, and only when several coins
// are needed does a heap of their indexes hand out the largest first, in
// the order a full sort would give. Candidates spares the caller loading
// them all.
func Select(coins []Coin, target money.Sats, outputVBytes []int64, changeVBytes int64, feeRate money.Sats) (Selection, error) {
	s, err := newSelector(target, outputVBytes, changeVBytes, feeRate)
	if err != nil {
		return Selection{}, err
	}
	if sel, ok := s.single(coins); ok {
		return sel, nil
	}
	return s.largestFirst(coins)
}

// selector holds what Select's choice depends on besides the coins.
type selector struct {
	target, feeRate money.Sats
	base            int64 // the vbytes of the transaction without inputs and change
	changeVBytes    int64
}

func newSelector(target money.Sats, outputVBytes []int64, changeVBytes int64, feeRate money.Sats) (selector, error) {
	if target <= 0 || feeRate <= 0 {
		return selector{}, fmt.Errorf("select coins: target %d and fee rate %d must be positive", target, feeRate)
	}
	base := int64(txOverheadVBytes)
	for _, v := range outputVBytes {
		base += v
	}
	return selector{target: target, feeRate: feeRate, base: base, changeVBytes: changeVBytes}, nil
}

// fee is the fee of the transaction with inputs vbytes of inputs, and a
// change output or not.
func (s selector) fee(inputs int64, change bool) money.Sats {
	v := s.base + inputs
	if change {
		v += s.changeVBytes
	}
	return money.Sats(v) * s.feeRate
}

// usable reports whether c holds more than its own input costs.
func (s selector) usable(c *Coin) bool { return c.Amount > money.Sats(InputVBytes(c.Script))*s.feeRate }

// single returns the selection of one coin when one pays everything: one
// coin, no change, is the cheapest spend and the least mixing.
func (s selector) single(coins []Coin) (Selection, bool) {
	costOfChange := money.Sats(s.changeVBytes)*s.feeRate + DustLimit
	best, bestWithChange := -1, -1
	for i := range coins {
		c := &coins[i]
		if !s.usable(c) {
			continue
		}
		in := InputVBytes(c.Script)
		if need := s.target + s.fee(in, false); c.Amount >= need && c.Amount-need <= costOfChange {
			if best < 0 || c.Amount < coins[best].Amount {
				best = i
			}
		}
		if need := s.target + s.fee(in, true) + DustLimit; c.Amount >= need {
			if bestWithChange < 0 || c.Amount < coins[bestWithChange].Amount {
				bestWithChange = i
			}
		}
	}
	if best >= 0 {
		c := coins[best]
		return Selection{Coins: []Coin{c}, Fee: c.Amount - s.target}, true
	}
	if bestWithChange >= 0 {
		c := coins[bestWithChange]
		return finish([]Coin{c}, s.target, s.fee(InputVBytes(c.Script), true)), true
	}
	return Selection{}, false
}

// largestFirst spends the largest usable coins until they pay everything.
// All usable coins together either cover it, and then some first ones
// do, or nothing does.
func (s selector) largestFirst(coins []Coin) (Selection, error) {
	h := largestHeap{coins: coins, idx: make([]int32, 0, len(coins))}
	var (
		usableIn money.Sats
		usableVB int64
	)
	for i := range coins {
		if c := &coins[i]; s.usable(c) {
			usableIn += c.Amount
			usableVB += InputVBytes(c.Script)
			h.idx = append(h.idx, int32(i))
		}
	}
	if usableIn < s.target+s.fee(usableVB, false) {
		return Selection{}, fmt.Errorf("%w: %d sats in %d usable coins for %d and the fee",
			ErrInsufficientFunds, usableIn, len(h.idx), s.target)
	}
	h.init()
	var (
		picked []Coin
		sum    money.Sats
		inVB   int64
	)
	for len(h.idx) > 0 {
		c := coins[h.pop()]
		picked = append(picked, c)
		sum += c.Amount
		inVB += InputVBytes(c.Script)
		if sum >= s.target+s.fee(inVB, false) {
			break
		}
	}
	return finish(picked, s.target, s.fee(inVB, true)), nil
}

// largestHeap is a heap of indexes into coins that pops the largest coin
// first, ties broken by txid then output index (the order BIP69 lists
// inputs in), so that the same coins give the same selection.
type largestHeap struct {
	coins []Coin
	idx   []int32
}

// before reports whether coin i comes out before coin j.
func (h *largestHeap) before(i, j int32) bool {
	a, b := &h.coins[i], &h.coins[j]
	if a.Amount != b.Amount {
		return a.Amount > b.Amount
	}
	if a.TxID != b.TxID {
		return a.TxID < b.TxID
	}
	return a.Vout < b.Vout
}

// init orders idx as a heap, in linear time.
func (h *largestHeap) init() {
	for i := len(h.idx)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// pop removes and returns the index of the coin that comes out first.
func (h *largestHeap) pop() int32 {
	top := h.idx[0]
	last := len(h.idx) - 1
	h.idx[0] = h.idx[last]
	h.idx = h.idx[:last]
	h.down(0)
	return top
}

// down moves the entry at i down to its place.
func (h *largestHeap) down(i int) {
	n := len(h.idx)
	for {
		first := i
		if l := 2*i + 1; l < n && h.before(h.idx[l], h.idx[first]) {
			first = l
		}
		if r := 2*i + 2; r < n && h.before(h.idx[r], h.idx[first]) {
			first = r
		}
		if first == i {
			return
		}
		h.idx[i], h.idx[first] = h.idx[first], h.idx[i]
		i = first
	}
}

// finish settles the change of coins paying target: with a change output
// when it is worth keeping (the fee with change is feeWithChange), else
// everything above target goes to the fee.
func finish(coins []Coin, target, feeWithChange money.Sats) Selection {
	var sum money.Sats
	for _, c := range coins {
		sum += c.Amount
	}
	if change := sum - target - feeWithChange; change >= DustLimit {
		return Selection{Coins: coins, Fee: feeWithChange, Change: change}
	}
	return Selection{Coins: coins, Fee: sum - target}
}
