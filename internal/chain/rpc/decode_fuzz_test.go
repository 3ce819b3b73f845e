package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// FuzzNodeAnswers serves fuzzed answers from a loopback node and checks
// what the client makes of them. In the raw modes the fuzz bytes are the
// hex result of getblock or getrawtransaction: a block is accepted only if
// its hash is the one asked for and it re-encodes to the bytes sent, and
// a transaction only if it re-encodes to the bytes sent. In the body mode
// they are the whole HTTP body: getblockcount's answer, accepted only as
// a JSON-RPC response whose result is that number; and a batch answer to
// getrawtransaction ("$1" and "$2" stand for the request ids), whose
// transactions, when accepted, re-encode to the hex the batch carried.
func FuzzNodeAnswers(f *testing.F) {
	genesis := wire.MsgBlock{Header: wire.BlockHeader{Version: 1, Timestamp: genesisTime(), Bits: 0x207fffff}}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 1}, Witness: wire.TxWitness{{1, 2}, {3}}})
	tx.AddTxOut(&wire.TxOut{Value: 50_000, PkScript: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...)})
	genesis.Transactions = []*wire.MsgTx{tx}
	var blk, txb bytes.Buffer
	if err := genesis.Serialize(&blk); err != nil {
		f.Fatal(err)
	}
	if err := tx.Serialize(&txb); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), blk.Bytes())
	f.Add(uint8(1), txb.Bytes())
	f.Add(uint8(2), []byte(`{"result":812345,"error":null,"id":1}`))
	f.Add(uint8(2), []byte(`{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}`))
	f.Add(uint8(3), []byte(`[{"result":"`+hex.EncodeToString(txb.Bytes())+`","error":null,"id":$1},`+
		`{"result":null,"error":{"code":-5,"message":"No such mempool or blockchain transaction"},"id":$2}]`))

	var answer atomic.Pointer[func(req []byte) []byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write((*answer.Load())(req))
	}))
	f.Cleanup(srv.Close)
	c, err := New(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		result := func([]byte) []byte {
			b, _ := json.Marshal(map[string]any{"result": hex.EncodeToString(data), "error": nil, "id": 1})
			return b
		}
		switch mode % 4 {
		case 0:
			answer.Store(&result)
			var want chainhash.Hash
			var h wire.BlockHeader
			if h.Deserialize(bytes.NewReader(data)) == nil {
				want = h.BlockHash()
			}
			b, err := c.Block(ctx, want)
			if err != nil {
				return
			}
			if b.BlockHash() != want {
				t.Fatalf("Block(%s) returned block %s", want, b.BlockHash())
			}
			checkReencodes(t, data, b.Serialize)
		case 1:
			answer.Store(&result)
			tx, err := c.MempoolTx(ctx, chainhash.Hash{1})
			if err != nil {
				return
			}
			checkReencodes(t, data, tx.Serialize)
		case 2:
			raw := func([]byte) []byte { return data }
			answer.Store(&raw)
			n, err := c.BlockCount(ctx)
			if err != nil {
				return
			}
			var r struct {
				Result json.Number `json:"result"`
			}
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatalf("BlockCount = %d from an answer that is not JSON-RPC: %q", n, data)
			}
			if knownNullResult && n == 0 && r.Result == "" {
				return
			}
			if got, err := strconv.ParseInt(r.Result.String(), 10, 64); err != nil || got != int64(n) {
				t.Fatalf("BlockCount = %d from %q", n, data)
			}
		case 3:
			batch := func(req []byte) []byte {
				var reqs []struct {
					ID json.RawMessage `json:"id"`
				}
				if json.Unmarshal(req, &reqs) != nil || len(reqs) != 2 {
					return nil
				}
				out := bytes.ReplaceAll(data, []byte("$1"), reqs[0].ID)
				return bytes.ReplaceAll(out, []byte("$2"), reqs[1].ID)
			}
			answer.Store(&batch)
			txs, err := c.MempoolTxs(ctx, []chainhash.Hash{{1}, {2}})
			if err != nil {
				return
			}
			if len(txs) != 2 {
				t.Fatalf("MempoolTxs returned %d transactions for 2 txids", len(txs))
			}
			for _, tx := range txs {
				if tx == nil {
					continue
				}
				var buf bytes.Buffer
				if err := tx.Serialize(&buf); err != nil {
					t.Fatalf("accepted transaction does not encode: %v", err)
				}
				var rs []struct {
					Result string `json:"result"`
				}
				_ = json.Unmarshal([]byte(strings.NewReplacer("$1", "1", "$2", "2").Replace(string(data))), &rs)
				found := false
				for _, r := range rs {
					raw, err := hex.DecodeString(r.Result)
					found = found || err == nil && bytes.HasPrefix(raw, buf.Bytes())
				}
				if !found {
					t.Fatalf("accepted transaction %x is not in the answer %q", buf.Bytes(), data)
				}
			}
		}
	})
}

// knownNullResult exempts one known weakness from FuzzNodeAnswers: Call
// decodes a null or missing result into its zero value without an error,
// so an answer {"result":null} to getblockcount reads as height 0. Set it
// to false once Call refuses a null result where a value is expected.
const knownNullResult = false

// checkReencodes checks that a decoded block or transaction encodes to the
// bytes it was read from (trailing bytes aside).
func checkReencodes(t *testing.T, data []byte, serialize func(io.Writer) error) {
	t.Helper()
	var buf bytes.Buffer
	if err := serialize(&buf); err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.HasPrefix(data, buf.Bytes()) {
		t.Fatalf("decoded %x re-encodes to %x", data, buf.Bytes())
	}
}

// genesisTime is regtest's genesis timestamp.
func genesisTime() time.Time { return time.Unix(1296688602, 0) }
