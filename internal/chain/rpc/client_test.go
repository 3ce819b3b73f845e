package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/kassa-pay/kassa/internal/chain/zmq"
)

// recorded serves testdata/core/<name>.json: the HTTP status on the first
// line, the body after it.
func recorded(t *testing.T, name string) (int, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "core", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	first, body, _ := strings.Cut(string(raw), "\n")
	code, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("%s: status line %q", name, first)
	}
	return code, []byte(body)
}

// fakeCore is a loopback server answering like Bitcoin Core. answer maps a
// method (or "method param0") to a recorded response's name.
func fakeCore(t *testing.T, answer map[string]string) (*Client, *[]request) {
	t.Helper()
	var calls []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "kassa" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("decode request: %v", err)
		}
		calls = append(calls, req)
		name, ok := answer[req.Method]
		if len(req.Params) > 0 {
			if n, ok2 := answer[req.Method+" "+toString(req.Params[0])]; ok2 {
				name, ok = n, true
			}
		}
		if !ok {
			name = "methodnotfound"
		}
		code, body := recorded(t, name)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(strings.Replace(srv.URL, "http://", "rpc://kassa:s3cret@", 1))
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func TestNew(t *testing.T) {
	tests := []struct {
		url, endpoint, user, pass, err string
	}{
		{url: "rpc://u:p@127.0.0.1:18443", endpoint: "http://127.0.0.1:18443", user: "u", pass: "p"},
		{url: "http://u:p%40ss@node:8332/wallet/w", endpoint: "http://node:8332/wallet/w", user: "u", pass: "p@ss"},
		{url: "rpcs://u:p@node:8334", endpoint: "https://node:8334", user: "u", pass: "p"},
		{url: "ftp://node", err: "scheme"},
		{url: "rpc://", err: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := New(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint() != tt.endpoint || c.user != tt.user || c.pass != tt.pass {
				t.Fatalf("got %s %s %s", c.Endpoint(), c.user, c.pass)
			}
		})
	}
}

func TestCoreDialect(t *testing.T) {
	ctx := context.Background()
	c, calls := fakeCore(t, map[string]string{
		"getblockchaininfo": "getblockchaininfo",
		"getbestblockhash":  "getbestblockhash",
		"getblockcount":     "getblockcount",
		"getblockhash 0":    "getblockhash",
		"getblockhash 7":    "getblockhash-outofrange",
		"getblock":          "getblock",
		"getrawmempool":     "getrawmempool",
		"getrawtransaction": "getrawtransaction",
		"getrawtransaction " + strings.Repeat("ab", 32): "getrawtransaction-notfound",
	})
	genesis := "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

	t.Run("network", func(t *testing.T) {
		n, err := c.Network(ctx)
		if err != nil || n != "regtest" {
			t.Fatalf("Network = %q, %v", n, err)
		}
	})
	t.Run("tip", func(t *testing.T) {
		h, hash, err := c.Tip(ctx)
		if err != nil || h != 0 || hash.String() != genesis {
			t.Fatalf("Tip = %d %s %v", h, hash, err)
		}
		best, err := c.BestBlockHash(ctx)
		if err != nil || best.String() != genesis {
			t.Fatalf("BestBlockHash = %s %v", best, err)
		}
		n, err := c.BlockCount(ctx)
		if err != nil || n != 0 {
			t.Fatalf("BlockCount = %d %v", n, err)
		}
	})
	t.Run("block hash", func(t *testing.T) {
		h, err := c.BlockHash(ctx, 0)
		if err != nil || h.String() != genesis {
			t.Fatalf("BlockHash = %s %v", h, err)
		}
		_, err = c.BlockHash(ctx, 7)
		var rpcErr *Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != -8 {
			t.Fatalf("out of range: %v", err)
		}
	})
	t.Run("block", func(t *testing.T) {
		hash, _ := chainhash.NewHashFromStr(genesis)
		b, err := c.Block(ctx, *hash)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Transactions) != 1 || b.Transactions[0].TxOut[0].Value != 50_0000_0000 {
			t.Fatalf("block %+v", b)
		}
		last := (*calls)[len(*calls)-1]
		if last.Params[0] != genesis || last.Params[1] != float64(0) {
			t.Fatalf("getblock params %v, want [hash 0]", last.Params)
		}
		other, _ := chainhash.NewHashFromStr(strings.Repeat("11", 32))
		if _, err := c.Block(ctx, *other); err == nil || !strings.Contains(err.Error(), "node sent block") {
			t.Fatalf("wrong block accepted: %v", err)
		}
	})
	t.Run("mempool", func(t *testing.T) {
		ids, err := c.Mempool(ctx)
		if err != nil || len(ids) != 2 || ids[0].String() != "c1f4bd8a6d8a5f8bd3c1c9b2f7e2c3c8c86a5b1b7c0f1d6e2c9a3b2d1e0f9a8b" {
			t.Fatalf("Mempool = %v %v", ids, err)
		}
	})
	t.Run("segwit tx", func(t *testing.T) {
		id, _ := chainhash.NewHashFromStr(strings.Repeat("cd", 32))
		tx, err := c.MempoolTx(ctx, *id)
		if err != nil {
			t.Fatal(err)
		}
		if !tx.HasWitness() || len(tx.TxIn[1].Witness) != 2 || len(tx.TxOut) != 2 ||
			tx.TxOut[0].Value != 112340000 || tx.TxOut[1].Value != 223450000 {
			t.Fatalf("tx decoded wrongly: %+v", tx)
		}
	})
	t.Run("tx not found", func(t *testing.T) {
		id, _ := chainhash.NewHashFromStr(strings.Repeat("ab", 32))
		_, err := c.MempoolTx(ctx, *id)
		if !errors.Is(err, ErrTxNotFound) {
			t.Fatalf("err %v, want ErrTxNotFound", err)
		}
	})
}

