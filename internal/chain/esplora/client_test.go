package esplora

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

const (
	payAddr = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	txMem   = "5e6ec5ae4b4f2bbd6f3a8a1d8c5c1e08d8f0d8f3cbd1a4c6f2e8a7b9c0d1e2f3"
	txConf  = "1c8e2a4b6d8f0e2c4a6b8d0f2e4c6a8b0d2f4e6c8a0b2d4f6e8c0a2b4d6f8e0a"
)

// recordedServer serves the files in testdata under the API's paths.
func recordedServer(t *testing.T) *Client {
	t.Helper()
	routes := map[string]struct {
		file   string
		status int
	}{
		"/api/blocks/tip/height":                   {"tip-height.txt", 200},
		"/api/blocks/tip/hash":                     {"tip-hash.txt", 200},
		"/api/block-height/0":                      {"block-height-0.txt", 200},
		"/api/address/" + payAddr + "/txs":         {"address-txs.json", 200},
		"/api/address/" + payAddr + "/txs/mempool": {"address-txs-mempool.json", 200},
		"/api/tx/" + txConf + "/status":            {"tx-status-confirmed.json", 200},
		"/api/tx/" + txMem + "/status":             {"tx-status-unconfirmed.json", 200},
		"/api/tx/" + txMem:                         {"address-txs-mempool.json", 200},
		"/api/tx/ffff/status":                      {"tx-not-found.txt", 404},
		"/api/rate-limited/blocks/tip/height":      {"rate-limited.txt", 429},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, ok := routes[r.URL.Path]
		if !ok {
			http.Error(w, "not found", 404)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", route.file))
		if err != nil {
			t.Error(err)
		}
		if route.file == "address-txs-mempool.json" && r.URL.Path == "/api/tx/"+txMem {
			body = body[1 : len(body)-2] // the single transaction of the list
		}
		if route.status == 429 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(route.status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	c := recordedServer(t)

	t.Run("tip", func(t *testing.T) {
		h, err := c.TipHeight(ctx)
		if err != nil || h != 936616 {
			t.Fatalf("TipHeight = %d, %v", h, err)
		}
		hash, err := c.TipHash(ctx)
		if err != nil || hash.String() != "000000000000000000516816955012ae5d1947e12fb984c547340da216ab29f9" {
			t.Fatalf("TipHash = %s, %v", hash, err)
		}
	})
	t.Run("network", func(t *testing.T) {
		n, err := c.Network(ctx)
		if err != nil || n != "mainnet" {
			t.Fatalf("Network = %q, %v", n, err)
		}
	})
	t.Run("address txs", func(t *testing.T) {
		txs, err := c.AddressTxs(ctx, payAddr)
		if err != nil || len(txs) != 2 {
			t.Fatalf("AddressTxs = %d txs, %v", len(txs), err)
		}
		if txs[0].TxID != txMem || txs[0].Status.Confirmed || txs[0].Vout[0].Value != 150000 {
			t.Fatalf("first tx %+v", txs[0])
		}
		if s := txs[1].Status; !s.Confirmed || s.BlockHeight != 936610 || s.BlockTime != 1770073002 {
			t.Fatalf("confirmed status %+v", s)
		}
		// The script Esplora reports is the one kassa derives from the
		// address.
		a, err := address.DecodeAddress(payAddr, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatal(err)
		}
		script, _ := txscript.PayToAddrScript(a)
		if got := txs[1].Vout[0]; got.ScriptPubKey != hex.EncodeToString(script) || got.Address != payAddr {
			t.Fatalf("output %+v, want script %x", got, script)
		}
		mem, err := c.AddressMempoolTxs(ctx, payAddr)
		if err != nil || len(mem) != 1 || mem[0].TxID != txMem {
			t.Fatalf("AddressMempoolTxs = %+v, %v", mem, err)
		}
	})
	t.Run("tx", func(t *testing.T) {
		tx, err := c.Tx(ctx, txMem)
		if err != nil || tx.TxID != txMem || len(tx.Vout) != 2 {
			t.Fatalf("Tx = %+v, %v", tx, err)
		}
	})
	t.Run("status", func(t *testing.T) {
		s, err := c.TxStatus(ctx, txConf)
		if err != nil || !s.Confirmed || s.BlockHeight != 936610 {
			t.Fatalf("TxStatus = %+v, %v", s, err)
		}
		s, err = c.TxStatus(ctx, txMem)
		if err != nil || s.Confirmed || s.BlockHeight != 0 {
			t.Fatalf("TxStatus = %+v, %v", s, err)
		}
		_, err = c.TxStatus(ctx, "ffff")
		if !errors.Is(err, ErrNotFound) || Transient(err) {
			t.Fatalf("err %v, want ErrNotFound, not transient", err)
		}
	})
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	c := recordedServer(t)
	rl, _ := New(c.BaseURL() + "/rate-limited")
	_, err := rl.TipHeight(ctx)
	limited, after := RateLimited(err)
	if !limited || after != 7*time.Second || !Transient(err) {
		t.Fatalf("err %v: limited %v after %v", err, limited, after)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down, _ := New("http://" + addr + "/api")
	_, err = down.TipHash(ctx)
	if !errors.Is(err, ErrUnreachable) || !Transient(err) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream timeout", http.StatusBadGateway)
	}))
	defer srv.Close()
	bad, _ := New(srv.URL)
	_, err = bad.AddressTxs(ctx, payAddr)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 502 || !Transient(err) {
		t.Fatalf("err %v, want a transient HTTP 502", err)
	}

	for _, u := range []string{"ftp://x", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
