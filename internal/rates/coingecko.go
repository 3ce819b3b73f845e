package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"
)

// CoinGeckoURL is CoinGecko's free public API.
const CoinGeckoURL = "https://api.coingecko.com"

// CoinGecko reads CoinGecko's aggregated bitcoin price from
// GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd,eur,... which, unlike
// the exchanges, answers with bare JSON numbers.
type CoinGecko struct {
	// BaseURL replaces CoinGeckoURL when set (tests point it at loopback).
	BaseURL string
	// Client is the HTTP client; nil means a shared client with a timeout.
	Client *http.Client
	// Currencies lists the fiat currencies to ask for; empty means
	// DefaultCurrencies.
	Currencies []string
}

// Name returns "coingecko".
func (g *CoinGecko) Name() string { return "coingecko" }

// Fetch returns CoinGecko's bitcoin price in every configured currency.
func (g *CoinGecko) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	base := CoinGeckoURL
	if g.BaseURL != "" {
		base = strings.TrimRight(g.BaseURL, "/")
	}
	currencies := normCurrencies(g.Currencies)
	vs := make([]string, len(currencies))
	for i, c := range currencies {
		vs[i] = strings.ToLower(c)
	}
	// The response is {"bitcoin":{"usd":111813,"eur":95874.12,...}}.
	var resp map[string]map[string]json.Number
	url := base + "/api/v3/simple/price?ids=bitcoin&vs_currencies=" + strings.Join(vs, ",")
	if err := getJSON(ctx, g.Client, url, &resp); err != nil {
		return nil, fmt.Errorf("coingecko: %w", err)
	}
	prices, ok := resp["bitcoin"]
	if !ok {
		return nil, fmt.Errorf("coingecko: response has no bitcoin prices")
	}
	rates := make(map[string]decimal.Decimal, len(currencies))
	for i, c := range currencies {
		n, ok := prices[vs[i]]
		if !ok {
			return nil, fmt.Errorf("coingecko: no bitcoin price in %s", c)
		}
		rate, err := parseRate(n.String())
		if err != nil {
			return nil, fmt.Errorf("coingecko: %s: %w", c, err)
		}
		rates[c] = rate
	}
	return rates, nil
}
