package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Facades a token can belong to (spec §1.3). FacadePublic needs no token.
const (
	FacadePublic   = ""
	FacadePOS      = "pos"
	FacadeMerchant = "merchant"
	FacadePayout   = "payout"
)

// MaxResponseBytes bounds how much of a response body the client reads; a
// longer body is an error rather than an unbounded allocation.
const MaxResponseBytes = 8 << 20

// apiVersion is the X-Accept-Version every BitPay v2 SDK sends.
const apiVersion = "2.0.0"

// defaultUserAgent names this client in requests unless WithUserAgent
// replaces it.
const defaultUserAgent = "kassa-go-client/1"

// Client calls a BitPay-compatible merchant API: kassa or bitpay.com. A
// Client is safe for concurrent use once built; its options are fixed by New.
type Client struct {
	base      string // scheme://host[/path], no trailing slash
	http      *http.Client
	key       *Key
	tokens    map[string]string
	userAgent string
}

// Option configures a Client in New.
type Option func(*Client)

// WithKey sets the client identity. With a key, requests made with a facade
// token are signed (BitAuth), and pairing and Tokens become possible.
func WithKey(k *Key) Option {
	return func(c *Client) { c.key = k }
}

// WithToken sets the token used for a facade ("pos", "merchant", "payout").
// It may be given once per facade; a later call for the same facade wins.
func WithToken(facade, token string) Option {
	return func(c *Client) { c.tokens[facade] = token }
}

// WithHTTPClient replaces http.DefaultClient, e.g. to set timeouts or a
// transport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithUserAgent replaces the User-Agent header sent with every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client for the API at baseURL, e.g. "https://bitpay.com" or
// "https://pay.example.com/api". Paths such as /invoices are appended to it.
// The base URL, as normalised here, is the prefix of every signed URL, so it
// must match the origin the server checks signatures against.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q: want scheme://host[/path] without credentials, query or fragment", baseURL)
	}
	c := &Client{
		base:      u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		http:      http.DefaultClient,
		tokens:    make(map[string]string),
		userAgent: defaultUserAgent,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// token returns the client's token for facade or ErrNoToken.
func (c *Client) token(facade string) (string, error) {
	t, ok := c.tokens[facade]
	if !ok || t == "" {
		return "", fmt.Errorf("%w %q", ErrNoToken, facade)
	}
	return t, nil
}

// param is one query parameter; a slice of them keeps the order the
// official SDKs use, which makes captured requests easy to compare.
type param struct{ key, value string }

// request describes one API call.
type request struct {
	method string
	path   string  // escaped, beginning with "/"
	query  []param // appended in order
	body   any     // JSON-encoded when not nil (POST and PUT)
	sign   bool    // add X-Identity and X-Signature
}

// do sends r and decodes the envelope's data into out (which may be nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	fullURL := c.base + r.path
	if len(r.query) > 0 {
		var q strings.Builder
		for i, p := range r.query {
			if i > 0 {
				q.WriteByte('&')
			}
			q.WriteString(url.QueryEscape(p.key))
			q.WriteByte('=')
			q.WriteString(url.QueryEscape(p.value))
		}
		fullURL += "?" + q.String()
	}

	var body []byte
	if r.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r.body); err != nil {
			return fmt.Errorf("encode request body: %w", err)
		}
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}

	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, fullURL, reader)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Accept-Version", apiVersion)
	req.Header.Set("User-Agent", c.userAgent)
	if r.sign {
		if c.key == nil {
			return ErrNoKey
		}
		req.Header.Set("X-Identity", c.key.PublicHex())
		req.Header.Set("X-Signature", c.key.sign(append([]byte(fullURL), body...)))
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if len(raw) > MaxResponseBytes {
		return fmt.Errorf("%w: body exceeds %d bytes", ErrInvalidResponse, MaxResponseBytes)
	}
	return decodeResponse(resp.StatusCode, raw, out)
}
