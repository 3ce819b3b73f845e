package regtest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// EsploraOptions are the node options ServeEsplora needs: btcd indexes
// transactions and addresses (mempool included), which the address and
// outspend answers are made from.
func EsploraOptions(opts Options) Options {
	opts.TxIndex = true
	opts.ExtraArgs = append(opts.ExtraArgs, "--addrindex")
	return opts
}

// ServeEsplora serves, on loopback, the part of the Esplora HTTP API kassa
// uses, answered from the node (started with EsploraOptions), in the
// shapes Blockstream's esplora answers: the tip, block hashes by height,
// an address's transactions (mempool first, then confirmed, newest
// first), a transaction, its status and outspends, POST /tx (a refusal is
// HTTP 400 with the node's error as esplora passes it on) and
// /fee-estimates (btcd has none on regtest: {}). It returns the API's base
// URL and stops serving when the test ends.
func ServeEsplora(t TB, n *Node) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("esplora listener: %v", err)
	}
	srv := &http.Server{Handler: &esploraServer{n: n}}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/api"
}

type esploraServer struct{ n *Node }

// esTx, esOut, esStatus and esOutspend are esplora's JSON shapes.
type esTx struct {
	TxID   string   `json:"txid"`
	Vout   []esOut  `json:"vout"`
	Status esStatus `json:"status"`
}

type esOut struct {
	ScriptPubKey string `json:"scriptpubkey"`
	Address      string `json:"scriptpubkey_address,omitempty"`
	Value        int64  `json:"value"`
}

type esStatus struct {
	Confirmed   bool   `json:"confirmed"`
	BlockHeight int32  `json:"block_height,omitempty"`
	BlockHash   string `json:"block_hash,omitempty"`
}

type esOutspend struct {
	Spent  bool      `json:"spent"`
	TxID   string    `json:"txid,omitempty"`
	Vin    uint32    `json:"vin"`
	Status *esStatus `json:"status,omitempty"`
}

