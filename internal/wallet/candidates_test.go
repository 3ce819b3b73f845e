package wallet

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/kassa-pay/kassa/internal/money"
)

// memSource is a CoinSource over coins in memory, in their order. Largest
// returns more than it is asked for when rng says so, and its coins in a
// random order, as the contract allows.
type memSource struct {
	coins []Coin
	rng   *rand.Rand
	reads int // coins handed out
}

func (m *memSource) Between(_ context.Context, lo, hi money.Sats) ([]Coin, error) {
	var out []Coin
	for _, c := range m.coins {
		if c.Amount >= lo && c.Amount <= hi {
			out = append(out, c)
		}
	}
	m.reads += len(out)
	return out, nil
}

func (m *memSource) FirstAbove(_ context.Context, min money.Sats) (Coin, bool, error) {
	best := -1
	for i, c := range m.coins {
		if c.Amount > min && (best < 0 || c.Amount < m.coins[best].Amount) {
			best = i
		}
	}
	if best < 0 {
		return Coin{}, false, nil
	}
	m.reads++
	return m.coins[best], true, nil
}

func (m *memSource) Largest(_ context.Context, n int) ([]Coin, bool, error) {
	n += m.rng.IntN(3)
	if n >= len(m.coins) {
		m.reads += len(m.coins)
		return slices.Clone(m.coins), true, nil
	}
	amounts := make([]money.Sats, len(m.coins))
	for i, c := range m.coins {
		amounts[i] = c.Amount
	}
	slices.SortFunc(amounts, func(a, b money.Sats) int { return cmp.Compare(b, a) })
	var out []Coin
	for _, c := range m.coins {
		if c.Amount >= amounts[n-1] {
			out = append(out, c)
		}
	}
	m.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	m.reads += len(out)
	return out, len(out) == len(m.coins), nil
}

// TestCandidates: on random wallets (randomWallet, mixed script types or
// not) Select given candidates' coins chooses exactly what it chooses
// given all of them, and reads few coins of a store's wallet.
func TestCandidates(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	for run := range 4000 {
		w := randomWallet(rng, run, run%2 == 0)
		want, wantErr := Select(w.coins, w.target, w.outputs, w.change, w.rate)
		src := &memSource{coins: w.coins, rng: rng}
		some, err := candidates(ctx, src, w.target, w.outputs, w.change, w.rate)
		if err != nil {
			t.Fatal(err)
		}
		got, gotErr := Select(some, w.target, w.outputs, w.change, w.rate)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d (%d coins, target %d at %d sat/vB): from %d candidates %v %v, %v; from all %v %v, %v",
				run, len(w.coins), w.target, w.rate, len(some), outpoints(got.Coins), got.Fee, gotErr,
				outpoints(want.Coins), want.Fee, wantErr)
		}
	}

	// A store's 10,000 P2WPKH coins of 10,000 to 1,000,000 sats: a refund
	// one coin pays reads a few, one that needs the largest a few dozen.
	amts := make([]money.Sats, 10_000)
	for i := range amts {
		amts[i] = 10_000 + money.Sats(rng.Int64N(990_000))
	}
	coins := coinsOf(amts...)
	for _, c := range []struct {
		target money.Sats
		most   int
	}{{250_000, 50}, {5_000_000, 50}} {
		src := &memSource{coins: coins, rng: rng}
		if _, err := candidates(ctx, src, c.target, []int64{OutputVBytes(p2wpkh)}, OutputVBytes(p2wpkh), 5); err != nil {
			t.Fatal(err)
		}
		if src.reads > c.most {
			t.Errorf("target %d: %d of 10,000 coins read, want at most %d", c.target, src.reads, c.most)
		}
	}
}

// TestCandidatesChangeSize: Candidates sizes the change output as the
// key's change addresses are.
func TestCandidatesChangeSize(t *testing.T) {
	for name, k := range spendKeys(t) {
		a, err := k.DeriveChange(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := scriptLen(k.script); got != len(a.Script) {
			t.Errorf("%s: change script of %d bytes, candidates sizes %d", name, len(a.Script), got)
		}
	}
}
