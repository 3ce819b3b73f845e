package esplora

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
)

// recordedTx is the transaction tx-broadcast-ok.txt names.
func recordedTx(t *testing.T) (*wire.MsgTx, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "tx-refund.hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return tx, strings.TrimSpace(string(raw))
}

// answerServer answers every request with a recorded file (or body) and
// status, and records the last request's method, path and body.
func answerServer(t *testing.T, status int, file string) (*Client, *[3]string) {
	t.Helper()
	var last [3]string
	body := []byte(file)
	if !strings.HasPrefix(file, "{") && !strings.HasPrefix(file, "[") && strings.Contains(file, ".") {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", file)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last = [3]string{r.Method, r.URL.Path, string(b)}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	return c, &last
}

func TestSendTx(t *testing.T) {
	tx, txHex := recordedTx(t)
	tests := []struct {
		name     string
		status   int
		file     string
		rejected bool // wraps ErrTxRejected
		ok       bool
	}{
		{"accepted", 200, "tx-broadcast-ok.txt", false, true},
		{"already in the chain", 400, "tx-broadcast-in-chain.txt", false, true},
		{"already in the mempool", 400, "tx-broadcast-in-mempool.txt", false, true},
		{"already in btcd's mempool", 400, "tx-broadcast-btcd-known.txt", false, true},
		{"fee too low", 400, "tx-broadcast-rejected.txt", true, false},
		{"inputs spent", 400, "tx-broadcast-missing-inputs.txt", true, false},
		{"rate limited", 429, "rate-limited.txt", false, false},
		{"server error", 502, "upstream.error", false, false},
		{"another txid", 200, "tx-status-confirmed.json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "upstream.error" {
				file = "Bad Gateway"
			}
			c, last := answerServer(t, tt.status, file)
			txid, err := c.SendTx(context.Background(), tx)
			if txid != tx.TxHash() {
				t.Errorf("txid %s, want %s", txid, tx.TxHash())
			}
			if got := *last; got != [3]string{"POST", "/api/tx", txHex} {
				t.Errorf("request %q", got)
			}
			if (err == nil) != tt.ok || errors.Is(err, ErrTxRejected) != tt.rejected {
				t.Fatalf("err %v; want ok %v, rejected %v", err, tt.ok, tt.rejected)
			}
			if !tt.ok && !tt.rejected && tt.status != 200 && !Transient(err) {
				t.Errorf("err %v should be transient", err)
			}
		})
	}
}

func TestFeeRate(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		blocks int
		rate   money.Sats
		ok     bool
		err    bool
	}{
		{"six blocks", "fee-estimates.json", 6, 8, true, false},         // 7.217 rounded up
		{"one block", "fee-estimates.json", 1, 13, true, false},         // 12.384
		{"between targets", "fee-estimates.json", 100, 3, true, false},  // 25: 2.874
		{"a day", "fee-estimates.json", 144, 2, true, false},            // 1.507
		{"beyond the last", "fee-estimates.json", 5000, 2, true, false}, // 1008: 1.001
		{"no estimates", "fee-estimates-empty.json", 6, 0, false, false},
		{"no target at or below", `{"144":1.5}`, 6, 0, false, false},
		{"whole number", `{"6":3}`, 6, 3, true, false},
		{"zero", `{"6":0}`, 6, 0, false, false},
		{"exponent", `{"6":2.5e0}`, 6, 3, true, false},
		{"negative", `{"6":-1}`, 6, 0, false, true},
		{"a string", `{"6":"7"}`, 6, 0, false, true},
		{"absurd", `{"6":1e9}`, 6, 0, false, true},
		{"bad target", `{"six":7}`, 6, 0, false, true},
		{"padded target", `{"06":7}`, 6, 0, false, true},
		{"a list", `[7]`, 6, 0, false, true},
		{"trailing", `{"6":7} {"6":1}`, 6, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, last := answerServer(t, 200, tt.body)
			rate, ok, err := c.FeeRate(context.Background(), tt.blocks)
			if (err != nil) != tt.err || ok != tt.ok || rate != tt.rate {
				t.Fatalf("FeeRate = %d, %v, %v; want %d, %v, err %v", rate, ok, err, tt.rate, tt.ok, tt.err)
			}
			if last[0] != "GET" || last[1] != "/api/fee-estimates" {
				t.Errorf("request %q", *last)
			}
		})
	}
	c, _ := answerServer(t, 503, "unavailable")
	if _, _, err := c.FeeRate(context.Background(), 6); !Transient(err) {
		t.Fatalf("err %v, want transient", err)
	}
}

func TestOutspends(t *testing.T) {
	ctx := context.Background()
	c, last := answerServer(t, 200, "tx-outspends.json")
	out, err := c.Outspends(ctx, txMem)
	if err != nil || len(out) != 2 {
		t.Fatalf("Outspends = %+v, %v", out, err)
	}
	if last[1] != "/api/tx/"+txMem+"/outspends" {
		t.Errorf("path %q", last[1])
	}
	if o := out[0]; !o.Spent || o.TxID != "94df788c683d81bb7d41ff51e422243e5ca0622a30b4f1445d73340beab56f1b" ||
		!o.Status.Confirmed || o.Status.BlockHeight != 936614 {
		t.Errorf("spent output %+v", o)
	}
	if out[1].Spent {
		t.Errorf("unspent output %+v", out[1])
	}
	c, _ = answerServer(t, 200, "tx-outspends-mempool.json")
	if out, err := c.Outspends(ctx, txMem); err != nil || !out[0].Spent || out[0].Status.Confirmed {
		t.Fatalf("Outspends = %+v, %v", out, err)
	}
	for _, bad := range []string{
		`[{"spent":true}]`,
		`[{"spent":true,"txid":"zz","status":{"confirmed":false}}]`,
		`[{"spent":true,"txid":"94df788c683d81bb7d41ff51e422243e5ca0622a30b4f1445d73340beab56f1b","status":{"confirmed":true}}]`,
		`{"spent":false}`,
	} {
		c, _ := answerServer(t, 200, bad)
		if out, err := c.Outspends(ctx, txMem); err == nil {
			t.Errorf("%s accepted: %+v", bad, out)
		}
	}
	c, _ = answerServer(t, 404, "tx-not-found.txt")
	if _, err := c.Outspends(ctx, txMem); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
}
