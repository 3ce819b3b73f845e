//go:build node

package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// signPSBT signs a PSBT with the test wallet holding the merchant's
// account key.
func signPSBT(t *testing.T, psbt []byte, args ...string) []byte {
	t.Helper()
	return kassatest.SignPSBT(t, "gateway merchant", psbt, args...)
}

// engine returns a spend engine on the harness's store and node, its
// change addresses registered with the harness's watcher.
func (h *harness) engine() *spender.Engine { return h.engineWith(nil, h.log) }

// engineWith is engine with a hot signer and a logger of the test's.
func (h *harness) engineWith(hot spender.HotSigner, log *slog.Logger) *spender.Engine {
	h.t.Helper()
	var client spender.Chain
	rejected := rpc.ErrTxRejected
	var err error
	if h.esplora != "" {
		client, err = esplora.New(h.esplora)
		rejected = esplora.ErrTxRejected
	} else {
		client, err = rpc.New(h.node.RPCURL())
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return spender.New(spender.Config{Store: h.db, Chain: client, Rejected: rejected, Clock: h.clock.Now,
		Hot: hot, Logger: log, WatchChange: func(storeID string, script []byte, index uint32) {
			h.backend.WatchScript(chain.StoreScript{StoreID: storeID, Script: script, Branch: 1, Index: index})
		}})
}

// refundTo stores a refund of an invoice in status created, paying sats
// to address, changed by opts.
func (h *harness) refundTo(inv *invoice.Invoice, address string, sats money.Sats, buyerPaysFee bool, opts ...func(*refund.Refund)) refund.Refund {
	h.t.Helper()
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	r := refund.Refund{ID: auth.NewID(), StoreID: h.storeID, InvoiceID: inv.ID, Token: auth.NewResourceToken(),
		Status: refund.StatusCreated, Amount: sats.Decimal(), Currency: "BTC", Rate: decimal.NewFromInt(1), Sats: sats,
		BuyerPaysFee: buyerPaysFee, Cancellable: true, Address: address, RequestedAt: now, UpdatedAt: now}
	for _, o := range opts {
		o(&r)
	}
	notes := []refund.Notification{{Code: refund.CodeCreated, Status: refund.StatusCreated, At: now}}
	if err := h.db.Unit(context.Background(), func(u *store.Unit) error { return u.Refund(&r, notes) }); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// confirmRefund follows a refund's sent spend into a block: its coin
// spent in the mempool, then in a block; the engine's next round makes
// the spend confirmed and the refund success.
func (h *harness) confirmRefund(eng *spender.Engine, s spend.Spend, refundID string) {
	h.t.Helper()
	ctx := context.Background()
	in := s.Inputs[0]
	h.coin(in.TxID, in.Vout, "spent by the refund", func(c store.Coin) bool { return c.SpentBy == s.TxID })
	h.mine(1)
	h.coin(in.TxID, in.Vout, "spent in a block", func(c store.Coin) bool { return c.SpentHeight > 0 })
	if err := eng.Track(ctx); err != nil {
		h.t.Fatal(err)
	}
	if got, _ := h.db.GetSpend(ctx, s.ID); got.Status != spend.StatusConfirmed || got.Height == 0 {
		h.t.Fatalf("after a block: %+v", got)
	}
	h.refundNow(refundID, "success", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess })
}

// paidInvoices makes n invoices of 20 USD, pays them and waits until a
// block confirms them: the store's coins; and a buyer's address.
func (h *harness) paidInvoices(n int) ([]*invoice.Invoice, string) {
	h.t.Helper()
	var invs []*invoice.Invoice
	for range n {
		inv := h.create("20")
		h.pay(inv, inv.Due())
		invs = append(invs, inv)
	}
	h.mine(1)
	for _, inv := range invs {
		h.wait(inv.ID, invoice.StatusConfirmed, invoice.ExceptionNone)
	}
	buyer, err := h.node.Wallet().NewAddress()
	if err != nil {
		h.t.Fatal(err)
	}
	return invs, buyer
}

// refundNow polls the store until the refund satisfies ok.
func (h *harness) refundNow(id, what string, ok func(refund.Refund) bool) refund.Refund {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var r refund.Refund
	var err error
	for time.Now().Before(deadline) {
		if r, err = h.db.GetRefund(context.Background(), id); err == nil && ok(r) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("refund %s: want %s, have %+v (err %v)", id, what, r, err)
	return r
}

// TestRefundSpend pays a refund from the store's coins on a real node: the
// engine builds a PSBT, the test wallet signs it, kassa checks, records and
// sends it; the watcher sees it spend the coin and confirm; the refund
// goes pending then success and the invoice announces 1016. Bad uploads
// change nothing; a coin the merchant spends elsewhere makes the PSBT
// stale, and it is rebuilt.
func TestRefundSpend(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	h := newHarness(t, node, invoice.SpeedMedium)
	eng := h.engine()

	// Two paid, confirmed invoices: the store's coins.
	invs, buyer := h.paidInvoices(2)
	r := h.refundTo(invs[0], buyer, 15_000, false)

	s, err := eng.PrepareRefund(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != spend.StatusUnsigned || len(s.Outputs) != 1 || s.Outputs[0].Address != buyer ||
		s.Outputs[0].Amount != 15_000 || s.Change <= 0 || s.Fee <= 0 || len(s.Inputs) != 1 {
		t.Fatalf("spend %+v", s)
	}
	if again, err := eng.PrepareRefund(ctx, r.ID); err != nil || again.ID != s.ID {
		t.Fatalf("a second prepare made another spend: %+v, %v", again, err)
	}

	// Bad uploads: refused, nothing recorded, nothing sent.
	for name, upload := range map[string][]byte{
		"garbage":       []byte("not a psbt"),
		"unsigned PSBT": []byte(base64.StdEncoding.EncodeToString(s.PSBT)),
	} {
		if _, err := eng.Submit(ctx, s.ID, upload); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
	if got, _ := h.db.GetSpend(ctx, s.ID); got.Status != spend.StatusUnsigned || got.Version != s.Version {
		t.Fatalf("a refused upload changed the spend: %+v", got)
	}
	if got, _ := h.db.GetRefund(ctx, r.ID); got.Status != refund.StatusCreated {
		t.Fatalf("a refused upload changed the refund: %s", got.Status)
	}

	signed := signPSBT(t, s.PSBT)
	out, err := eng.Submit(ctx, s.ID, signed)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != spend.StatusBroadcast || out.TxID == "" {
		t.Fatalf("submitted: %+v", out)
	}
	r1 := h.refundNow(r.ID, "pending", func(r refund.Refund) bool { return r.Status == refund.StatusPending })
	if r1.TxID != out.TxID || r1.Fee != s.Fee {
		t.Fatalf("pending refund %+v, want txid %s fee %d", r1, out.TxID, s.Fee)
	}
	// The same upload again (a retry): the same transaction, no error.
	if again, err := eng.Submit(ctx, s.ID, signed); err != nil || again.TxID != out.TxID {
		t.Fatalf("the same upload again: %+v, %v", again, err)
	}
	h.confirmRefund(eng, out, r.ID)
	if codes := h.codes(invs[0].ID); !slices.Contains(codes, invoice.CodeRefundComplete) {
		t.Fatalf("invoice events %v: no 1016", codes)
	}
	// The change came back as a coin on the change branch.
	change := h.coinWhere("the change", func(c store.Coin) bool { return c.TxID == out.TxID && c.Branch == 1 })
	if change.Amount != s.Change || change.Index != s.ChangeIndex {
		t.Fatalf("change coin %+v, want %d sats at index %d", change, s.Change, s.ChangeIndex)
	}

	// A second refund; the merchant's wallet spends its coin before the
	// signed PSBT comes back: the upload is stale, the spend rebuilt.
	r2 := h.refundTo(invs[1], buyer, 9_000, true)
	s2, err := eng.PrepareRefund(ctx, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Outputs[0].Amount != 9_000-s2.Fee {
		t.Fatalf("the buyer pays the fee: output %d, fee %d", s2.Outputs[0].Amount, s2.Fee)
	}
	stale := signPSBT(t, s2.PSBT, "-finalize")
	coins, _ := h.db.CoinsAt(ctx, []store.Outpoint{{TxID: s2.Inputs[0].TxID, Vout: s2.Inputs[0].Vout}})
	taken := spendCoin(t, node, coins[store.Outpoint{TxID: s2.Inputs[0].TxID, Vout: s2.Inputs[0].Vout}])
	h.coin(s2.Inputs[0].TxID, s2.Inputs[0].Vout, "taken by the merchant", func(c store.Coin) bool { return c.SpentBy == taken.String() })
	h.mine(1)
	h.coinWhere("the change confirmed", func(c store.Coin) bool { return c.TxID == out.TxID && c.Branch == 1 && c.Height > 0 })
	rebuilt, err := eng.Submit(ctx, s2.ID, stale)
	if !errors.Is(err, spender.ErrStale) {
		t.Fatalf("a stale upload: %v", err)
	}
	if rebuilt.Status != spend.StatusUnsigned || slices.Equal(rebuilt.PSBT, s2.PSBT) || rebuilt.Inputs[0].TxID == s2.Inputs[0].TxID {
		t.Fatalf("rebuilt spend %+v", rebuilt)
	}
	out2, err := eng.Submit(ctx, s2.ID, signPSBT(t, rebuilt.PSBT))
	if err != nil || out2.Status != spend.StatusBroadcast {
		t.Fatalf("the rebuilt spend: %+v, %v", out2, err)
	}
	h.refundNow(r2.ID, "pending", func(r refund.Refund) bool { return r.Status == refund.StatusPending && r.TxID == out2.TxID })

	// The buyer pays the fee of a refund too small to bear it: the engine
	// fails the refund (BitPay's 0208) instead of retrying for ever.
	h.mine(1)
	h.coinWhere("the second refund's change confirmed", func(c store.Coin) bool { return c.TxID == out2.TxID && c.Branch == 1 && c.Height > 0 })
	tiny := h.refundTo(invs[1], buyer, 300, true)
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	failed := h.refundNow(tiny.ID, "failure", func(r refund.Refund) bool { return r.Status == refund.StatusFailure })
	if !strings.Contains(failed.FailReason, "network fee is larger") {
		t.Fatalf("fail reason %q", failed.FailReason)
	}
	if _, err := h.db.OpenSpendOf(ctx, spend.KindRefund, tiny.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a spend for the failed refund: %v", err)
	}
}

// coinWhere waits for a store coin that satisfies ok.
func (h *harness) coinWhere(what string, ok func(store.Coin) bool) store.Coin {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		coins, err := h.db.Coins(context.Background(), h.storeID, store.CoinsAll)
		if i := slices.IndexFunc(coins, ok); err == nil && i >= 0 {
			return coins[i]
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("no coin: %s", what)
	return store.Coin{}
}

// submitRefund prepares, signs and submits a refund's spend.
func (h *harness) submitRefund(eng *spender.Engine, r refund.Refund) spend.Spend {
	h.t.Helper()
	ctx := context.Background()
	s, err := eng.PrepareRefund(ctx, r.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := eng.Submit(ctx, s.ID, signPSBT(h.t.(*testing.T), s.PSBT))
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// refundPaidAlone has a, cut off from b, pay a refund of inv and mine it:
// the refund succeeds on a's chain, which b does not have.
func (h *harness) refundPaidAlone(eng *spender.Engine, a, b *regtest.Node, inv *invoice.Invoice, buyer string, sats money.Sats) (refund.Refund, spend.Spend) {
	h.t.Helper()
	ctx := context.Background()
	if err := regtest.WaitSynced(ctx, a, b); err != nil {
		h.t.Fatal(err)
	}
	if err := a.Disconnect(ctx, b); err != nil {
		h.t.Fatal(err)
	}
	r := h.refundTo(inv, buyer, sats, false)
	s := h.submitRefund(eng, r)
	h.mine(1)
	in := s.Inputs[0]
	h.coin(in.TxID, in.Vout, "spent in a's block", func(c store.Coin) bool { return c.SpentBy == s.TxID && c.SpentHeight > 0 })
	if err := eng.Track(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.refundNow(r.ID, "success", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess })
	return r, s
}

// TestRefundSpendReorg: a reorg that takes the refund's block away puts the
// refund back to pending (its transaction returns to the mempool) and it
// succeeds again when mined; another transaction spending the refund's
// coin on the winning chain fails the spend and the refund.
func TestRefundSpendReorg(t *testing.T) {
	ctx := context.Background()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	h := newHarness(t, a, invoice.SpeedMedium)
	eng := h.engine()
	invs, buyer := h.paidInvoices(3)

	// a alone sees and mines the refund; b's longer chain without it wins.
	r, s := h.refundPaidAlone(eng, a, b, invs[0], buyer, 12_000)
	in := s.Inputs[0]
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	h.coin(in.TxID, in.Vout, "its spend back in the mempool", func(c store.Coin) bool { return c.SpentBy == s.TxID && c.SpentHeight == 0 })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.db.GetSpend(ctx, s.ID); got.Status != spend.StatusBroadcast || got.Height != 0 {
		t.Fatalf("after the reorg: %+v", got)
	}
	h.refundNow(r.ID, "pending again", func(r refund.Refund) bool { return r.Status == refund.StatusPending })
	h.mine(1)
	h.coin(in.TxID, in.Vout, "mined again", func(c store.Coin) bool { return c.SpentBy == s.TxID && c.SpentHeight > 0 })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	h.refundNow(r.ID, "success again", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess })

	// The merchant's wallet spends the second refund's coin on b while a
	// holds the refund: b's chain wins, the refund fails.
	if err := regtest.WaitSynced(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	r2 := h.refundTo(invs[1], buyer, 8_000, false)
	s2 := h.submitRefund(eng, r2)
	in2 := s2.Inputs[0]
	coins, err := h.db.CoinsAt(ctx, []store.Outpoint{{TxID: in2.TxID, Vout: in2.Vout}})
	if err != nil {
		t.Fatal(err)
	}
	other := spendCoin(t, b, coins[store.Outpoint{TxID: in2.TxID, Vout: in2.Vout}])
	if _, err := b.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	h.coin(in2.TxID, in2.Vout, "spent by the merchant's transaction", func(c store.Coin) bool { return c.SpentBy == other.String() })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.db.GetSpend(ctx, s2.ID); got.Status != spend.StatusFailed || !strings.Contains(got.FailReason, other.String()) {
		t.Fatalf("the double-spent refund's spend: %+v", got)
	}
	failed := h.refundNow(r2.ID, "failure", func(r refund.Refund) bool { return r.Status == refund.StatusFailure })
	if failed.FailReason == "" {
		t.Fatal("a failed refund says why")
	}

	// A refund paid in a's block (success), which b's chain replaces with
	// a block spending its coin elsewhere: the refund goes back to pending
	// and fails. (The chaos harness found it stuck in success: the engine
	// applied refund.Fail to a refund in success, an illegal move, every
	// round.)
	r3, s3 := h.refundPaidAlone(eng, a, b, invs[2], buyer, 7_000)
	in3 := s3.Inputs[0]
	coins, err = h.db.CoinsAt(ctx, []store.Outpoint{{TxID: in3.TxID, Vout: in3.Vout}})
	if err != nil {
		t.Fatal(err)
	}
	other = spendCoin(t, b, coins[store.Outpoint{TxID: in3.TxID, Vout: in3.Vout}])
	if _, err := b.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	h.coin(in3.TxID, in3.Vout, "spent by the merchant's transaction", func(c store.Coin) bool { return c.SpentBy == other.String() })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.db.GetSpend(ctx, s3.ID); got.Status != spend.StatusFailed {
		t.Fatalf("the spend double-spent after it confirmed: %+v", got)
	}
	h.refundNow(r3.ID, "failure", func(r refund.Refund) bool { return r.Status == refund.StatusFailure })
	events, err := h.db.Outbox(ctx, r3.ID)
	if err != nil {
		t.Fatal(err)
	}
	var codes []refund.Code
	for _, e := range events {
		codes = append(codes, refund.Code(e.Code))
	}
	if want := []refund.Code{refund.CodeCreated, refund.CodePending, refund.CodeSuccess, refund.CodePending, refund.CodeFailure}; !slices.Equal(codes, want) {
		t.Fatalf("refund events %v, want %v", codes, want)
	}
}

// TestRefundSpendBump raises the fee of a sent refund (RBF): the
// replacement is signed and sent, replaces the first transaction in the
// mempool and pays the refund; and when the replaced transaction is the
// one that confirms after all (a node that never saw the replacement mined
// it), the refund is paid by that one, once.
func TestRefundSpendBump(t *testing.T) {
	ctx := context.Background()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	h := newHarness(t, a, invoice.SpeedMedium)
	eng := h.engine()
	invs, buyer := h.paidInvoices(2)
	bump := func(s spend.Spend, rate money.Sats) spend.Spend {
		t.Helper()
		bumped, err := eng.Bump(ctx, s.ID, rate)
		if err != nil {
			t.Fatal(err)
		}
		if bumped.Bump == nil || bumped.Bump.Fee <= s.Fee || bumped.Bump.Outputs[0] != s.Outputs[0] ||
			bumped.Bump.Change != s.Change-(bumped.Bump.Fee-s.Fee) {
			t.Fatalf("bump of %+v: %+v", s, bumped.Bump)
		}
		out, err := eng.Submit(ctx, s.ID, signPSBT(t, bumped.ToSign()))
		if err != nil {
			t.Fatal(err)
		}
		if out.TxID == s.TxID || !out.Mine(s.TxID) || out.Status != spend.StatusBroadcast || out.Fee != bumped.Bump.Fee {
			t.Fatalf("the replacement: %+v", out)
		}
		return out
	}

	// The replacement replaces and pays.
	r := h.refundTo(invs[0], buyer, 12_000, false)
	s := h.submitRefund(eng, r)
	if _, err := eng.Bump(ctx, s.ID, s.FeeRate); !errors.Is(err, spender.ErrBumpRate) {
		t.Fatalf("a bump at the same rate: %v", err)
	}
	if _, err := eng.Bump(ctx, s.ID, 100_000); !errors.Is(err, spender.ErrBumpRate) {
		t.Fatalf("a bump above the ceiling: %v", err)
	}
	out := bump(s, s.FeeRate+4)
	h.refundNow(r.ID, "pending under the replacement", func(r refund.Refund) bool {
		return r.Status == refund.StatusPending && r.TxID == out.TxID && r.Fee == out.Fee
	})
	in := s.Inputs[0]
	h.coin(in.TxID, in.Vout, "spent by the replacement", func(c store.Coin) bool { return c.SpentBy == out.TxID })
	// The first transaction uploaded again is refused, changing nothing:
	// the spend goes out as the replacement now.
	if _, err := eng.Submit(ctx, s.ID, signPSBT(t, s.PSBT)); err == nil {
		t.Fatal("the replaced transaction accepted again")
	}
	if got, _ := h.db.GetSpend(ctx, s.ID); got.TxID != out.TxID || got.Version != out.Version {
		t.Fatalf("a refused upload changed the spend: %+v", got)
	}
	h.mine(1)
	h.coin(in.TxID, in.Vout, "replacement mined", func(c store.Coin) bool { return c.SpentHeight > 0 })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	h.refundNow(r.ID, "paid by the replacement", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess && r.TxID == out.TxID })

	// b holds the first transaction of a second refund and mines it; a
	// sent the replacement; b's chain wins.
	r2 := h.refundTo(invs[1], buyer, 9_000, false)
	s2 := h.submitRefund(eng, r2)
	first, err := chainHash(s2.TxID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitForTx(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	out2 := bump(s2, s2.FeeRate+9)
	if _, err := b.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	in2 := s2.Inputs[0]
	h.coin(in2.TxID, in2.Vout, "spent by the first transaction in b's block", func(c store.Coin) bool {
		return c.SpentBy == s2.TxID && c.SpentHeight > 0
	})
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := h.db.GetSpend(ctx, s2.ID)
	if got.Status != spend.StatusConfirmed || got.TxID != s2.TxID || !got.Mine(out2.TxID) {
		t.Fatalf("paid by the replaced transaction: %+v", got)
	}
	h.refundNow(r2.ID, "paid by the first transaction", func(r refund.Refund) bool {
		return r.Status == refund.StatusSuccess && r.TxID == s2.TxID
	})
}

// TestAutoRefundsOnChain: an invoice that expires part-paid and one paid
// over are refunded by themselves: the automatic refunds wait for the
// buyers' addresses, then the engine builds their spends (the buyer
// bearing the fee), the merchant's wallet signs, and they are paid.
func TestAutoRefundsOnChain(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	h := newHarness(t, node, invoice.SpeedMedium)
	eng := h.engine()
	svc := gateway.NewRefunds(gateway.RefundsConfig{Store: h.db, Rates: kassatest.Rates(t), Network: "regtest", Clock: h.clock.Now})

	partial := h.create("20")
	h.pay(partial, partial.Due()/2)
	over := h.create("20")
	h.pay(over, over.Due()+15_000)
	for _, inv := range []*invoice.Invoice{partial, over} { // seen in the mempool first, as a buyer's payment is
		h.waitFor(inv.ID, "its payment seen", func(inv invoice.Invoice) bool { return len(inv.Payments) == 1 })
	}
	h.mine(6)
	h.wait(over.ID, invoice.StatusComplete, invoice.ExceptionPaidOver)
	h.clock.Advance(16 * time.Minute)
	h.wait(partial.ID, invoice.StatusExpired, invoice.ExceptionPaidPartial)

	made, _, err := svc.AutoRefunds(ctx, h.db)
	if err != nil || made != 2 {
		t.Fatalf("automatic refunds: made %d, %v", made, err)
	}
	if err := eng.Track(ctx); err != nil { // nothing to pay without addresses
		t.Fatal(err)
	}
	buyer, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		inv  *invoice.Invoice
		sats money.Sats
	}{{partial, partial.Due() / 2}, {over, 15_000}} {
		rs, err := h.db.InvoiceRefunds(ctx, c.inv.ID)
		if err != nil || len(rs) != 1 || rs[0].Sats != c.sats || rs[0].Address != "" || !rs[0].BuyerPaysFee {
			t.Fatalf("the automatic refund of %s: %+v, %v", c.inv.ID, rs, err)
		}
		if _, err := h.db.OpenSpendOf(ctx, spend.KindRefund, rs[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a spend before the buyer gave an address: %v", err)
		}
		if _, err := svc.SetAddress(ctx, rs[0].ID, buyer); err != nil {
			t.Fatal(err)
		}
		if err := eng.Track(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := h.db.OpenSpendOf(ctx, spend.KindRefund, rs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Outputs[0].Address != buyer || s.Outputs[0].Amount != c.sats-s.Fee {
			t.Fatalf("the spend of %s: %+v", c.inv.ID, s.Outputs)
		}
		out, err := eng.Submit(ctx, s.ID, signPSBT(t, s.PSBT))
		if err != nil {
			t.Fatal(err)
		}
		h.mine(1)
		in := s.Inputs[0]
		h.coin(in.TxID, in.Vout, "spent by the refund in a block", func(c store.Coin) bool {
			return c.SpentBy == out.TxID && c.SpentHeight > 0
		})
		if err := eng.Track(ctx); err != nil {
			t.Fatal(err)
		}
		h.refundNow(rs[0].ID, "paid", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess })
	}
}

// TestRefundSpendEsplora pays a refund with no node in kassa's reach: the
// watcher and the spend engine talk to an Esplora server (here one served
// on loopback from a real btcd node, regtest.ServeEsplora). The invoice's
// payment becomes a coin, the engine's PSBT is signed by the test wallet,
// submitted and sent through POST /tx (again: already known, success),
// the coin is seen spent through its outspends, in the mempool and then
// in a block, the refund succeeds and the change is a coin; a transaction
// the node refuses is the client's ErrTxRejected.
func TestRefundSpendEsplora(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.EsploraOptions(regtest.Options{Mature: true}))
	url := regtest.ServeEsplora(t, node)
	h := newHarnessOn(t, node, invoice.SpeedMedium, 50*time.Millisecond, url)
	eng := h.engine()

	invs, buyer := h.paidInvoices(1)
	m := invs[0].Method(invoice.MethodBTC)
	paid := h.coinWhere("the payment's coin", func(c store.Coin) bool {
		return c.InvoiceID == invs[0].ID && c.Height > 0 && c.Index == m.KeyIndex && c.Branch == 0
	})
	r := h.refundTo(invs[0], buyer, 15_000, false)
	s, err := eng.PrepareRefund(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Inputs) != 1 || s.Inputs[0].TxID != paid.TxID || s.FeeRate <= 0 {
		t.Fatalf("spend %+v", s)
	}
	signed := signPSBT(t, s.PSBT)
	out, err := eng.Submit(ctx, s.ID, signed)
	if err != nil || out.Status != spend.StatusBroadcast {
		t.Fatalf("submitted: %+v, %v", out, err)
	}
	h.refundNow(r.ID, "pending", func(r refund.Refund) bool { return r.Status == refund.StatusPending })
	txHash, err := chainHash(out.TxID)
	if err != nil {
		t.Fatal(err)
	}
	if mem, err := node.InMempool(ctx, txHash); err != nil || !mem {
		t.Fatalf("the refund's transaction is not in the node's mempool: %v", err)
	}

	// Sent again (a retry after a crash): the server's node has it,
	// success.
	client, err := esplora.New(url)
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(out.Tx)); err != nil {
		t.Fatal(err)
	}
	if txid, err := client.SendTx(ctx, tx); err != nil || txid.String() != out.TxID {
		t.Fatalf("sent again: %s, %v", txid, err)
	}
	// A transaction spending the same coin otherwise: refused.
	other := tx.Copy()
	other.TxOut[0].Value--
	if _, err := client.SendTx(ctx, other); !errors.Is(err, esplora.ErrTxRejected) {
		t.Fatalf("a conflicting transaction: %v, want ErrTxRejected", err)
	}
	// Regtest has no fee estimates: none, and the engine used the floor.
	if _, ok, err := client.FeeRate(ctx, 6); err != nil || ok {
		t.Fatalf("FeeRate on regtest: ok %v, %v", ok, err)
	}

	h.confirmRefund(eng, out, r.ID)
	if codes := h.codes(invs[0].ID); !slices.Contains(codes, invoice.CodeRefundComplete) {
		t.Fatalf("invoice events %v: no 1016", codes)
	}
	change := h.coinWhere("the change", func(c store.Coin) bool { return c.TxID == out.TxID && c.Branch == 1 })
	if change.Amount != s.Change || change.Index != s.ChangeIndex {
		t.Fatalf("change coin %+v, want %d sats at index %d", change, s.Change, s.ChangeIndex)
	}
}

// TestRefundSpendLegacy pays a refund from a legacy (P2PKH) store, whose
// PSBT inputs carry their whole previous transactions (non_witness_utxo),
// which the engine takes from the coins' blocks.
func TestRefundSpendLegacy(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	h := newHarness(t, node, invoice.SpeedMedium)
	st, err := h.db.GetStore(ctx, h.storeID)
	if err != nil {
		t.Fatal(err)
	}
	st.Key = "pkh(" + strings.TrimPrefix(st.Key, "wpkh(")
	if i := strings.Index(st.Key, "#"); i > 0 {
		st.Key = st.Key[:i]
	}
	if err := h.db.UpdateStoreSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := h.g.ReloadStore(ctx, h.storeID); err != nil {
		t.Fatal(err)
	}
	invs, buyer := h.paidInvoices(1)
	if m := invs[0].Method(invoice.MethodBTC); len(m.Script) != 25 {
		t.Fatalf("not a P2PKH address: %x", m.Script)
	}
	eng := h.engine()
	r := h.refundTo(invs[0], buyer, 11_000, false)
	s := h.submitRefund(eng, r)
	h.mine(1)
	in := s.Inputs[0]
	h.coin(in.TxID, in.Vout, "spent by the refund in a block", func(c store.Coin) bool { return c.SpentBy == s.TxID && c.SpentHeight > 0 })
	if err := eng.Track(ctx); err != nil {
		t.Fatal(err)
	}
	h.refundNow(r.ID, "paid", func(r refund.Refund) bool { return r.Status == refund.StatusSuccess && r.TxID == s.TxID })
}
