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

// TestSelectMatchesReference: on random wallets (P2WPKH, P2SH-P2WPKH,
// P2TR and P2PKH coins, amounts that repeat, several outputs of one
// transaction, dust) Select picks the same coins in the same order, with
// the same fee and change, and refuses with the same error as
// selectReference.
func TestSelectMatchesReference(t *testing.T) {
	scripts := [][]byte{
		p2wpkh,
		append(append([]byte{0xa9, 0x14}, make([]byte, 20)...), 0x87),
		append([]byte{0x51, 0x20}, make([]byte, 32)...),
		append(append([]byte{0x76, 0xa9, 0x14}, make([]byte, 20)...), 0x88, 0xac),
	}
	rng := rand.New(rand.NewPCG(5, 6))
	outs := [][]int64{{OutputVBytes(p2wpkh)}, {OutputVBytes(p2wpkh), OutputVBytes(scripts[2]), OutputVBytes(scripts[3])}}
	for run := range 3000 {
		n := 1 + rng.IntN(60)
		if run%100 == 0 {
			n = 10_000
		}
		// Few distinct amounts in some wallets, so that ties are broken by
		// txid and output index; several coins share a transaction.
		distinct := 1 + rng.Int64N(2_000_000)
		if rng.IntN(3) == 0 {
			distinct = 1 + rng.Int64N(5)
		}
		coins := make([]Coin, n)
		for i := range coins {
			amount := money.Sats(1 + rng.Int64N(distinct))
			if distinct <= 5 {
				amount = money.Sats(distinct)*10_000 + amount*1_000
			}
			tx := rng.IntN(n)
			coins[i] = Coin{TxID: fmt.Sprintf("%064x", tx), Vout: uint32(i), Amount: amount,
				Script: scripts[rng.IntN(len(scripts))], Index: uint32(i)}
		}
		var target money.Sats
		switch rng.IntN(3) {
		case 0:
			target = money.Sats(1 + rng.Int64N(100_000))
		case 1:
			target = money.Sats(1 + rng.Int64N(10_000_000))
		default:
			target = money.Sats(1 + rng.Int64N(int64(n)*1_000_000))
		}
		rate := money.Sats(1 + rng.IntN(60))
		out := outs[rng.IntN(len(outs))]
		change := OutputVBytes(scripts[rng.IntN(len(scripts))])
		before := slices.Clone(coins)

		want, wantErr := selectReference(coins, target, out, change, rate)
		got, err := Select(coins, target, out, change, rate)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("run %d: error %v, the reference %v", run, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d (%d coins, target %d at %d sat/vB): %d coins %v fee %d change %d; the reference %d coins %v fee %d change %d",
				run, n, target, rate, len(got.Coins), outpoints(got.Coins), got.Fee, got.Change,
				len(want.Coins), outpoints(want.Coins), want.Fee, want.Change)
		}
		for i := range coins {
			if coins[i].TxID != before[i].TxID || coins[i].Vout != before[i].Vout || coins[i].Amount != before[i].Amount ||
				!bytes.Equal(coins[i].Script, before[i].Script) {
				t.Fatalf("run %d: Select changed its argument at %d", run, i)
			}
		}
	}
}

func outpoints(cs []Coin) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s…:%d=%d", c.TxID[56:], c.Vout, c.Amount)
	}
	return out
}
