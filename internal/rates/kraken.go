package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"
)

// KrakenURL is Kraken's public REST API.
const KrakenURL = "https://api.kraken.com"

// Kraken reads the last trade price of Kraken's XBT/fiat order books from
// GET /0/public/Ticker?pair=XBTUSD,XBTEUR,... in one request.
type Kraken struct {
	// BaseURL replaces KrakenURL when set (tests point it at loopback).
	BaseURL string
	// Client is the HTTP client; nil means a shared client with a timeout.
	Client *http.Client
	// Currencies lists the fiat currencies to ask for; empty means
	// DefaultCurrencies.
	Currencies []string
}

// krakenTicker is the Ticker response. Kraken keys each result by its own
// pair name, which for the oldest markets differs from the requested one:
// XBTUSD comes back as "XXBTZUSD", while XBTCHF comes back as "XBTCHF".
type krakenTicker struct {
	Error  []string `json:"error"`
	Result map[string]struct {
		// C is the last trade closed: [price, lot volume].
		C []json.Number `json:"c"`
	} `json:"result"`
}

// Name returns "kraken".
func (k *Kraken) Name() string { return "kraken" }

// Fetch asks Kraken for every configured pair and returns the last trade
// prices.
func (k *Kraken) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	base := KrakenURL
	if k.BaseURL != "" {
		base = strings.TrimRight(k.BaseURL, "/")
	}
	currencies := normCurrencies(k.Currencies)
	pairs := make([]string, len(currencies))
	for i, c := range currencies {
		pairs[i] = "XBT" + c
	}
	var resp krakenTicker
	url := base + "/0/public/Ticker?pair=" + strings.Join(pairs, ",")
	if err := getJSON(ctx, k.Client, url, &resp); err != nil {
		return nil, fmt.Errorf("kraken: %w", err)
	}
	if len(resp.Error) > 0 {
		return nil, fmt.Errorf("kraken: %s", strings.Join(resp.Error, "; "))
	}
	rates := make(map[string]decimal.Decimal, len(currencies))
	for _, c := range currencies {
		t, ok := resp.Result["XXBTZ"+c]
		if !ok {
			t, ok = resp.Result["XBT"+c]
		}
		if !ok {
			return nil, fmt.Errorf("kraken: no ticker for XBT%s in response", c)
		}
		if len(t.C) == 0 {
			return nil, fmt.Errorf("kraken: ticker for XBT%s has no last trade", c)
		}
		rate, err := parseRate(t.C[0].String())
		if err != nil {
			return nil, fmt.Errorf("kraken: XBT%s last trade: %w", c, err)
		}
		rates[c] = rate
	}
	return rates, nil
}
