package esplora

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
)

// maxResponse bounds a response: an address page is at most 75
// transactions.
const maxResponse = 8 << 20

// ErrNotFound is an HTTP 404: an unknown transaction or block.
var ErrNotFound = errors.New("esplora: not found")

// ErrUnreachable means the server could not be reached.
var ErrUnreachable = errors.New("esplora: server unreachable")

// HTTPError is a non-2xx answer.
type HTTPError struct {
	StatusCode int
	Body       string
	// RetryAfter is the server's Retry-After, if it sent one in seconds.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("esplora: HTTP %d: %s", e.StatusCode, e.Body)
}

// Is matches a 404 to ErrNotFound.
func (e *HTTPError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// Transient reports whether err is worth retrying later: rate limiting,
// a server error or an unreachable server.
func Transient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500
	}
	return errors.Is(err, ErrUnreachable)
}

// RateLimited reports whether err is an HTTP 429, and the delay the server
// asked for (0 if none).
func RateLimited(err error) (bool, time.Duration) {
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests {
		return true, he.RetryAfter
	}
	return false, 0
}

// Client calls one Esplora server. It is safe for concurrent use.
type Client struct {
	base    string // without a trailing slash, e.g. https://blockstream.info/api
	http    *http.Client
	maxBody int64
}

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the API at baseURL (http or https, e.g.
// https://blockstream.info/testnet/api).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse esplora url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("esplora url scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("esplora url has no host")
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), http: &http.Client{Timeout: 20 * time.Second}, maxBody: maxResponse}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the API's base URL.
func (c *Client) BaseURL() string { return c.base }

// get fetches base+path and returns the body of a 2xx answer.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, "")
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	body, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

func (c *Client) getHash(ctx context.Context, path string) (chainhash.Hash, error) {
	body, err := c.get(ctx, path)
	if err != nil {
		return chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(strings.TrimSpace(string(body)))
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return *h, nil
}

// TipHeight returns the height of the best block (GET /blocks/tip/height).
func (c *Client) TipHeight(ctx context.Context) (int32, error) {
	body, err := c.get(ctx, "/blocks/tip/height")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("GET /blocks/tip/height: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("GET /blocks/tip/height: negative height %d", n)
	}
	return int32(n), nil
}

// TipHash returns the hash of the best block (GET /blocks/tip/hash).
func (c *Client) TipHash(ctx context.Context) (chainhash.Hash, error) {
	return c.getHash(ctx, "/blocks/tip/hash")
}

// BlockHash returns the hash of the best chain's block at height (GET
// /block-height/:height).
func (c *Client) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	return c.getHash(ctx, "/block-height/"+strconv.Itoa(int(height)))
}

// Network tells the server's network from its genesis block.
func (c *Client) Network(ctx context.Context) (string, error) {
	g, err := c.BlockHash(ctx, 0)
	if err != nil {
		return "", fmt.Errorf("read genesis block: %w", err)
	}
	for _, p := range []struct {
		name   string
		params *chaincfg.Params
	}{
		{"mainnet", &chaincfg.MainNetParams},
		{"testnet", &chaincfg.TestNet3Params},
		{"testnet4", &chaincfg.TestNet4Params},
		{"signet", &chaincfg.SigNetParams},
		{"regtest", &chaincfg.RegressionNetParams},
	} {
		if *p.params.GenesisHash == g {
			return p.name, nil
		}
	}
	return "", fmt.Errorf("esplora: unknown genesis block %s", g)
}

// Status is where a transaction is: confirmed in a block, or not.
type Status struct {
	Confirmed   bool   `json:"confirmed"`
	BlockHeight int32  `json:"block_height"`
	BlockHash   string `json:"block_hash"`
	BlockTime   int64  `json:"block_time"`
}

// Output is a transaction output.
type Output struct {
	ScriptPubKey string `json:"scriptpubkey"` // hex
	Type         string `json:"scriptpubkey_type"`
	Address      string `json:"scriptpubkey_address"`
	Value        int64  `json:"value"` // satoshis
}

