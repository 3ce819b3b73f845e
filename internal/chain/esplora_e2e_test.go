package chain

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
)

// TestEsploraWatcherRecorded runs the Esplora watcher with the real client
// against recorded mainnet responses: the script kassa derives from the
// address must match Esplora's scriptpubkey, and the heights come from
// status.block_height.
func TestEsploraWatcherRecorded(t *testing.T) {
	const addr = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	files := map[string]string{
		"/api/blocks/tip/hash":          "tip-hash.txt",
		"/api/blocks/tip/height":        "tip-height.txt",
		"/api/block-height/936616":      "tip-hash.txt",
		"/api/address/" + addr + "/txs": "address-txs.json",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join("esplora", "testdata", f))
		if err != nil {
			t.Error(err)
		}
		w.Write(body)
	}))
	defer srv.Close()
	client, err := esplora.New(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	w := newTestEsplora(t, nil, sink, fixedClock{testNow})
	w.cfg.Source = client
	a, err := address.DecodeAddress(addr, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	script, _ := txscript.PayToAddrScript(a)
	w.Watch("inv-1", script, addr)
	if err := w.cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectBatches(t, sink,
		"connect 936616 | tip 936616",
		"seen inv-1:0 150000 h0 | seen inv-1:0 99859 h936610 | tip 936616")
}
