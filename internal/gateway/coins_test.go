//go:build node

package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// coin waits until the store's coin txid:vout satisfies ok and returns
// it.
func (h *harness) coin(txid string, vout uint32, what string, ok func(store.Coin) bool) store.Coin {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var coins []store.Coin
	var err error
	for time.Now().Before(deadline) {
		coins, err = h.db.Coins(context.Background(), h.storeID, store.CoinsAll)
		if i := slices.IndexFunc(coins, func(c store.Coin) bool { return c.TxID == txid && c.Vout == vout }); err == nil && i >= 0 && ok(coins[i]) {
			return coins[i]
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("coin %s:%d: want %s, have %+v (err %v)", txid, vout, what, coins, err)
	return store.Coin{}
}

// paidOutput returns the vout of tx paying script.
func paidOutput(t *testing.T, node *regtest.Node, txid string, script []byte) uint32 {
	t.Helper()
	h, err := chainHash(txid)
	if err != nil {
		t.Fatal(err)
	}
	tx := node.Wallet().Transaction(h)
	if tx == nil {
		t.Fatalf("the wallet does not know %s", txid)
	}
	for i, out := range tx.TxOut {
		if slices.Equal(out.PkScript, script) {
			return uint32(i)
		}
	}
	t.Fatalf("%s pays no output to %x", txid, script)
	return 0
}

// spendCoin signs, with the merchant's own key, a transaction spending c
// to the node's wallet (as the merchant's wallet would, without kassa),
// and sends it.
func spendCoin(t *testing.T, node *regtest.Node, c store.Coin) chainhash.Hash {
	t.Helper()
	prev, err := chainHash(c.TxID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	a, err := address.DecodeAddress(back, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	to, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev, Index: c.Vout}, Sequence: 0xfffffffd})
	tx.AddTxOut(&wire.TxOut{Value: int64(c.Amount) - 1_000, PkScript: to})
	fetcher := txscript.NewCannedPrevOutputFetcher(c.Script, int64(c.Amount))
	priv := kassatest.PrivKey(t, "gateway merchant", c.Branch, c.Index)
	witness, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, int64(c.Amount), c.Script,
		txscript.SigHashAll, priv, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].Witness = witness
	txid, err := node.SendTx(context.Background(), tx)
	if err != nil {
		t.Fatalf("send the spend of %s:%d: %v", c.TxID, c.Vout, err)
	}
	return txid
}

// TestCoins follows a store's coins on a real node: an invoice's payment
// is a coin with its key; a payment to the address of an invoice no longer
// watched is one too; a spend the merchant's wallet makes without kassa
// marks it spent, in the mempool then in its block; a reorg takes the
// spend's and a coin's confirmation back to the mempool.
func TestCoins(t *testing.T) {
	ctx := context.Background()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	h := newHarness(t, a, invoice.SpeedMedium)

	inv := h.create("10")
	m := inv.Method(invoice.MethodBTC)
	txid := h.pay(inv, inv.Due())
	vout := paidOutput(t, a, txid, m.Script)
	paid := h.coin(txid, vout, "in the mempool", func(c store.Coin) bool { return c.Height == 0 })
	if paid.InvoiceID != inv.ID || paid.Branch != 0 || paid.Index != m.KeyIndex || paid.Amount != inv.Due() ||
		!slices.Equal(paid.Script, m.Script) || paid.SpentBy != "" || paid.SeenAt.IsZero() {
		t.Fatalf("payment coin %+v, want invoice %s, index %d, %d sats", paid, inv.ID, m.KeyIndex, inv.Due())
	}
	h.mine(1)
	paid = h.coin(txid, vout, "confirmed", func(c store.Coin) bool { return c.Height > 0 })
	h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)

	// An invoice that expires unpaid is unwatched once its late window
	// ends; a payment to its address is still the store's coin, and not
	// the invoice's payment.
	closed := h.create("5")
	h.clock.Advance(16 * time.Minute)
	h.wait(closed.ID, invoice.StatusExpired, invoice.ExceptionNone)
	h.clock.Advance(gateway.DefaultLateWindow + time.Hour)
	time.Sleep(20 * h.poll) // sweeps that unwatch it
	lateTx := h.pay(closed, 7_000)
	lateVout := paidOutput(t, a, lateTx, closed.Method(invoice.MethodBTC).Script)
	late := h.coin(lateTx, lateVout, "the late payment's coin", func(c store.Coin) bool { return c.Height == 0 })
	if late.InvoiceID != closed.ID || late.Index != closed.Method(invoice.MethodBTC).KeyIndex || late.Amount != 7_000 {
		t.Fatalf("late coin %+v", late)
	}
	if got, _ := h.db.GetInvoice(ctx, closed.ID); len(got.Payments) != 0 || got.Status != invoice.StatusExpired {
		t.Fatalf("the unwatched invoice took the payment: %s %+v", got.Status, got.Payments)
	}

	// The merchant's wallet spends the payment's coin.
	spendID := spendCoin(t, a, paid)
	spent := h.coin(txid, vout, "spent in the mempool", func(c store.Coin) bool { return c.SpentBy == spendID.String() })
	if spent.SpentHeight != 0 {
		t.Fatalf("spent at %d, want 0 (mempool)", spent.SpentHeight)
	}
	if unspent, _ := h.db.Coins(ctx, h.storeID, store.CoinsUnspent); len(unspent) != 1 || unspent[0].TxID != lateTx {
		t.Fatalf("unspent coins = %+v, want the late payment only", unspent)
	}

	// a confirms the spend and the late payment alone, then b's longer
	// chain without them wins: both are back in the mempool.
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	hashes, err := a.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	height := int32(blockHeight(t, a, hashes[0]))
	h.coin(txid, vout, fmt.Sprintf("spent at %d", height), func(c store.Coin) bool { return c.SpentHeight == height })
	h.coin(lateTx, lateVout, fmt.Sprintf("confirmed at %d", height), func(c store.Coin) bool { return c.Height == height })
	byTx, err := h.db.CoinsSpentBy(ctx, spendID.String())
	if err != nil || len(byTx) != 1 || byTx[0].TxID != txid || byTx[0].SpentHeight != height {
		t.Fatalf("CoinsSpentBy = %+v, %v", byTx, err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	h.coin(txid, vout, "its spend back in the mempool", func(c store.Coin) bool {
		return c.SpentBy == spendID.String() && c.SpentHeight == 0
	})
	h.coin(lateTx, lateVout, "back in the mempool", func(c store.Coin) bool { return c.Height == 0 })
	if c := h.coin(txid, vout, "still confirmed", func(c store.Coin) bool { return c.Height > 0 }); c.Height != paid.Height {
		t.Fatalf("the payment's coin moved from %d to %d", paid.Height, c.Height)
	}

	// Mined again on the winning chain.
	h.mine(1)
	h.coin(txid, vout, "spent in a block", func(c store.Coin) bool { return c.SpentHeight > height })
	h.coin(lateTx, lateVout, "confirmed again", func(c store.Coin) bool { return c.Height > height })
}

// blockHeight returns the height of a block on the node's best chain.
func blockHeight(t *testing.T, node *regtest.Node, hash chainhash.Hash) int64 {
	t.Helper()
	c, err := node.Client()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.GetBlockVerbose(&hash)
	if err != nil {
		t.Fatal(err)
	}
	return v.Height
}
