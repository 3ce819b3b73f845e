package rates

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/shopspring/decimal"
)

// Fixed is a provider that always answers with the same rates, taken from
// configuration. It suits tests, demos and merchants who set their own rate.
type Fixed struct {
	rates map[string]decimal.Decimal
}

// NewFixed returns a rate service over the fixed table spec (see
// ParseFixed), refreshed once so that it answers at once: what tests,
// benchmarks and tools that price invoices without a rate provider need.
func NewFixed(ctx context.Context, spec string) (*Rates, error) {
	fixed, err := ParseFixed(spec)
	if err != nil {
		return nil, err
	}
	rs, err := New(Config{Providers: []Provider{fixed}})
	if err != nil {
		return nil, err
	}
	if err := rs.Refresh(ctx); err != nil {
		return nil, err
	}
	return rs, nil
}

// ParseFixed parses a fixed rate table such as "BTC_USD=50000,BTC_EUR=45000".
// Each entry names a BTC pair with a three-letter fiat code and a positive
// decimal rate; a currency may appear once.
func ParseFixed(spec string) (*Fixed, error) {
	rates := make(map[string]decimal.Decimal)
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pair, value, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("fixed rate %q: want BTC_XXX=rate", entry)
		}
		pair = strings.ToUpper(strings.TrimSpace(pair))
		code, ok := strings.CutPrefix(pair, "BTC_")
		if !ok || !validCode(code) {
			return nil, fmt.Errorf("fixed rate %q: pair must be BTC_ and a three-letter currency code", entry)
		}
		if _, dup := rates[code]; dup {
			return nil, fmt.Errorf("fixed rate %q: %s given twice", entry, code)
		}
		rate, err := parseRate(value)
		if err != nil {
			return nil, fmt.Errorf("fixed rate %q: %w", entry, err)
		}
		rates[code] = rate
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("fixed rates %q: no BTC_XXX=rate entries", spec)
	}
	return &Fixed{rates: rates}, nil
}

// Name returns "fixed".
func (f *Fixed) Name() string { return "fixed" }

// Fetch returns a copy of the configured rates; it never fails.
func (f *Fixed) Fetch(context.Context) (map[string]decimal.Decimal, error) {
	return maps.Clone(f.rates), nil
}
