package esplora

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// ErrTxRejected: the server's node refused the transaction (its inputs are
// spent or missing, its fee too low, a script fails…). Esplora answers
// such a refusal with HTTP 400 and the node's error; the wrapped
// *HTTPError holds it.
var ErrTxRejected = errors.New("esplora: the server rejected the transaction")

// maxFeeRate bounds a plausible fee estimate, in sat/vB (as rpc's).
const maxFeeRate = 1_000_000

// post sends body to base+path and returns the body of a 2xx answer.
func (c *Client) post(ctx context.Context, path, body string) ([]byte, error) {
	return c.do(ctx, http.MethodPost, path, body)
}

// do makes one request (a text body for POST) and returns the body of a
// 2xx answer.
func (c *Client) do(ctx context.Context, method, path, body string) ([]byte, error) {
	what := method + " " + path
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w: %w", what, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	return c.read(resp, what)
}

// read returns the body of a 2xx answer, or an *HTTPError.
func (c *Client) read(resp *http.Response, what string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w: %w", what, ErrUnreachable, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("%s: response over %d bytes", what, c.maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		he := &HTTPError{StatusCode: resp.StatusCode, Body: snippet(body)}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			he.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, fmt.Errorf("%s: %w", what, he)
	}
	return body, nil
}

// SendTx sends a signed transaction (POST /tx with its hex) and returns its
// txid. Sending is idempotent: a server whose node already has the
// transaction, in its mempool or in a block, counts as having accepted
// it, so a retry after a crash never fails for having succeeded before. A
// refusal (HTTP 400) wraps ErrTxRejected; rate limiting, server errors
// and an unreachable server do not, and are worth sending again.
func (c *Client) SendTx(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("send transaction: serialize: %w", err)
	}
	txid := tx.TxHash()
	body, err := c.post(ctx, "/tx", hex.EncodeToString(buf.Bytes()))
	var he *HTTPError
	switch {
	case err == nil:
		if got := strings.TrimSpace(string(body)); got != txid.String() {
			return txid, fmt.Errorf("send transaction %s: server answered txid %q", txid, snippet(body))
		}
		return txid, nil
	case errors.As(err, &he) && alreadyHas(he.Body):
		return txid, nil
	case errors.As(err, &he) && he.StatusCode == http.StatusBadRequest:
		return txid, fmt.Errorf("send transaction %s: %w: %w", txid, ErrTxRejected, err)
	}
	return txid, fmt.Errorf("send transaction %s: %w", txid, err)
}

// alreadyHas reports a refusal that means the server's node has the
// transaction. Esplora passes the node's sendrawtransaction error on as
// `sendrawtransaction RPC error: {"code":…,"message":…}`: Bitcoin Core's
// -27 (RPC_VERIFY_ALREADY_IN_CHAIN: "Transaction already in block chain",
// "Transaction outputs already in utxo set"), txn-already-in-mempool,
// txn-already-known and txn-same-nonwitness-data-in-mempool (the same
// txid with another witness: the spend's transaction all the same), and
// btcd's "already have transaction" and "transaction already exists" for
// a server on btcd.
func alreadyHas(body string) bool {
	m := strings.ToLower(body)
	if strings.Contains(strings.ReplaceAll(m, " ", ""), `"code":-27`) {
		return true
	}
	for _, s := range []string{"txn-already-in-mempool", "txn-already-known", "txn-same-nonwitness-data-in-mempool",
		"transaction already in block chain", "already in utxo set", "already have transaction", "transaction already exists"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// FeeRate returns the fee rate, in satoshis per vbyte rounded up, that
// should confirm a transaction within blocks (GET /fee-estimates: a JSON
// object of confirmation targets to sat/vB). It takes the estimate for the
// nearest target at or below blocks, so the rate never aims slower than
// asked; ok is false when the server has none (an empty object, as a new
// or regtest server answers). Rates are read as decimals, never floats. A
// key that is not a target or a rate that is negative, not a number or
// implausibly high (over 1,000,000 sat/vB) refuses the whole answer.
func (c *Client) FeeRate(ctx context.Context, blocks int) (rate money.Sats, ok bool, err error) {
	body, err := c.get(ctx, "/fee-estimates")
	if err != nil {
		return 0, false, err
	}
	var est map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&est); err != nil {
		return 0, false, fmt.Errorf("GET /fee-estimates: decode: %w", err)
	}
	if dec.More() {
		return 0, false, errors.New("GET /fee-estimates: trailing data after the estimates")
	}
	best, found := 0, decimal.Decimal{}
	for k, v := range est {
		target, err := strconv.Atoi(k)
		if err != nil || target < 1 || strconv.Itoa(target) != k {
			return 0, false, fmt.Errorf("GET /fee-estimates: target %q is not a number of blocks", snippet([]byte(k)))
		}
		var n json.Number // a JSON number only: json.Number would take "7" too
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return 0, false, fmt.Errorf("GET /fee-estimates: rate %s for %d blocks is not a number", snippet(v), target)
		}
		d, err := decimal.NewFromString(n.String())
		if err != nil || d.IsNegative() || d.GreaterThan(decimal.NewFromInt(maxFeeRate)) {
			return 0, false, fmt.Errorf("GET /fee-estimates: rate %q for %d blocks is not a plausible sat/vB", snippet([]byte(v)), target)
		}
		if target <= blocks && target > best {
			best, found = target, d
		}
	}
	if best == 0 || !found.IsPositive() {
		return 0, false, nil
	}
	return money.Sats(found.Ceil().IntPart()), true, nil
}
