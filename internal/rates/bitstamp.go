package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"
)

// BitstampURL is Bitstamp's public REST API.
const BitstampURL = "https://www.bitstamp.net"

// bitstampCurrencies are the fiat currencies with a BTC market on Bitstamp.
var bitstampCurrencies = []string{"USD", "EUR", "GBP"}

// Bitstamp reads the last trade price of Bitstamp's BTC/fiat markets from
// GET /api/v2/ticker/btcusd/ and its siblings, one request per currency.
type Bitstamp struct {
	// BaseURL replaces BitstampURL when set (tests point it at loopback).
	BaseURL string
	// Client is the HTTP client; nil means a shared client with a timeout.
	Client *http.Client
	// Currencies lists the fiat currencies to ask for; empty means USD, EUR
	// and GBP, the markets Bitstamp lists.
	Currencies []string
}

// bitstampTicker is the part of the ticker response kassa reads. Bitstamp
// prints prices as strings; json.Number accepts those as well as bare
// numbers.
type bitstampTicker struct {
	Last json.Number `json:"last"`
}

// Name returns "bitstamp".
func (b *Bitstamp) Name() string { return "bitstamp" }

// Fetch asks Bitstamp for each configured market in turn and returns the last
// trade prices; any failing market fails the whole fetch.
func (b *Bitstamp) Fetch(ctx context.Context) (map[string]decimal.Decimal, error) {
	base := BitstampURL
	if b.BaseURL != "" {
		base = strings.TrimRight(b.BaseURL, "/")
	}
	currencies := b.Currencies
	if len(currencies) == 0 {
		currencies = bitstampCurrencies
	}
	currencies = normCurrencies(currencies)
	rates := make(map[string]decimal.Decimal, len(currencies))
	for _, c := range currencies {
		market := "btc" + strings.ToLower(c)
		var t bitstampTicker
		if err := getJSON(ctx, b.Client, base+"/api/v2/ticker/"+market+"/", &t); err != nil {
			return nil, fmt.Errorf("bitstamp: %w", err)
		}
		if t.Last == "" {
			return nil, fmt.Errorf("bitstamp: %s ticker has no last price", market)
		}
		rate, err := parseRate(t.Last.String())
		if err != nil {
			return nil, fmt.Errorf("bitstamp: %s last price: %w", market, err)
		}
		rates[c] = rate
	}
	return rates, nil
}
