//go:build node

package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/demo"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/web"
)

// chromium is the browser the checkout tests drive (Debian's package).
const chromium = "/usr/bin/chromium"

// TestCheckoutInBrowser runs test/sdk/checkout.test.mjs: a real Chromium,
// driven by playwright-core, against kassa on loopback: a btcd regtest
// node, SQLite, the gateway and chain watcher, the BitPay API (with its
// event stream) and the checkout pages, plus the example shop on a second
// origin. The script pays through this test's /demo/pay and /demo/mine,
// which take what `kassa demo`'s routes take and pay and mine on the node.
// Screenshots of failures land in artifacts/.
func TestCheckoutInBrowser(t *testing.T) {
	root, sdk, nodeBin := browserTools(t, "jsqr")
	k := startKassa(t, root)
	artifacts := filepath.Join(root, "artifacts")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "--test-reporter=spec", "--test-concurrency=1", "checkout.test.mjs")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "KASSA_URL="+k.url, "KASSA_POS_TOKEN="+k.pos, "SHOP_URL="+k.shop,
		"CHROMIUM="+chromium, "ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	t.Logf("checkout browser test:\n%s", out)
	if err != nil {
		t.Fatalf("the checkout failed in the browser (screenshots in %s): %v", artifacts, err)
	}
}

// browserTools returns the repository's root, test/sdk and node, and
// fails the test when node, Chromium, playwright-core or another of the
// node modules named is missing.
func browserTools(t *testing.T, modules ...string) (root, sdk, nodeBin string) {
	t.Helper()
	root, err := regtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sdk = filepath.Join(root, "test", "sdk")
	if nodeBin, err = exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: the browser tests need Node.js")
	}
	need := []string{chromium}
	for _, m := range append([]string{"playwright-core"}, modules...) {
		need = append(need, filepath.Join(sdk, "node_modules", m))
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run make tools (npm ci) and install chromium", p)
		}
	}
	return root, sdk, nodeBin
}

// kassa is a running kassa for the browser test.
type kassa struct {
	url, pos, shop string
}

// startKassa starts the whole payment path on loopback, as kassa demo does.
func startKassa(t *testing.T, root string) kassa {
	t.Helper()
	ctx := context.Background()
	node, err := regtest.Start(ctx, regtest.Options{Mature: true})
	if err != nil {
		t.Fatalf("start btcd (run scripts/install-btcd.sh): %v", err)
	}
	t.Cleanup(func() { _ = node.Stop() })

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	db := kassatest.DBOn(t, kassatest.SQLite)
	k, err := hdkeychain.NewMaster([]byte("kassa checkout browser test seed"), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	st := merchant.Store{ID: auth.NewID(), Name: "Browser Test Shop", Network: "regtest", Key: "wpkh(" + pub.String() + "/0/*)",
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now().UTC()}
	if err := db.CreateStore(ctx, st); err != nil {
		t.Fatal(err)
	}
	pos := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Active: true, CreatedAt: time.Now().UTC()}
	if err := db.CreateToken(ctx, pos); err != nil {
		t.Fatal(err)
	}
	rs, err := rates.NewFixed(ctx, "BTC_USD=50000,BTC_EUR=45000")
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.New(gateway.Config{Store: db, Rates: rs, Network: "regtest", Log: log})
	t.Cleanup(g.Close)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	t.Cleanup(func() { stop(); <-done; <-done })
	proc := gateway.NewProcessor(g, gateway.ProcessorConfig{Store: db})
	backend, err := chain.Open(runCtx, chain.Options{URL: node.RPCURL(), Network: "regtest", Sink: proc, PollInterval: 50 * time.Millisecond, Log: log})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	proc.Attach(backend)
	if err := proc.Load(runCtx); err != nil {
		stop()
		t.Fatal(err)
	}
	go func() { _ = backend.Run(runCtx); done <- struct{}{} }()
	go func() { _ = proc.Run(runCtx, 50*time.Millisecond); done <- struct{}{} }()

	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	hub, err := notify.NewHub(notify.HubConfig{Store: db, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	apiSrv, err := api.New(api.Config{Store: db, Invoices: g, Rates: rs, PublicURL: base, Tip: proc.Tip, Log: log, Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Config{Store: db, PublicURL: base, Network: "regtest", Demo: true, PollInterval: time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	apiSrv.Register(mux)
	pages.Register(mux)
	demo.Register(mux, db, node)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(apiSrv.CloseEventStreams)

	// The shop: examples/shop on its own origin, and the page the
	// checkout returns the buyer to.
	shopMux := http.NewServeMux()
	shopMux.Handle("GET /", http.FileServer(http.Dir(filepath.Join(root, "examples", "shop"))))
	shopMux.HandleFunc("GET /thanks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><title>Thanks</title><h1 id="thanks">Thank you for your order</h1>`)
	})
	shop := httptest.NewServer(shopMux)
	t.Cleanup(shop.Close)
	return kassa{url: base, pos: pos.Value, shop: shop.URL}
}
