package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// TestCoins follows coins through what the chain watcher reports: seen in
// the mempool, confirmed, spent in the mempool then in a block, a reorg
// taking both back to the mempool, a double spend, removal; every batch
// applied twice to show the second changes nothing.
func TestCoins(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, inv := dbWithInvoice(t, b)
		other := newStore(t, db, 20)
		seen := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		coin := func(txid string, vout uint32, storeID, invoiceID string, branch, index uint32, height int32) Coin {
			return Coin{Coin: wallet.Coin{TxID: txid, Vout: vout, Amount: 10_000 + money.Sats(vout), Script: []byte{0x00, 0x14, byte(vout)},
				Branch: branch, Index: index, Height: height}, StoreID: storeID, InvoiceID: invoiceID, SeenAt: seen}
		}
		apply := func(c CoinChanges) {
			t.Helper()
			for range 2 { // a batch applied twice changes nothing
				if err := db.Commit(ctx, nil, &ChainUpdate{Rewind: NoRewind, Coins: c}); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := func(filter CoinFilter, coins ...Coin) {
			t.Helper()
			got, err := db.Coins(ctx, s.ID, filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(coins) == 0 {
				return
			}
			if !reflect.DeepEqual(got, coins) {
				t.Fatalf("Coins(%d) =\n%+v\nwant\n%+v", filter, got, coins)
			}
		}

		pay := coin("aa", 0, s.ID, inv.ID, 0, chain(inv).KeyIndex, 0)
		change := coin("aa", 1, s.ID, "", 1, 3, 0)
		elsewhere := coin("bb", 0, other.ID, "", 0, 0, 0)
		apply(CoinChanges{Seen: []Coin{pay, change, elsewhere}})
		want(CoinsUnspent, pay, change)

		// Confirmed at 101; seen again later, the first sighting and the
		// invoice stay.
		pay.Height, change.Height = 101, 101
		later := pay
		later.SeenAt, later.InvoiceID = seen.Add(time.Hour), ""
		laterChange := change
		laterChange.SeenAt = seen.Add(time.Hour)
		apply(CoinChanges{Seen: []Coin{later, laterChange}})
		want(CoinsUnspent, pay, change)

		// cc spends the payment in the mempool, then at 102.
		apply(CoinChanges{Spends: []CoinSpend{{TxID: "aa", Vout: 0, SpentBy: "cc", Height: 0}}})
		want(CoinsUnspent, change)
		pay.SpentBy = "cc"
		want(CoinsAll, pay, change)
		apply(CoinChanges{Spends: []CoinSpend{{TxID: "aa", Vout: 0, SpentBy: "cc", Height: 102}}})
		pay.SpentHeight = 102
		want(CoinsAll, pay, change)
		spent, err := db.CoinsSpentBy(ctx, "cc")
		if err != nil || !reflect.DeepEqual(spent, []Coin{pay}) {
			t.Fatalf("CoinsSpentBy(cc) = %+v, %v", spent, err)
		}

		// A reorg above 100 takes the coins and the spend back to the
		// mempool; the watcher follows what is still unspent or could be
		// unspent again.
		pay.Height, change.Height, pay.SpentHeight = 0, 0, 0
		apply(CoinChanges{Seen: []Coin{pay, change}, Spends: []CoinSpend{{TxID: "aa", Vout: 0, SpentBy: "cc", Height: 0}}})
		want(CoinsAll, pay, change)
		watch, err := db.CoinsToWatch(ctx, 50)
		if err != nil || len(watch) != 3 {
			t.Fatalf("CoinsToWatch = %d coins, %v; want 3", len(watch), err)
		}

		// dd double-spends it in a block: cc spends nothing.
		apply(CoinChanges{Spends: []CoinSpend{{TxID: "aa", Vout: 0, SpentBy: "dd", Height: 103}}})
		if spent, _ := db.CoinsSpentBy(ctx, "cc"); len(spent) != 0 {
			t.Errorf("CoinsSpentBy(cc) after the double spend = %+v", spent)
		}
		if spent, _ := db.CoinsSpentBy(ctx, "dd"); len(spent) != 1 || spent[0].SpentHeight != 103 {
			t.Errorf("CoinsSpentBy(dd) = %+v", spent)
		}
		// Buried below the watcher's horizon, the spent coin is not
		// followed any more.
		if watch, _ := db.CoinsToWatch(ctx, 103); len(watch) != 2 {
			t.Errorf("CoinsToWatch above 103 = %+v, want the two unspent coins", watch)
		}

		// The change's transaction leaves the mempool and the chain.
		apply(CoinChanges{Removed: []Outpoint{{TxID: "aa", Vout: 1}}})
		want(CoinsUnspent)
		all, _ := db.Coins(ctx, s.ID, CoinsAll)
		if len(all) != 1 || all[0].Vout != 0 || all[0].SpentBy != "dd" {
			t.Errorf("coins after the removal = %+v", all)
		}
		// Unspent again: its spender left the chain and the mempool.
		apply(CoinChanges{Spends: []CoinSpend{{TxID: "aa", Vout: 0}}})
		if got, _ := db.Coins(ctx, s.ID, CoinsUnspent); len(got) != 1 || got[0].SpentBy != "" || got[0].SpentHeight != 0 {
			t.Errorf("unspent coins = %+v", got)
		}
		if got, _ := db.Coins(ctx, other.ID, CoinsAll); len(got) != 1 || got[0].TxID != "bb" {
			t.Errorf("the other store's coins = %+v", got)
		}
	})
}

// TestCoinsCommitWithBlocks shows coins roll back with the rest of a
// failing batch.
func TestCoinsCommitWithBlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, inv := dbWithInvoice(t, b)
		stale := *inv
		mustCommit(t, db, Change{Invoice: inv})
		c := Coin{Coin: wallet.Coin{TxID: "ee", Amount: 5000, Script: chain(inv).Script, Height: 7}, StoreID: s.ID, InvoiceID: inv.ID}
		err := db.Commit(ctx, []Change{{Invoice: &stale}}, &ChainUpdate{Rewind: NoRewind,
			Blocks: []ChainBlock{{7, "h7"}}, Coins: CoinChanges{Seen: []Coin{c}}})
		if err == nil {
			t.Fatal("commit of a stale invoice succeeded")
		}
		if got, _ := db.Coins(ctx, s.ID, CoinsAll); len(got) != 0 {
			t.Errorf("coins after a failed commit = %+v", got)
		}
	})
}

