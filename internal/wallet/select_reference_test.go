package wallet

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/kassa-pay/kassa/internal/money"
)

// selectReference is Select as it was first written: it copies the usable
// coins and sorts them all for the largest-first fallback. Select must
// choose exactly what it chooses (TestSelectMatchesReference).
func selectReference(coins []Coin, target money.Sats, outputVBytes []int64, changeVBytes int64, feeRate money.Sats) (Selection, error) {
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

// TestSelectMatchesReference: on random wallets Select picks the same
// coins in the same order, with the same fee and change, and refuses with
// the same error as selectReference, and leaves its argument alone.
func TestSelectMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for run := range 3000 {
		w := randomWallet(rng, run, true)
		before := slices.Clone(w.coins)
		want, wantErr := selectReference(w.coins, w.target, w.outputs, w.change, w.rate)
		got, err := Select(w.coins, w.target, w.outputs, w.change, w.rate)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("run %d: error %v, the reference %v", run, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d (%d coins, target %d at %d sat/vB): %d coins %v fee %d change %d; the reference %d coins %v fee %d change %d",
				run, len(w.coins), w.target, w.rate, len(got.Coins), outpoints(got.Coins), got.Fee, got.Change,
				len(want.Coins), outpoints(want.Coins), want.Fee, want.Change)
		}
		for i, c := range w.coins {
			if c.TxID != before[i].TxID || c.Vout != before[i].Vout || c.Amount != before[i].Amount ||
				!bytes.Equal(c.Script, before[i].Script) {
				t.Fatalf("run %d: Select changed its argument at %d", run, i)
			}
		}
	}
}

// randomSelection is a random selection problem: coins and Select's other
// arguments.
type randomSelection struct {
	coins        []Coin
	target, rate money.Sats
	outputs      []int64
	change       int64
}

// randomWallet makes run's random selection problem: 1 to 60 coins (every
// hundredth run 10,000) of P2WPKH or, when mixed, the four script types;
// in a third of the wallets few distinct amounts, so that ties are broken
// by txid and output index; several coins share a transaction; targets a
// coin pays, that need several coins, or more than there is.
func randomWallet(rng *rand.Rand, run int, mixed bool) randomSelection {
	scripts := [][]byte{
		p2wpkh,
		append(append([]byte{0xa9, 0x14}, make([]byte, 20)...), 0x87),
		append([]byte{0x51, 0x20}, make([]byte, 32)...),
		append(append([]byte{0x76, 0xa9, 0x14}, make([]byte, 20)...), 0x88, 0xac),
	}
	n := 1 + rng.IntN(60)
	if run%100 == 0 {
		n = 10_000
	}
	distinct := 1 + rng.Int64N(2_000_000)
	if rng.IntN(3) == 0 {
		distinct = 1 + rng.Int64N(5)
	}
	w := randomSelection{coins: make([]Coin, n), rate: money.Sats(1 + rng.IntN(60))}
	for i := range w.coins {
		amount := money.Sats(1 + rng.Int64N(distinct))
		if distinct <= 5 {
			amount = money.Sats(distinct)*10_000 + amount*1_000
		}
		script := scripts[0]
		if mixed {
			script = scripts[rng.IntN(len(scripts))]
		}
		w.coins[i] = Coin{TxID: fmt.Sprintf("%064x", rng.IntN(n)), Vout: uint32(i), Amount: amount, Script: script, Index: uint32(i)}
	}
	switch rng.IntN(3) {
	case 0:
		w.target = money.Sats(1 + rng.Int64N(100_000))
	case 1:
		w.target = money.Sats(1 + rng.Int64N(10_000_000))
	default:
		w.target = money.Sats(1 + rng.Int64N(int64(n)*1_000_000))
	}
	w.outputs = []int64{OutputVBytes(p2wpkh)}
	if rng.IntN(2) == 0 {
		w.outputs = append(w.outputs, OutputVBytes(scripts[2]), OutputVBytes(scripts[3]))
	}
	w.change = OutputVBytes(scripts[rng.IntN(len(scripts))])
	return w
}

func outpoints(cs []Coin) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s…:%d=%d", c.TxID[56:], c.Vout, c.Amount)
	}
	return out
}
