package chain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	// A node answering getblockchaininfo like Bitcoin Core on regtest.
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"result":{"chain":"regtest","blocks":0,"headers":0,"bestblockhash":"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"},"error":null,"id":1}`)
	}))
	defer node.Close()
	// An Esplora server on regtest.
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/block-height/0" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
	}))
	defer es.Close()
	nodeURL := strings.Replace(node.URL, "http://", "rpc://kassa:secret@", 1)
	esURL := strings.Replace(es.URL, "http://", "esplora+http://", 1) + "/api"

	tests := []struct {
		name, url, network string
		want               string // backend type, or error text
		wrongNet           bool
	}{
		{"rpc", nodeURL, "regtest", "*chain.Watcher", false},
		{"http", node.URL, "regtest", "*chain.Watcher", false},
		{"rpc wrong network", nodeURL, "mainnet", "is on regtest, but kassa is configured for mainnet", true},
		{"esplora", esURL, "regtest", "*chain.EsploraWatcher", false},
		{"esplora wrong network", esURL, "testnet", "is on regtest, but kassa is configured for testnet", true},
		{"bad scheme", "electrum://host:50001", "regtest", `scheme "electrum"`, false},
		{"no scheme", "localhost:8332", "regtest", "want rpc://", false},
	}
	if _, err := Open(context.Background(), Options{URL: nodeURL, Network: "regtest"}); err == nil {
		t.Fatal("Open without a sink succeeded")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(context.Background(), Options{URL: tt.url, Network: tt.network, Sink: &fakeSink{}})
			if strings.HasPrefix(tt.want, "*") {
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprintf("%T", b); got != tt.want {
					t.Fatalf("backend %s, want %s", got, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrWrongNetwork) != tt.wrongNet {
				t.Fatalf("errors.Is(ErrWrongNetwork) = %v", !tt.wrongNet)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}
