package wallet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kassa-pay/kassa/internal/money"
)

var p2wpkh = append([]byte{0x00, 0x14}, make([]byte, 20)...)

func coinsOf(amounts ...money.Sats) []Coin {
	cs := make([]Coin, len(amounts))
	for i, a := range amounts {
		cs[i] = Coin{TxID: fmt.Sprintf("%064x", i), Vout: uint32(i), Amount: a, Script: p2wpkh, Index: uint32(i)}
	}
	return cs
}

func amounts(cs []Coin) []money.Sats {
	out := make([]money.Sats, len(cs))
	for i, c := range cs {
		out[i] = c.Amount
	}
	return out
}

// TestSelect is the selection rule on worked examples at 1 sat/vB, one
// P2WPKH destination (31 vB) and P2WPKH change (31 vB): fees are 110 vB
// for one input and no change, +68 per input, +31 with change.
func TestSelect(t *testing.T) {
	out := []int64{OutputVBytes(p2wpkh)}
	for _, c := range []struct {
		name   string
		coins  []Coin
		target money.Sats
		rate   money.Sats
		want   []money.Sats
		fee    money.Sats
		change money.Sats
		err    error
	}{
		{"one coin pays it without change", coinsOf(100_000, 50_500, 30_000), 50_000, 1, []money.Sats{50_500}, 500, 0, nil},
		{"the smallest coin that pays it with change", coinsOf(100_000, 50_500, 30_000), 20_000, 1, []money.Sats{30_000}, 141, 9_859, nil},
		{"largest first when no coin does", coinsOf(30_000, 100_000, 50_500), 160_000, 1, []money.Sats{100_000, 50_500, 30_000}, 277, 20_223, nil},
		{"change below dust goes to the fee", coinsOf(60_000, 60_000), 119_500, 1, []money.Sats{60_000, 60_000}, 500, 0, nil},
		{"a higher fee rate", coinsOf(100_000), 50_000, 10, []money.Sats{100_000}, 1_410, 48_590, nil},
		{"not enough", coinsOf(30_000, 20_000), 50_000, 1, nil, 0, 0, ErrInsufficientFunds},
		{"exactly enough but for the fee", coinsOf(50_000), 50_000, 1, nil, 0, 0, ErrInsufficientFunds},
		{"dust that costs more than it holds is never spent", coinsOf(60, 60, 60, 60, 60, 60, 60, 60, 60, 60), 100, 1, nil, 0, 0, ErrInsufficientFunds},
	} {
		s, err := Select(c.coins, c.target, out, OutputVBytes(p2wpkh), c.rate)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if fmt.Sprint(amounts(s.Coins)) != fmt.Sprint(c.want) || s.Fee != c.fee || s.Change != c.change {
			t.Errorf("%s: coins %v fee %d change %d; want %v fee %d change %d", c.name, amounts(s.Coins), s.Fee, s.Change,
				c.want, c.fee, c.change)
		}
	}
	if _, err := Select(coinsOf(1_000), 0, out, 31, 1); err == nil {
		t.Error("a zero target was selected for")
	}
}

// TestSelectInvariants: over random wallets and amounts, a selection
// spends exactly target + fee + change, pays at least the fee rate on its
// size, keeps no change under the dust limit and spends no coin twice; a
// refusal means the usable coins truly fall short.
func TestSelectInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := []int64{OutputVBytes(p2wpkh), OutputVBytes(append([]byte{0x51, 0x20}, make([]byte, 32)...))}
	for run := range 2000 {
		n := 1 + rng.IntN(40)
		amts := make([]money.Sats, n)
		for i := range amts {
			amts[i] = money.Sats(1 + rng.Int64N(2_000_000))
		}
		coins := coinsOf(amts...)
		target := money.Sats(1 + rng.Int64N(10_000_000))
		rate := money.Sats(1 + rng.IntN(50))
		s, err := Select(coins, target, out, OutputVBytes(p2wpkh), rate)
		var usable money.Sats
		for _, c := range coins {
			if c.Amount > money.Sats(inputP2WPKH)*rate {
				usable += c.Amount
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInsufficientFunds) || usable >= target+money.Sats(txOverheadVBytes+out[0]+out[1]+inputP2WPKH*int64(n))*rate {
				t.Fatalf("run %d: refused %d of %d usable at %d sat/vB: %v", run, target, usable, rate, err)
			}
			continue
		}
		var sum money.Sats
		seen := map[string]bool{}
		vsize := int64(txOverheadVBytes) + out[0] + out[1]
		for _, c := range s.Coins {
			key := fmt.Sprint(c.TxID, c.Vout)
			if seen[key] {
				t.Fatalf("run %d: coin %s spent twice", run, key)
			}
			seen[key] = true
			sum += c.Amount
			vsize += inputP2WPKH
		}
		if s.Change > 0 {
			vsize += OutputVBytes(p2wpkh)
		}
		switch {
		case sum != target+s.Fee+s.Change:
			t.Fatalf("run %d: %d in, %d + fee %d + change %d out", run, sum, target, s.Fee, s.Change)
		case s.Fee < money.Sats(vsize)*rate:
			t.Fatalf("run %d: fee %d below %d vB at %d sat/vB", run, s.Fee, vsize, rate)
		case s.Change != 0 && s.Change < DustLimit:
			t.Fatalf("run %d: dust change %d", run, s.Change)
		}
	}
}

// BenchmarkSelect is coin selection for one refund in a store with 10,000
// coins, the spend engine's part of a PSBT build.
//
//	go test -run '^$' -bench Select ./internal/wallet
func BenchmarkSelect(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	amts := make([]money.Sats, 10_000)
	for i := range amts {
		amts[i] = money.Sats(1_000 + rng.Int64N(200_000))
	}
	coins := coinsOf(amts...)
	out := []int64{OutputVBytes(p2wpkh)}
	for _, target := range []money.Sats{50_000, 5_000_000} {
		b.Run(fmt.Sprintf("target=%d", target), func(b *testing.B) {
			for b.Loop() {
				if _, err := Select(coins, target, out, OutputVBytes(p2wpkh), 5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
