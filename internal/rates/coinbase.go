package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// CoinbaseURL is Coinbase's public data API.
const CoinbaseURL = "https://api.coinbase.com"

// Coinbase reads Coinbase's reference rates for one bitcoin from
// GET /v2/exchange-rates?currency=BTC, which quotes every currency it knows
// (fiat and crypto) as decimal strings in one response.
type Coinbase struct {
	// BaseURL replaces CoinbaseURL when set (tests point it at loopback).
	BaseURL string
	// Client is the HTTP client; nil means a shared client with a timeout.
	Client *http.Client
	// Currencies lists the fiat currencies required in every answer. Empty
	// means: keep every fiat currency kassa knows (internal/money) that the
	// response quotes, and fail only if it quotes none of them.
	Currencies []string
}

// coinbaseRates is the exchange-rates response.
type coinbaseRates struct {
	Data struct {
		Currency string                 `json:"currency"`
		Rates    map[string]json.Number `json:"rates"`
	} `json:"data"`
}

// Name returns "coinbase".
func (c *Coinbase) Name() string { return "coinbase" }

// Fetch returns Coinbase's BTC reference rates for the configured fiat
// currencies.
func (c *Coinbase) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	base := CoinbaseURL
	if c.BaseURL != "" {
		base = strings.TrimRight(c.BaseURL, "/")
	}
	var resp coinbaseRates
	if err := getJSON(ctx, c.Client, base+"/v2/exchange-rates?currency=BTC", &resp); err != nil {
		return nil, fmt.Errorf("coinbase: %w", err)
	}
	if resp.Data.Currency != "BTC" {
		return nil, fmt.Errorf("coinbase: rates are for %q, want BTC", resp.Data.Currency)
	}
	if len(c.Currencies) > 0 {
		return c.pick(resp.Data.Rates, normCurrencies(c.Currencies))
	}
	rates := make(map[string]decimal.Decimal)
	for code, n := range resp.Data.Rates {
		if code == "BTC" {
			continue
		}
		if _, known := money.LookupCurrency(code); !known {
			continue // crypto assets, metals and currencies kassa cannot price in
		}
		rate, err := parseRate(n.String())
		if err != nil {
			return nil, fmt.Errorf("coinbase: %s: %w", code, err)
		}
		rates[code] = rate
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("coinbase: response quotes no fiat currency")
	}
	return rates, nil
}

// pick returns the rates for exactly the wanted currencies.
func (c *Coinbase) pick(all map[string]json.Number, want []string) (map[string]decimal.Decimal, error) {
	rates := make(map[string]decimal.Decimal, len(want))
	for _, code := range want {
		n, ok := all[code]
		if !ok {
			return nil, fmt.Errorf("coinbase: no rate for %s in response", code)
		}
		rate, err := parseRate(n.String())
		if err != nil {
			return nil, fmt.Errorf("coinbase: %s: %w", code, err)
		}
		rates[code] = rate
	}
	return rates, nil
}
