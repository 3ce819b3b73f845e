//go:build node

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/shopspring/decimal"
)

// TestSpendCommands pays a refund through the command line on a real node:
// kassa spend list shows the spend kassa serve's engine made, spend psbt
// prints the PSBT, the merchant's wallet (test/psbtsign) signs it, and
// spend submit checks, records and sends it, printing the txid, which is
// then in the node's mempool. Bad input is refused with the reason.
func TestSpendCommands(t *testing.T) {
	signer := os.Getenv("KASSA_PSBTSIGN")
	if signer == "" {
		t.Skip("KASSA_PSBTSIGN is not set: run `make tools` and `make test`, or set it to .tools/bin/psbtsign")
	}
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	dir := t.TempDir()
	dbURL := "sqlite:" + filepath.Join(dir, "kassa.db")
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_DATABASE_URL": dbURL, "KASSA_NETWORK": "regtest",
		"KASSA_RATES": "fixed:BTC_USD=50000", "KASSA_CHAIN": node.RPCURL()}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", kassatest.Key(t, "cli spend"))
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)

	// An invoice paid on the node; its coin as the watcher records it; a
	// refund of it; the spend kassa serve's engine makes for it.
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	g := kassatest.Gateway(t, db, nil)
	inv, err := g.CreateInvoice(ctx, storeID, gateway.NewInvoice{Price: "20", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	m := inv.Method(invoice.MethodBTC)
	txid, err := node.Wallet().Pay(ctx, m.Destination, inv.Due())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	height, err := node.BlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vout := uint32(slices.IndexFunc(node.Wallet().Transaction(txid).TxOut, func(o *wire.TxOut) bool { return bytes.Equal(o.PkScript, m.Script) }))
	coin := store.Coin{Coin: wallet.Coin{TxID: txid.String(), Vout: vout, Amount: inv.Due(), Script: m.Script, Index: m.KeyIndex,
		Height: int32(height)}, StoreID: storeID, InvoiceID: inv.ID, SeenAt: time.Now()}
	err = db.Commit(ctx, nil, &store.ChainUpdate{Rewind: store.NoRewind,
		Blocks: []store.ChainBlock{{Height: int32(height), Hash: "tip"}}, Coins: store.CoinChanges{Seen: []store.Coin{coin}}})
	if err != nil {
		t.Fatal(err)
	}
	buyer, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := refund.Refund{ID: auth.NewID(), StoreID: storeID, InvoiceID: inv.ID, Token: auth.NewResourceToken(),
		Status: refund.StatusCreated, Amount: decimal.RequireFromString("0.0001"), Currency: "BTC", Rate: decimal.NewFromInt(1),
		Sats: 10_000, Cancellable: true, Address: buyer, RequestedAt: now, UpdatedAt: now}
	if err := db.Unit(ctx, func(u *store.Unit) error { return u.Refund(&r, nil) }); err != nil {
		t.Fatal(err)
	}
	client, err := rpc.New(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := spender.New(spender.Config{Store: db, Chain: client, Rejected: rpc.ErrTxRejected}).Track(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, errs, code = run(t, vars, "spend", "list", "--store", storeID)
	if code != 0 {
		t.Fatalf("spend list: %d %s", code, errs)
	}
	var list []struct {
		ID, Kind, Status string
		Outputs          []struct {
			Address string
			Amount  int64
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("spend list must print one spend as JSON: %v\n%s", err, out)
	}
	s := list[0]
	if s.Kind != "refund" || s.Status != "unsigned" || len(s.Outputs) != 1 || s.Outputs[0].Address != buyer || s.Outputs[0].Amount != 10_000 {
		t.Fatalf("spend list: %+v", s)
	}

	psbt, errs, code := run(t, vars, "spend", "psbt", s.ID)
	if code != 0 {
		t.Fatalf("spend psbt: %d %s", code, errs)
	}
	cmd := exec.Command(signer)
	cmd.Env = append(os.Environ(), "PSBTSIGN_KEY="+kassatest.AccountPriv(t, "cli spend"))
	cmd.Stdin = strings.NewReader(psbt)
	signed, err := cmd.Output()
	if err != nil {
		t.Fatalf("psbtsign: %v", err)
	}

	// Bad input first: nothing recorded, nothing sent.
	withStdin(t, "bm90IGEgcHNidA==\n", func() {
		if _, errs, code := run(t, vars, "spend", "submit", s.ID); code == 0 || !strings.Contains(errs, "not a PSBT") {
			t.Fatalf("garbage: %d %s", code, errs)
		}
	})
	withStdin(t, psbt, func() {
		if _, errs, code := run(t, vars, "spend", "submit", s.ID); code == 0 || !strings.Contains(errs, "not completely signed") {
			t.Fatalf("the unsigned PSBT: %d %s", code, errs)
		}
	})
	if _, errs, code := run(t, vars, "spend", "psbt", "nope"); code == 0 || !strings.Contains(errs, `no spend with id "nope"`) {
		t.Fatalf("unknown spend: %d %s", code, errs)
	}

	var sent string
	withStdin(t, string(signed), func() {
		out, errs, code := run(t, vars, "spend", "submit", s.ID)
		if code != 0 {
			t.Fatalf("spend submit: %d %s", code, errs)
		}
		sent = strings.TrimSpace(out)
	})
	h, err := chainhash.NewHashFromStr(sent)
	if err != nil {
		t.Fatalf("spend submit must print the txid, printed %q", sent)
	}
	if ok, err := node.InMempool(ctx, *h); err != nil || !ok {
		t.Fatalf("the refund's transaction is not in the mempool: %v %v", ok, err)
	}
	out, _, _ = run(t, vars, "spend", "list", "--store", storeID)
	if !strings.Contains(out, `"status": "broadcast"`) || !strings.Contains(out, sent) {
		t.Fatalf("after submit: %s", out)
	}
}
