package gateway

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// TestAddressWindowFollowsItsUser: two gateways share one store, as nodes
// of a cluster do. The one that hands out most of its addresses keeps its
// window of derived addresses ahead of the next index; the one that hands
// out a few of them stops deriving ahead (it would derive every address
// the other uses) and derives its own on demand, still correctly.
func TestAddressWindowFollowsItsUser(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("kassa address window test"))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	st := merchant.Store{ID: auth.NewID(), Name: "Shop", Network: "regtest", Key: "wpkh(" + pub.String() + "/0/*)",
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 100000, DefaultCurrency: "USD", CreatedAt: time.Now()}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	key, err := wallet.ParseKey(st.Key, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := rates.NewFixed(ctx, "BTC_USD=50000")
	main, minor := New(Config{Store: db, Rates: rs, Network: "regtest"}), New(Config{Store: db, Rates: rs, Network: "regtest"})
	defer main.Close()
	defer minor.Close()

	create := func(g *Gateway) *invoice.Invoice {
		t.Helper()
		inv, err := g.CreateInvoice(ctx, st.ID, NewInvoice{Price: "10", Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		want, err := key.Derive(inv.Method(invoice.MethodBTC).KeyIndex)
		if err != nil || want.Address != inv.Method(invoice.MethodBTC).Destination {
			t.Fatalf("invoice at index %d has address %s, want %s (%v)", inv.Method(invoice.MethodBTC).KeyIndex, inv.Method(invoice.MethodBTC).Destination, want.Address, err)
		}
		return inv
	}
	var last *invoice.Invoice
	for range 60 {
		create(minor)
		for range 4 {
			last = create(main)
		}
		time.Sleep(2 * time.Millisecond) // let the fillers run
	}
	// Let both fillers catch up with the last kick.
	deadline := time.Now().Add(10 * time.Second)
	next := last.Method(invoice.MethodBTC).KeyIndex + 1
	for !main.keys[st.ID].addrs.Cached(next + 32) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway handing out most addresses has no window ahead of index %d", next)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if minor.keys[st.ID].addrs.Cached(next + 32) {
		t.Errorf("the gateway handing out one address in five still derives a window ahead of index %d", next)
	}
	// The minor one's next invoice, past its stale window, is still right.
	create(minor)
}
