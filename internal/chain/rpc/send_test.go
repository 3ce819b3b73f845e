package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

func TestSendTxCoreAnswers(t *testing.T) {
	ctx := context.Background()
	tx := wire.NewMsgTx(2)
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	cases := []struct {
		answer   string
		rejected bool
	}{
		{"sendrawtransaction-inchain", false}, // already mined: sent before, not an error
		{"sendrawtransaction-spent", true},
		{"sendrawtransaction-lowfee", true},
	}
	for _, c := range cases {
		cl, _ := fakeCore(t, map[string]string{"sendrawtransaction": c.answer})
		txid, err := cl.SendTx(ctx, tx)
		if txid != tx.TxHash() {
			t.Errorf("%s: txid %s", c.answer, txid)
		}
		if got := errors.Is(err, ErrTxRejected); got != c.rejected || (!c.rejected && err != nil) {
			t.Errorf("%s: err %v, rejected %v", c.answer, err, c.rejected)
		}
	}
	// A node that is away is neither success nor a rejection: the caller
	// sends again later.
	cl, _ := fakeCore(t, map[string]string{"sendrawtransaction": "warmup"})
	if _, err := cl.SendTx(ctx, tx); err == nil || errors.Is(err, ErrTxRejected) {
		t.Errorf("warming up: %v", err)
	}
}

func TestAlreadyHas(t *testing.T) {
	for msg, want := range map[string]bool{
		"TX rejected: already have transaction in mempool 0f9a…": true, // btcd
		"TX rejected: transaction already exists in blockchain":  true, // btcd
		"txn-already-in-mempool":                                 true, // Core
		"txn-already-known":                                      true,
		"bad-txns-inputs-missingorspent":                         false,
		"insufficient fee, rejecting replacement":                false,
	} {
		if got := alreadyHas(&Error{Code: codeTxRejected, Message: msg}); got != want {
			t.Errorf("%q: %v", msg, got)
		}
	}
}

func TestFeeRateCoreAnswers(t *testing.T) {
	ctx := context.Background()
	cl, _ := fakeCore(t, map[string]string{"estimatesmartfee": "estimatesmartfee"})
	// 0.00012345 BTC/kvB is 12.345 sat/vB, rounded up.
	if rate, ok, err := cl.FeeRate(ctx, 2); err != nil || !ok || rate != 13 {
		t.Fatalf("FeeRate = %d, %v, %v", rate, ok, err)
	}
	cl, _ = fakeCore(t, map[string]string{"estimatesmartfee": "estimatesmartfee-nodata"})
	if rate, ok, err := cl.FeeRate(ctx, 2); err != nil || ok || rate != 0 {
		t.Fatalf("no data: FeeRate = %d, %v, %v", rate, ok, err)
	}
	// A node without either method (the fake answers method not found
	// for both) has no estimate, which is not an error.
	cl, _ = fakeCore(t, map[string]string{})
	if _, ok, err := cl.FeeRate(ctx, 2); err != nil || ok {
		t.Fatalf("no estimator: %v, %v", ok, err)
	}
}