// TestSpendableCoins: the spend engine's three views of a store's
// confirmed unspent coins by amount (bounds inclusive, ties oldest seen
// first, the n-th largest), without unconfirmed, spent or other stores'
// coins.
func TestSpendableCoins(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, s, _ := dbWithInvoice(t, b)
		other := newStore(t, db, 20)
		seen := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		n := 0
		coin := func(storeID string, amount money.Sats, height int32) Coin {
			n++
			return Coin{Coin: wallet.Coin{TxID: fmt.Sprintf("%064x", 100-n), Vout: uint32(n), Amount: amount,
				Script: []byte{0x00, 0x14, byte(n)}, Index: uint32(n), Height: height}, StoreID: storeID,
				SeenAt: seen.Add(time.Duration(n) * time.Minute)}
		}
		a, b1, b2, c, d := coin(s.ID, 1_000, 101), coin(s.ID, 2_000, 101), coin(s.ID, 2_000, 102), coin(s.ID, 3_000, 101), coin(s.ID, 5_000, 101)
		unconfirmed, spent, elsewhere := coin(s.ID, 2_500, 0), coin(s.ID, 2_600, 101), coin(other.ID, 2_000, 101)
		err := db.Commit(ctx, nil, &ChainUpdate{Rewind: NoRewind, Coins: CoinChanges{
			Seen:   []Coin{d, c, b2, b1, a, unconfirmed, spent, elsewhere},
			Spends: []CoinSpend{{TxID: spent.TxID, Vout: spent.Vout, SpentBy: "ff"}}}})
		if err != nil {
			t.Fatal(err)
		}
		amounts := func(cs []Coin) []string {
			var out []string
			for _, c := range cs {
				out = append(out, fmt.Sprintf("%d@%d", c.Amount, c.Vout))
			}
			return out
		}
		between, err := db.SpendableBetween(ctx, s.ID, 2_000, 3_000)
		if err != nil || !reflect.DeepEqual(between, []Coin{b1, b2, c}) {
			t.Fatalf("between 2000 and 3000: %v, %v", amounts(between), err)
		}
		above, err := db.SpendableAbove(ctx, s.ID, 1_000, 2)
		if err != nil || !reflect.DeepEqual(above, []Coin{b1, b2}) {
			t.Fatalf("two above 1000: %v, %v", amounts(above), err)
		}
		if above, err := db.SpendableAbove(ctx, s.ID, 5_000, 1); err != nil || len(above) != 0 {
			t.Fatalf("above the largest: %v, %v", amounts(above), err)
		}
		for n, want := range map[int]money.Sats{1: 5_000, 2: 3_000, 3: 2_000, 4: 2_000, 5: 1_000, 6: 0} {
			got, ok, err := db.NthLargestSpendable(ctx, s.ID, n)
			if err != nil || got != want || ok != (want > 0) {
				t.Errorf("the %d-th largest: %d %v %v, want %d", n, got, ok, err, want)
			}
		}
	})
}
