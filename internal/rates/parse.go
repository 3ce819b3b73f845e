package rates

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownProvider is returned by Parse for a provider name it does not
// know.
var ErrUnknownProvider = errors.New("unknown rate provider")

// providerNames lists the names Parse accepts, for error messages.
const providerNames = "bitstamp, coinbase, coingecko, kraken, fixed:BTC_XXX=rate,..."

// Parse builds the providers named by a KASSA_RATES setting, in order; the
// package documentation gives the grammar. Exchange providers get their
// public URLs and default currencies.
func Parse(spec string) ([]Provider, error) {
	var providers []Provider
	seen := make(map[string]bool)
	for segment := range strings.SplitSeq(spec, ";") {
		rest := segment
		for rest != "" {
			item, tail, _ := strings.Cut(rest, ",")
			rest = tail
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			var p Provider
			if name, table, ok := strings.Cut(item, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "fixed") {
				// fixed: consumes the rest of the segment, commas included.
				if rest != "" {
					table += "," + rest
					rest = ""
				}
				f, err := ParseFixed(table)
				if err != nil {
					return nil, fmt.Errorf("parse rate providers: %w", err)
				}
				p = f
			} else {
				var err error
				if p, err = named(item); err != nil {
					return nil, fmt.Errorf("parse rate providers: %w", err)
				}
			}
			if seen[p.Name()] {
				return nil, fmt.Errorf("parse rate providers: %s listed twice", p.Name())
			}
			seen[p.Name()] = true
			providers = append(providers, p)
		}
	}
	if len(providers) == 0 {
		return nil, fmt.Errorf("parse rate providers %q: no provider given (want a list of %s)", spec, providerNames)
	}
	return providers, nil
}

// named returns the exchange provider called name.
func named(name string) (Provider, error) {
	switch strings.ToLower(name) {
	case "kraken":
		return &Kraken{}, nil
	case "coinbase":
		return &Coinbase{}, nil
	case "bitstamp":
		return &Bitstamp{}, nil
	case "coingecko":
		return &CoinGecko{}, nil
	case "fixed":
		return nil, fmt.Errorf("fixed needs its rates, as in fixed:BTC_USD=50000")
	default:
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, name, providerNames)
	}
}
