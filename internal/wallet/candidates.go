package wallet

import (
	"context"
	"errors"

	"github.com/kassa-pay/kassa/internal/money"
)

// CoinSource is a large set of coins, such as a store's spendable coins
// in its database, seen through the three narrow views Candidates needs,
// so that a spend does not load every coin. The set has an order: the
// order the coins would be given to Select in.
type CoinSource interface {
	// Between returns every coin with lo <= amount <= hi, in the set's
	// order.
	Between(ctx context.Context, lo, hi money.Sats) ([]Coin, error)
	// FirstAbove returns the smallest coin with amount > min, the first in
	// the set's order among those of its amount; false when there is none.
	FirstAbove(ctx context.Context, min money.Sats) (Coin, bool, error)
	// Largest returns every coin whose amount is at least some amount, in
	// any order, at least n of them unless there are fewer (all then
	// reports that they are every coin).
	Largest(ctx context.Context, n int) (coins []Coin, all bool, err error)
}

// Candidates returns the coins of src that BuildSpend needs for req:
// given them instead of all of src's coins (in src's order), it chooses
// exactly the same coins, fee and change, or fails the same way. Coins
// that could pay req alone lie between two amounts Select's fee rule
// sets, or are the first above them; only when none can does Select take
// the largest coins, and then only as many as cover the amount. A store
// with 10,000 coins reads a handful.
func (k *Key) Candidates(ctx context.Context, src CoinSource, req SpendRequest) ([]Coin, error) {
	var target money.Sats
	outVB := make([]int64, len(req.Payees))
	for i, p := range req.Payees {
		target += p.Amount
		outVB[i] = OutputVBytes(p.Script)
	}
	return candidates(ctx, src, target, outVB, OutputVBytes(make([]byte, scriptLen(k.script))), req.FeeRate)
}

// largestBatch is how many of the largest coins candidates reads first,
// growing fourfold while they fall short.
const largestBatch = 32

// candidates is Candidates for Select's arguments.
func candidates(ctx context.Context, src CoinSource, target money.Sats, outputVBytes []int64, changeVBytes int64, feeRate money.Sats) ([]Coin, error) {
	s, err := newSelector(target, outputVBytes, changeVBytes, feeRate)
	if err != nil {
		return nil, nil // Select refuses these arguments whatever the coins
	}
	// A coin pays alone only if it holds target and the fee with the
	// smallest input (lo), and any coin holding target, the fee with the
	// largest input, change and the dust limit (hi) pays alone with
	// change; the single coin Select picks is the smallest that does, so
	// it lies in [lo, hi] or is the first above hi.
	lo := target + s.fee(inputP2TR, false)
	hi := target + s.fee(inputP2PKH, true) + DustLimit
	coins, err := src.Between(ctx, lo, hi)
	if err != nil {
		return nil, err
	}
	if above, ok, err := src.FirstAbove(ctx, hi); err != nil {
		return nil, err
	} else if ok {
		return append(coins, above), nil
	}
	if _, ok := s.single(coins); ok {
		return coins, nil
	}
	// No coin pays alone: the largest first, a prefix of all coins in
	// largest-first order as long as every coin of the smallest amount
	// read is read too.
	for n := largestBatch; ; n *= 4 {
		largest, all, err := src.Largest(ctx, n)
		if err != nil {
			return nil, err
		}
		if _, err := s.largestFirst(largest); all || !errors.Is(err, ErrInsufficientFunds) {
			return largest, nil
		}
	}
}

// scriptLen is the length of the output scripts of a script type.
func scriptLen(t ScriptType) int {
	switch t {
	case P2PKH:
		return 25
	case P2SHP2WPKH:
		return 23
	case P2TR:
		return 34
	}
	return 22 // P2WPKH
}
