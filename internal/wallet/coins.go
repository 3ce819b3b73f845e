package wallet

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

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
// at feeRate are never used.
func Select(coins []Coin, target money.Sats, outputVBytes []int64, changeVBytes int64, feeRate money.Sats) (Selection, error) {
	if target <= 0 || feeRate <= 0 {
		return Selection{}, fmt.Errorf("select coins: target %d and fee rate %d must be positive", target, feeRate)
	}
	base := int64(txOverheadVBytes)
	for _, v := range outputVBytes {
		base += v
	}
	fee := func(inputs int64, change bool) money.Sats {
		v := base + inputs
		if change {
			v += changeVBytes
		}
		return money.Sats(v) * feeRate
	}
	useful := make([]Coin, 0, len(coins))
	for _, c := range coins {
		if c.Amount > money.Sats(InputVBytes(c.Script))*feeRate {
			useful = append(useful, c)
		}
	}
	// One coin, no change: the cheapest spend and the least mixing.
	costOfChange := money.Sats(changeVBytes)*feeRate + DustLimit
	best, bestWithChange := -1, -1
	for i, c := range useful {
		in := InputVBytes(c.Script)
		if need := target + fee(in, false); c.Amount >= need && c.Amount-need <= costOfChange {
			if best < 0 || c.Amount < useful[best].Amount {
				best = i
			}
		}
		if need := target + fee(in, true) + DustLimit; c.Amount >= need {
			if bestWithChange < 0 || c.Amount < useful[bestWithChange].Amount {
				bestWithChange = i
			}
		}
	}
	if best >= 0 {
		c := useful[best]
		return Selection{Coins: []Coin{c}, Fee: c.Amount - target}, nil
	}
	if bestWithChange >= 0 {
		return finish([]Coin{useful[bestWithChange]}, target, fee(InputVBytes(useful[bestWithChange].Script), true)), nil
	}
	// Largest first until covered.
	// The comparison is lazy: cmp.Or would compare every pair's txids
	// too, which was most of a build's time with 10,000 coins.
	slices.SortFunc(useful, func(a, b Coin) int {
		if a.Amount != b.Amount {
			return cmp.Compare(b.Amount, a.Amount)
		}
		return cmp.Or(cmp.Compare(a.TxID, b.TxID), cmp.Compare(a.Vout, b.Vout))
	})
	var (
		picked []Coin
		sum    money.Sats
		inVB   int64
	)
	for _, c := range useful {
		picked = append(picked, c)
		sum += c.Amount
		inVB += InputVBytes(c.Script)
		if sum >= target+fee(inVB, false) {
			return finish(picked, target, fee(inVB, true)), nil
		}
	}
	return Selection{}, fmt.Errorf("%w: %d sats in %d usable coins for %d and the fee", ErrInsufficientFunds, sum, len(useful), target)
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