// Tx is a transaction with the fields kassa reads.
type Tx struct {
	TxID   string   `json:"txid"`
	Vout   []Output `json:"vout"`
	Status Status   `json:"status"`
}

// maxSats is every bitcoin there will ever be, in satoshis.
const maxSats = 21_000_000 * 100_000_000

// check refuses a status no Esplora server sends: confirmed without a
// block.
func (st Status) check() error {
	if !st.Confirmed {
		return nil
	}
	if st.BlockHeight <= 0 {
		return fmt.Errorf("confirmed at height %d", st.BlockHeight)
	}
	if _, err := chainhash.NewHashFromStr(st.BlockHash); err != nil || len(st.BlockHash) != 2*chainhash.HashSize {
		return fmt.Errorf("confirmed in block %q", snippet([]byte(st.BlockHash)))
	}
	return nil
}

// check refuses a transaction whose outputs could not be real: amounts
// outside 0…21M BTC or scripts that are not hex. Payments are read from
// these outputs, so a broken answer must not become a payment.
func (tx Tx) check() error {
	if err := tx.Status.check(); err != nil {
		return fmt.Errorf("esplora: tx %s: %w", snippet([]byte(tx.TxID)), err)
	}
	for i, out := range tx.Vout {
		if out.Value < 0 || out.Value > maxSats {
			return fmt.Errorf("esplora: tx %s output %d: amount %d sats", snippet([]byte(tx.TxID)), i, out.Value)
		}
		if _, err := hex.DecodeString(out.ScriptPubKey); err != nil {
			return fmt.Errorf("esplora: tx %s output %d: script is not hex", snippet([]byte(tx.TxID)), i)
		}
	}
	return nil
}

func checkTxs(txs []Tx, err error) ([]Tx, error) {
	if err != nil {
		return nil, err
	}
	for _, tx := range txs {
		if err := tx.check(); err != nil {
			return nil, err
		}
	}
	return txs, nil
}

// AddressTxs returns the address's transactions, newest first: up to 50
// unconfirmed and the 25 newest confirmed (GET /address/:addr/txs).
func (c *Client) AddressTxs(ctx context.Context, address string) ([]Tx, error) {
	var txs []Tx
	err := c.getJSON(ctx, "/address/"+url.PathEscape(address)+"/txs", &txs)
	return checkTxs(txs, err)
}

// AddressMempoolTxs returns the address's unconfirmed transactions, up to
// 50 (GET /address/:addr/txs/mempool).
func (c *Client) AddressMempoolTxs(ctx context.Context, address string) ([]Tx, error) {
	var txs []Tx
	err := c.getJSON(ctx, "/address/"+url.PathEscape(address)+"/txs/mempool", &txs)
	return checkTxs(txs, err)
}

// Tx returns a transaction (GET /tx/:txid); ErrNotFound when the server
// knows it neither in the chain nor in the mempool.
func (c *Client) Tx(ctx context.Context, txid string) (Tx, error) {
	var tx Tx
	if err := c.getJSON(ctx, "/tx/"+url.PathEscape(txid), &tx); err != nil {
		return Tx{}, err
	}
	return tx, tx.check()
}

// TxStatus returns a transaction's status (GET /tx/:txid/status);
// ErrNotFound when the server knows it neither in the chain nor in the
// mempool.
func (c *Client) TxStatus(ctx context.Context, txid string) (Status, error) {
	var s Status
	if err := c.getJSON(ctx, "/tx/"+url.PathEscape(txid)+"/status", &s); err != nil {
		return Status{}, err
	}
	if err := s.check(); err != nil {
		return Status{}, fmt.Errorf("esplora: tx %s: %w", snippet([]byte(txid)), err)
	}
	return s, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// PrevTx returns the raw transaction txid (GET /tx/:txid/hex), which a
// legacy (P2PKH) input's signer needs whole; height is not needed here.
func (c *Client) PrevTx(ctx context.Context, txid string, _ int32) ([]byte, error) {
	body, err := c.get(ctx, "/tx/"+url.PathEscape(txid)+"/hex")
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		return nil, fmt.Errorf("GET /tx/%s/hex: %w", txid, err)
	}
	return raw, nil
}
