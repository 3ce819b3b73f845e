package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Token is an API token as returned by pairing (spec §2.2).
type Token struct {
	// Value is the token string sent as "token" with requests.
	Value string
	// Facade is "pos", "merchant" or "payout".
	Facade string
	// PairingCode is the seven-character code the merchant approves in the
	// dashboard after RequestToken; empty after ClaimToken.
	PairingCode string
	// PairingExpiration is when an unapproved PairingCode stops working;
	// zero when the server sent none.
	PairingExpiration time.Time
	// DateCreated is when the server created the token.
	DateCreated time.Time
	// Label is the token's free-text label.
	Label string
	// Policies bind the token to SINs; method "inactive" means the pairing
	// code still waits for approval.
	Policies []Policy
}

// Policy is one entry of a token's policies list.
type Policy struct {
	Policy string   `json:"policy"`
	Method string   `json:"method"`
	Params []string `json:"params"`
}

// tokenJSON is a token on the wire; times are epoch milliseconds.
type tokenJSON struct {
	Token             string   `json:"token"`
	Facade            string   `json:"facade"`
	PairingCode       string   `json:"pairingCode"`
	PairingExpiration int64    `json:"pairingExpiration"`
	DateCreated       int64    `json:"dateCreated"`
	Label             string   `json:"label"`
	Policies          []Policy `json:"policies"`
}

func (t tokenJSON) token() Token {
	return Token{
		Value:             t.Token,
		Facade:            t.Facade,
		PairingCode:       t.PairingCode,
		PairingExpiration: millisTime(t.PairingExpiration),
		DateCreated:       millisTime(t.DateCreated),
		Label:             t.Label,
		Policies:          t.Policies,
	}
}

// millisTime converts epoch milliseconds to a time, keeping 0 as the zero
// time.
func millisTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// tokenRequest is the body of POST /tokens; exactly one of Facade and
// PairingCode is set.
type tokenRequest struct {
	ID          string `json:"id"`
	Facade      string `json:"facade,omitempty"`
	PairingCode string `json:"pairingCode,omitempty"`
}

// RequestToken starts client-initiated pairing for facade: it registers the
// key's SIN and returns an inactive token with a pairing code. The token
// works once the merchant approves the code in the dashboard (on kassa and
// BTCPay: {base}/api-access-request?pairingCode=CODE).
func (c *Client) RequestToken(ctx context.Context, facade string) (Token, error) {
	if c.key == nil {
		return Token{}, fmt.Errorf("request %s token: %w", facade, ErrNoKey)
	}
	tok, err := c.postToken(ctx, tokenRequest{ID: c.key.SIN(), Facade: facade})
	if err != nil {
		return Token{}, fmt.Errorf("request %s token: %w", facade, err)
	}
	return tok, nil
}

// ClaimToken completes server-initiated pairing: it binds the pairing code
// the merchant created in the dashboard to the key's SIN and returns the
// active token.
func (c *Client) ClaimToken(ctx context.Context, pairingCode string) (Token, error) {
	if c.key == nil {
		return Token{}, fmt.Errorf("claim pairing code: %w", ErrNoKey)
	}
	tok, err := c.postToken(ctx, tokenRequest{ID: c.key.SIN(), PairingCode: pairingCode})
	if err != nil {
		return Token{}, fmt.Errorf("claim pairing code: %w", err)
	}
	return tok, nil
}

// postToken sends an unsigned POST /tokens, like every official SDK, and
// returns the first token of the data array.
func (c *Client) postToken(ctx context.Context, body tokenRequest) (Token, error) {
	var list []tokenJSON
	if err := c.do(ctx, request{method: http.MethodPost, path: "/tokens", body: body}, &list); err != nil {
		return Token{}, err
	}
	if len(list) == 0 || list[0].Token == "" {
		return Token{}, fmt.Errorf("%w: no token in response", ErrInvalidResponse)
	}
	return list[0].token(), nil
}

// Tokens lists the tokens paired to the client's key as facade → token
// (signed GET /tokens, spec §2.1). When a server returns several tokens for
// one facade the last one wins.
func (c *Client) Tokens(ctx context.Context) (map[string]string, error) {
	if c.key == nil {
		return nil, fmt.Errorf("list tokens: %w", ErrNoKey)
	}
	var list []map[string]json.RawMessage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/tokens", sign: true}, &list); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	tokens := make(map[string]string, len(list))
	for _, entry := range list {
		for facade, raw := range entry {
			if s := stringValue(raw); s != "" {
				tokens[facade] = s
			}
		}
	}
	return tokens, nil
}
