package rates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Provider is one source of bitcoin exchange rates.
type Provider interface {
	// Name identifies the provider in logs, errors and Sources ("kraken").
	Name() string
	// Fetch returns the current fiat-per-BTC rates keyed by upper-case ISO
	// 4217 code ("USD"). Every rate is positive. Fetch honours ctx: it
	// returns promptly with an error once ctx is done. A rate it was asked
	// for and cannot read fails the whole fetch: no partial answers.
	Fetch(ctx context.Context) (map[string]decimal.Decimal, error)
}

// DefaultCurrencies are the fiat currencies the exchange providers ask for
// when their Currencies field is empty: the ones every listed exchange
// quotes against bitcoin in its own order book or reference rates.
var DefaultCurrencies = []string{"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD"}

// maxBody bounds how much of a provider's response is read, so a broken or
// hostile endpoint cannot make kassa buffer without limit.
const maxBody = 4 << 20

// defaultClient is used when a provider has no http.Client of its own. Its
// timeout is only a backstop: the Rates service gives every fetch a shorter
// deadline through its context.
var defaultClient = &http.Client{Timeout: 30 * time.Second}

// errBadRate marks a rate that is not a positive decimal.
var errBadRate = errors.New("rate is not a positive decimal")

// getJSON performs a GET of url and decodes a 200 response body into v,
// keeping JSON numbers as json.Number so that no rate passes through float64.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kassa")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBody)
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(body, 200))
		return fmt.Errorf("get %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode response from %s: %w", url, err)
	}
	return nil
}

// parseRate turns a rate as an exchange printed it ("64612.10000") into a
// decimal, rejecting anything that is not a positive number.
func parseRate(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return decimal.Zero, fmt.Errorf("%w: %q", errBadRate, s)
	}
	if !d.IsPositive() {
		return decimal.Zero, fmt.Errorf("%w: %q", errBadRate, s)
	}
	return d, nil
}

// normCurrencies returns the upper-cased list, or DefaultCurrencies when the
// list is empty.
func normCurrencies(list []string) []string {
	if len(list) == 0 {
		list = DefaultCurrencies
	}
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = strings.ToUpper(strings.TrimSpace(c))
	}
	return out
}

// validCode reports whether code looks like an ISO 4217 code: three
// upper-case ASCII letters.
func validCode(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := range len(code) {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}
