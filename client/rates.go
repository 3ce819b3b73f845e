package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Rate is the price of one unit of the base currency (BTC unless asked
// otherwise) in Code.
type Rate struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Rate is a decimal; it is never converted to a float.
	Rate json.Number `json:"rate"`
}

// Currency describes a currency the server knows (GET /currencies).
type Currency struct {
	Code       string      `json:"code"`
	Symbol     string      `json:"symbol"`
	Precision  int         `json:"precision"`
	Name       string      `json:"name"`
	Plural     string      `json:"plural"`
	Alts       string      `json:"alts"`
	Minimum    json.Number `json:"minimum"`
	Sanctioned bool        `json:"sanctioned"`
	Decimals   int         `json:"decimals"`
	Chain      string      `json:"chain,omitempty"`
}

// Rates returns the BTC rates for every currency (public, unsigned).
func (c *Client) Rates(ctx context.Context) ([]Rate, error) {
	var rates []Rate
	if err := c.do(ctx, request{method: http.MethodGet, path: "/rates"}, &rates); err != nil {
		return nil, fmt.Errorf("get rates: %w", err)
	}
	return rates, nil
}

// Rate returns the price of one base (e.g. "BTC") in currency (e.g. "USD")
// (public, unsigned).
func (c *Client) Rate(ctx context.Context, base, currency string) (Rate, error) {
	var rate Rate
	path := "/rates/" + url.PathEscape(base) + "/" + url.PathEscape(currency)
	if err := c.do(ctx, request{method: http.MethodGet, path: path}, &rate); err != nil {
		return Rate{}, fmt.Errorf("get rate %s/%s: %w", base, currency, err)
	}
	return rate, nil
}

// Currencies lists the currencies the server supports (public, unsigned).
func (c *Client) Currencies(ctx context.Context) ([]Currency, error) {
	var list []Currency
	if err := c.do(ctx, request{method: http.MethodGet, path: "/currencies"}, &list); err != nil {
		return nil, fmt.Errorf("get currencies: %w", err)
	}
	return list, nil
}