func TestCoreNetworkNames(t *testing.T) {
	c, _ := fakeCore(t, map[string]string{"getblockchaininfo": "getblockchaininfo-main"})
	n, err := c.Network(context.Background())
	if err != nil || n != "mainnet" {
		t.Fatalf("Network = %q, %v", n, err)
	}
	for in, want := range map[string]string{
		"main": "mainnet", "mainnet": "mainnet", "test": "testnet", "testnet3": "testnet",
		"testnet4": "testnet4", "signet": "signet", "regtest": "regtest", "simnet": "simnet",
	} {
		if got := NormaliseNetwork(in); got != want {
			t.Errorf("NormaliseNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("warming up", func(t *testing.T) {
		c, _ := fakeCore(t, map[string]string{"getblockchaininfo": "warmup"})
		_, err := c.Network(ctx)
		if !errors.Is(err, ErrWarmingUp) || !strings.Contains(err.Error(), "Loading block index") {
			t.Fatalf("err %v, want ErrWarmingUp", err)
		}
	})
	t.Run("method not found", func(t *testing.T) {
		c, _ := fakeCore(t, nil)
		err := c.Call(ctx, "getnothing", nil)
		var rpcErr *Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != -32601 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		c, _ := fakeCore(t, nil)
		c.pass = "wrong"
		_, err := c.Network(ctx)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err %v, want ErrUnauthorized", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, _ := New("rpc://u:p@" + addr)
		_, err = c.Network(ctx)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err %v, want ErrUnreachable and ECONNREFUSED", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		c, _ := fakeCore(t, map[string]string{"getblock": "getblock"})
		c.maxBody = 100
		_, err := c.Block(ctx, chainhash.Hash{})
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("err %v, want ErrResponseTooLarge", err)
		}
	})
	t.Run("not json", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		}))
		defer srv.Close()
		c, _ := New(srv.URL)
		_, err := c.Network(ctx)
		if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c, _ := fakeCore(t, nil)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Network(cctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

// coreWithZMQ answers like Bitcoin Core: 405 to the websocket upgrade, and
// getzmqnotifications from the named recorded response with port 28332
// replaced by zmqPort.
func coreWithZMQ(t *testing.T, recording, zmqPort string) *Client {
	t.Helper()
	code, body := recorded(t, recording)
	body = []byte(strings.ReplaceAll(string(body), "28332", zmqPort))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "JSONRPC server handles only POST requests", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, _ := New(srv.URL)
	return c
}

func TestSubscribeCoreZMQ(t *testing.T) {
	pub, err := zmq.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(pub.Endpoint(), "tcp://"))
	c := coreWithZMQ(t, "getzmqnotifications", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One connection (the publishers share an address, 0.0.0.0 dialled
	// as the RPC host) with the four topics.
	if err := pub.WaitSubscriptions(ctx, len(zmqTopics)); err != nil {
		t.Fatal(err)
	}
	pub.Publish(zmq.Message{[]byte("hashblock"), make([]byte, 32), {0, 0, 0, 0}})
	<-wake
}

func TestSubscribeNone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := coreWithZMQ(t, "getzmqnotifications-none", "")
	if _, err := c.Subscribe(ctx); !errors.Is(err, ErrNoNotifications) || !strings.Contains(err.Error(), "no zmqpub") {
		t.Fatalf("Core without ZMQ: err %v, want ErrNoNotifications", err)
	}
	tls, _ := New("rpcs://u:p@127.0.0.1:1")
	if _, err := tls.Subscribe(ctx); !errors.Is(err, ErrNoNotifications) {
		t.Fatalf("TLS: err %v, want ErrNoNotifications", err)
	}
}

func TestBatchCoreDialect(t *testing.T) {
	// Core answers a batch with HTTP 200 and one response per call, each
	// with its own error, in any order.
	_, txBody := recorded(t, "getrawtransaction")
	_, nfBody := recorded(t, "getrawtransaction-notfound")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqs []request
		if err := json.NewDecoder(r.Body).Decode(&reqs); err != nil {
			t.Errorf("decode batch: %v", err)
		}
		var out []json.RawMessage
		for i := len(reqs) - 1; i >= 0; i-- { // reversed order
			var resp map[string]any
			body := txBody
			if reqs[i].Params[0] == strings.Repeat("ab", 32) {
				body = nfBody
			}
			json.Unmarshal(body, &resp)
			resp["id"] = reqs[i].ID
			b, _ := json.Marshal(resp)
			out = append(out, b)
		}
		json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	known, _ := chainhash.NewHashFromStr(strings.Repeat("cd", 32))
	gone, _ := chainhash.NewHashFromStr(strings.Repeat("ab", 32))
	txs, err := c.MempoolTxs(context.Background(), []chainhash.Hash{*known, *gone, *known})
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 3 || txs[0] == nil || txs[1] != nil || txs[2] == nil || txs[0].TxOut[0].Value != 112340000 {
		t.Fatalf("MempoolTxs = %v", txs)
	}
}
