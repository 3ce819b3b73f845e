//go:build node

package notify_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// BenchmarkRefundPending measures a signed refund's way out on a real
// btcd regtest node: from the merchant's upload reaching Submit until
// both the node has the transaction and the refund_pending webhook (5002)
// has arrived at a loopback receiver, sent by kassa's notify Service
// through the outbox (woken by the store's commit signal; polling every
// second besides). Each iteration's refund spend is prepared and signed
// untimed, by a signer in the test (btcd's txscript with the merchant's
// key), from coins one funding transaction paid to the store. p50/p99 are
// the whole span; the split: check-p50/p99 (Submit's upload check and the
// unit recording the spend signed and the refund pending), send-p50/p99
// (sendrawtransaction), webhook-p50/p99 (the webhook's arrival after the
// unit committed, which overlaps the send).
//
//	go test -tags node -run '^$' -bench RefundPending -benchtime 100x ./internal/notify
func BenchmarkRefundPending(b *testing.B) {
	ctx := context.Background()
	r := newChainRig(b, startNode(b), kassatest.SQLite.URL(b), time.Second)
	rc := newReceiver(b, nil)
	r.start(func(c *notify.Config) { c.Poll = time.Second })
	client, err := rpc.New(r.node.RPCURL())
	if err != nil {
		b.Fatal(err)
	}
	node := &timedChain{Chain: client}
	eng := spender.New(spender.Config{Store: r.db, Chain: node, Rejected: rpc.ErrTxRejected, Logger: r.log})
	invs := r.fundCoins(b.N+5, 200_000)
	buyer, err := r.node.Wallet().NewAddress()
	if err != nil {
		b.Fatal(err)
	}

	var total, check, send, webhook []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ref := kassatest.Refund(b, r.db, invs[i%len(invs)], buyer, 20_000, rc.url("/refunds"))
		waitWebhook(b, rc, ref.ID, refund.CodeCreated)
		s, err := eng.PrepareRefund(ctx, ref.ID)
		if err != nil {
			b.Fatal(err)
		}
		signed := signP2WPKH(b, s.PSBT, "notify merchant")
		b.StartTimer()

		t0 := time.Now()
		out, err := eng.Submit(ctx, s.ID, signed)
		if err != nil {
			b.Fatal(err)
		}
		submitted := time.Now()
		arrived := waitWebhook(b, rc, ref.ID, refund.CodePending)
		sent, answered := node.last()
		total = append(total, max(submitted.Sub(t0), arrived.Sub(t0)))
		check = append(check, sent.Sub(t0))
		send = append(send, answered.Sub(sent))
		webhook = append(webhook, arrived.Sub(sent))
		if out.TxID == "" {
			b.Fatalf("spend %s not sent: %+v", s.ID, out)
		}

		if i%20 == 19 {
			b.StopTimer()
			r.mine(1) // keep the mempool small
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		lat  []time.Duration
	}{{"", total}, {"check-", check}, {"send-", send}, {"webhook-", webhook}} {
		slices.Sort(m.lat)
		b.ReportMetric(ms(m.lat[len(m.lat)/2]), m.name+"p50-ms")
		b.ReportMetric(ms(m.lat[len(m.lat)*99/100]), m.name+"p99-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// timedChain is the node client, noting when the last SendTx started and
// when the node answered.
type timedChain struct {
	spender.Chain
	mu             sync.Mutex
	sent, answered time.Time
}

func (c *timedChain) SendTx(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	start := time.Now()
	h, err := c.Chain.SendTx(ctx, tx)
	c.mu.Lock()
	c.sent, c.answered = start, time.Now()
	c.mu.Unlock()
	return h, err
}

func (c *timedChain) last() (sent, answered time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.answered
}

// fundCoins gives the store n confirmed coins of amount each: n invoices
// (whose addresses the watcher follows) paid in one transaction, mined.
// It returns the invoices.
func (r *chainRig) fundCoins(n int, amount money.Sats) []*invoice.Invoice {
	r.t.Helper()
	ctx := context.Background()
	invs := make([]*invoice.Invoice, n)
	outs := make([]regtest.Output, n)
	for i := range invs {
		inv, err := r.g.CreateInvoice(ctx, r.storeID, gateway.NewInvoice{Price: "10", Currency: "USD"})
		if err != nil {
			r.t.Fatal(err)
		}
		invs[i], outs[i] = inv, regtest.Output{Address: inv.Method(invoice.MethodBTC).Destination, Amount: amount}
	}
	if _, err := r.node.Wallet().PayMany(ctx, outs); err != nil {
		r.t.Fatal(err)
	}
	r.mine(1)
	waitFor(r.t, "the funding coins confirmed", func() bool {
		cs, err := r.db.Coins(ctx, r.storeID, store.CoinsUnspent)
		if err != nil {
			r.t.Fatal(err)
		}
		confirmed := 0
		for _, c := range cs {
			if c.Height > 0 {
				confirmed++
			}
		}
		return confirmed >= n
	})
	return invs
}

// waitWebhook waits for a refund's webhook with code, and returns when it
// arrived.
func waitWebhook(tb testing.TB, rc *receiver, refundID string, code refund.Code) time.Time {
	tb.Helper()
	for {
		select {
		case in := <-rc.arrived:
			if in.invoiceID == refundID && in.code == int(code) {
				return time.Now()
			}
		case <-time.After(30 * time.Second):
			tb.Fatalf("no webhook %d for refund %s after 30 s", code, refundID)
		}
	}
}

// signP2WPKH signs every input of a PSBT of P2WPKH coins with the key of
// kassatest's name at the input's BIP32 path (branch and index its last
// two steps) using btcd's txscript, nothing of kassa's, and returns the
// signed transaction in hex, as a wallet that exports raw transactions
// would.
func signP2WPKH(tb testing.TB, raw []byte, name string) []byte {
	tb.Helper()
	p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		tb.Fatal(err)
	}
	tx := p.UnsignedTx.Copy()
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.Inputs {
		fetcher.AddPrevOut(tx.TxIn[i].PreviousOutPoint, in.WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range p.Inputs {
		path := in.Bip32Derivation[0].Bip32Path
		key := kassatest.PrivKey(tb, name, path[len(path)-2], path[len(path)-1])
		w, err := txscript.WitnessSignature(tx, hashes, i, in.WitnessUtxo.Value, in.WitnessUtxo.PkScript, txscript.SigHashAll, key, true)
		if err != nil {
			tb.Fatal(err)
		}
		tx.TxIn[i].Witness = w
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		tb.Fatal(err)
	}
	return []byte(hex.EncodeToString(buf.Bytes()))
}
