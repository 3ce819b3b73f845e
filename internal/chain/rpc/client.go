package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// maxResponse bounds a response body: a 4 MB block is 8 MB of hex, plus
// the JSON envelope.
const maxResponse = 32 << 20

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrUnauthorized means the node refused the RPC user or password.
	ErrUnauthorized = errors.New("rpc: unauthorized (check the RPC user and password)")
	// ErrUnreachable means the node could not be reached (refused,
	// unresolvable, timed out).
	ErrUnreachable = errors.New("rpc: node unreachable")
	// ErrWarmingUp means the node is starting (Core's RPC_IN_WARMUP, -28).
	ErrWarmingUp = errors.New("rpc: node is warming up")
	// ErrTxNotFound means the transaction is neither in the mempool nor,
	// where the node can tell, in the chain (RPC_INVALID_ADDRESS_OR_KEY, -5).
	ErrTxNotFound = errors.New("rpc: transaction not found")
	// ErrResponseTooLarge means the node sent more than the client accepts.
	ErrResponseTooLarge = errors.New("rpc: response too large")
)

// The JSON-RPC error codes both nodes use for the cases above.
const (
	codeInvalidAddressOrKey = -5
	codeInWarmup            = -28
)

// Error is an error the node answered with.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Is lets errors.Is match the warm-up and not-found codes to the sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrWarmingUp:
		return e.Code == codeInWarmup
	case ErrTxNotFound:
		return e.Code == codeInvalidAddressOrKey
	}
	return false
}

// Client calls one node. It is safe for concurrent use.
type Client struct {
	endpoint string // http(s)://host:port/path without credentials
	user     string
	pass     string
	http     *http.Client
	maxBody  int64
	id       atomic.Uint64
}

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (for TLS settings or tests).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTimeout sets the timeout of one call (30 s by default).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.http.Timeout = d } }

// New returns a client for rawURL, which is rpc://user:pass@host:port
// (plain HTTP), rpcs://… (HTTPS), http://… or https://…. A path, if any,
// is kept (Core's /wallet/NAME endpoints).
func New(rawURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse rpc url: %w", err)
	}
	switch u.Scheme {
	case "rpc", "http":
		u.Scheme = "http"
	case "rpcs", "https":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("rpc url scheme %q: want rpc, rpcs, http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("rpc url has no host")
	}
	c := &Client{http: &http.Client{Timeout: 30 * time.Second}, maxBody: maxResponse}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	c.endpoint = u.String()
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Endpoint returns the URL the client posts to, without credentials, for
// logs.
func (c *Client) Endpoint() string { return c.endpoint }

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// Call invokes method with positional params and decodes the result into
// out (which may be nil).
func (c *Client) Call(ctx context.Context, method string, out any, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", method, err)
	}
	raw, status, err := c.post(ctx, method, body)
	if err != nil {
		return err
	}
	// Core answers errors with HTTP 500 (or 404 for an unknown method) and
	// a JSON body; btcd answers them with 200. Read the body either way.
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		if status == http.StatusServiceUnavailable {
			return fmt.Errorf("%s: %w (HTTP 503)", method, ErrWarmingUp)
		}
		return fmt.Errorf("%s: HTTP %d, undecodable body %q: %w", method, status, snippet(raw), err)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: %w", method, r.Error)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", method, status)
	}
	if out == nil {
		return nil
	}
	// None of the calls kassa makes answers null on success; a null or
	// missing result would otherwise decode as a zero height or hash.
	if res := bytes.TrimSpace(r.Result); len(res) == 0 || bytes.Equal(res, []byte("null")) {
		return fmt.Errorf("%s: the node answered without a result", method)
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%s: decode result: %w", method, err)
	}
	return nil
}

// BatchCall is one call of a batch: Method and Params in, Result or Err
// out.
type BatchCall struct {
	Method string
	Params []any
	Result json.RawMessage
	Err    error
}

// Batch sends the calls in one HTTP request (a JSON-RPC batch, which Core
// and btcd both accept) and fills in each call's Result or Err. The
// returned error is for the batch as a whole.
func (c *Client) Batch(ctx context.Context, calls []BatchCall) error {
	if len(calls) == 0 {
		return nil
	}
	reqs := make([]request, len(calls))
	byID := make(map[uint64]int, len(calls))
	for i, call := range calls {
		params := call.Params
		if params == nil {
			params = []any{}
		}
		id := c.id.Add(1)
		reqs[i] = request{JSONRPC: "1.0", ID: id, Method: call.Method, Params: params}
		byID[id] = i
	}
	label := fmt.Sprintf("batch of %d %s", len(calls), calls[0].Method)
	body, err := json.Marshal(reqs)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", label, err)
	}
	raw, status, err := c.post(ctx, label, body)
	if err != nil {
		return err
	}
	var rs []response
	if err := json.Unmarshal(raw, &rs); err != nil {
		var single response // a node that refuses batches answers one error
		if json.Unmarshal(raw, &single) == nil && single.Error != nil {
			return fmt.Errorf("%s: %w", label, single.Error)
		}
		return fmt.Errorf("%s: HTTP %d, undecodable body %q: %w", label, status, snippet(raw), err)
	}
	answered := 0
	for _, r := range rs {
		id, err := strconv.ParseUint(strings.Trim(string(r.ID), `"`), 10, 64)
		i, ok := byID[id]
		if err != nil || !ok {
			continue
		}
		answered++
		if r.Error != nil {
			calls[i].Err = fmt.Errorf("%s: %w", calls[i].Method, r.Error)
		} else {
			calls[i].Result = r.Result
		}
	}
	if answered != len(calls) {
		return fmt.Errorf("%s: %d of %d calls answered", label, answered, len(calls))
	}
	return nil
}

// post sends one HTTP request and returns the bounded body and status.
func (c *Client) post(ctx context.Context, label string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", label, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s: %w", label, ctx.Err())
		}
		return nil, 0, fmt.Errorf("%s at %s: %w: %w", label, c.endpoint, ErrUnreachable, unwrapNetErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, 0, fmt.Errorf("%s at %s: %w (HTTP %d)", label, c.endpoint, ErrUnauthorized, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: read response: %w: %w", label, ErrUnreachable, err)
	}
	if int64(len(raw)) > c.maxBody {
		return nil, 0, fmt.Errorf("%s: %w (over %d bytes)", label, ErrResponseTooLarge, c.maxBody)
	}
	return raw, resp.StatusCode, nil
}

// unwrapNetErr shortens the common connection errors to their cause.
func unwrapNetErr(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return syscall.ECONNREFUSED
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timeout")
	}
	return err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