func (s *esploraServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(path, "/")
	var body any
	var err error
	switch {
	case r.Method == http.MethodPost && path == "tx":
		s.sendTx(w, r)
		return
	case path == "blocks/tip/hash":
		body, err = s.text(s.tipHash())
	case path == "blocks/tip/height":
		h, herr := s.tipHeight()
		body, err = strconv.Itoa(int(h)), herr
	case len(parts) == 2 && parts[0] == "block-height":
		body, err = s.blockHash(parts[1])
	case path == "fee-estimates":
		body = map[string]float64{}
	case len(parts) == 3 && parts[0] == "address" && parts[2] == "txs":
		body, err = s.addressTxs(parts[1])
	case len(parts) == 2 && parts[0] == "tx":
		body, err = s.tx(parts[1])
	case len(parts) == 3 && parts[0] == "tx" && parts[2] == "status":
		var tx esTx
		tx, err = s.tx(parts[1])
		body = tx.Status
	case len(parts) == 3 && parts[0] == "tx" && parts[2] == "outspends":
		body, err = s.outspends(parts[1])
	default:
		http.NotFound(w, r)
		return
	}
	var nf notFound
	switch {
	case errors.As(err, &nf):
		http.Error(w, string(nf), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if text, ok := body.(string); ok {
		_, _ = io.WriteString(w, text)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// notFound is a 404 with its text.
type notFound string

func (e notFound) Error() string { return string(e) }

func (s *esploraServer) text(h chainhash.Hash, err error) (string, error) { return h.String(), err }

func (s *esploraServer) tipHash() (chainhash.Hash, error) {
	c, err := s.n.Client()
	if err != nil {
		return chainhash.Hash{}, err
	}
	h, err := c.GetBestBlockHash()
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

func (s *esploraServer) tipHeight() (int32, error) {
	c, err := s.n.Client()
	if err != nil {
		return 0, err
	}
	h, err := c.GetBlockCount()
	return int32(h), err
}

func (s *esploraServer) blockHash(height string) (string, error) {
	h, err := strconv.ParseInt(height, 10, 32)
	if err != nil {
		return "", notFound("Block not found")
	}
	c, err := s.n.Client()
	if err != nil {
		return "", err
	}
	hash, err := c.GetBlockHash(h)
	if err != nil {
		return "", notFound("Block not found")
	}
	return hash.String(), nil
}

// convert makes esplora's transaction from the node's raw hex and
// confirmations.
func (s *esploraServer) convert(rawHex, blockHash string, confirmations uint64, tip int32) (esTx, error) {
	raw, err := hex.DecodeString(rawHex)
	if err != nil {
		return esTx{}, err
	}
	var msg wire.MsgTx
	if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
		return esTx{}, err
	}
	tx := esTx{TxID: msg.TxHash().String(), Vout: []esOut{}}
	for _, out := range msg.TxOut {
		o := esOut{ScriptPubKey: hex.EncodeToString(out.PkScript), Value: out.Value}
		if _, addrs, _, err := txscript.ExtractPkScriptAddrs(out.PkScript, s.n.Params()); err == nil && len(addrs) == 1 {
			o.Address = addrs[0].EncodeAddress()
		}
		tx.Vout = append(tx.Vout, o)
	}
	if confirmations > 0 {
		tx.Status = esStatus{Confirmed: true, BlockHeight: tip - int32(confirmations) + 1, BlockHash: blockHash}
	}
	return tx, nil
}

func (s *esploraServer) tx(txid string) (esTx, error) {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return esTx{}, notFound("Invalid hex string")
	}
	c, err := s.n.Client()
	if err != nil {
		return esTx{}, err
	}
	tip, err := s.tipHeight()
	if err != nil {
		return esTx{}, err
	}
	res, err := c.GetRawTransactionVerbose(h)
	if err != nil {
		return esTx{}, notFound("Transaction not found")
	}
	return s.convert(res.Hex, res.BlockHash, res.Confirmations, tip)
}

// search lists the node's transactions touching an address, newest first
// (btcd's address index, mempool included); none for an address it never
// saw.
func (s *esploraServer) search(addr string) ([]*btcjson.SearchRawTransactionsResult, int32, error) {
	a, err := address.DecodeAddress(addr, s.n.Params())
	if err != nil {
		return nil, 0, notFound("Invalid Bitcoin address")
	}
	c, err := s.n.Client()
	if err != nil {
		return nil, 0, err
	}
	tip, err := s.tipHeight()
	if err != nil {
		return nil, 0, err
	}
	res, err := c.SearchRawTransactionsVerbose(a, 0, 100, false, true, nil)
	var rpcErr *btcjson.RPCError
	if errors.As(err, &rpcErr) && rpcErr.Code == btcjson.ErrRPCNoTxInfo {
		return nil, tip, nil
	}
	return res, tip, err
}

func (s *esploraServer) addressTxs(addr string) ([]esTx, error) {
	res, tip, err := s.search(addr)
	if err != nil {
		return nil, err
	}
	txs := []esTx{}
	for _, r := range res {
		tx, err := s.convert(r.Hex, r.BlockHash, r.Confirmations, tip)
		if err != nil {
			return nil, err
		}
		txs = append(txs, tx)
	}
	return txs, nil
}

// outspends finds, for each output, the transaction spending it among
// those btcd's address index lists for the output's address (mempool
// included: btcd's gettxout does not see mempool spends).
func (s *esploraServer) outspends(txid string) ([]esOutspend, error) {
	tx, err := s.tx(txid)
	if err != nil {
		return nil, err
	}
	out := make([]esOutspend, len(tx.Vout))
	for i, o := range tx.Vout {
		if o.Address == "" {
			continue
		}
		res, tip, err := s.search(o.Address)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			for vin, in := range r.Vin {
				if in.Txid == txid && in.Vout == uint32(i) {
					spender, err := s.convert(r.Hex, r.BlockHash, r.Confirmations, tip)
					if err != nil {
						return nil, err
					}
					out[i] = esOutspend{Spent: true, TxID: spender.TxID, Vin: uint32(vin), Status: &spender.Status}
				}
			}
		}
	}
	return out, nil
}

// sendTx sends the posted hex; the node's refusal is esplora's HTTP 400
// with the node's error.
func (s *esploraServer) sendTx(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(body)))
	var msg wire.MsgTx
	if err == nil {
		err = msg.Deserialize(bytes.NewReader(raw))
	}
	if err != nil {
		http.Error(w, "sendrawtransaction RPC error: {\"code\":-22,\"message\":\"TX decode failed\"}", http.StatusBadRequest)
		return
	}
	c, err := s.n.Client()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h, err := c.SendRawTransaction(&msg, true)
	var rpcErr *btcjson.RPCError
	if errors.As(err, &rpcErr) {
		detail, _ := json.Marshal(map[string]any{"code": rpcErr.Code, "message": rpcErr.Message})
		http.Error(w, fmt.Sprintf("sendrawtransaction RPC error: %s", detail), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.WriteString(w, h.String())
}
