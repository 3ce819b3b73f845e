package rates

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec      string
		names     []string
		fixed     map[string]string // rates of the fixed provider, if any
		wantErr   string
		isUnknown bool
	}{
		{spec: "kraken,coinbase,bitstamp", names: []string{"kraken", "coinbase", "bitstamp"}},
		{spec: "kraken;coinbase; bitstamp ;coingecko", names: []string{"kraken", "coinbase", "bitstamp", "coingecko"}},
		{spec: "Kraken, COINBASE", names: []string{"kraken", "coinbase"}},
		{spec: "kraken,coinbase,", names: []string{"kraken", "coinbase"}},
		{
			spec:  "fixed:BTC_USD=50000,BTC_EUR=45000",
			names: []string{"fixed"},
			fixed: map[string]string{"USD": "50000", "EUR": "45000"},
		},
		{
			spec:  "kraken,coinbase,fixed:BTC_USD=50000,BTC_EUR=45000",
			names: []string{"kraken", "coinbase", "fixed"},
			fixed: map[string]string{"USD": "50000", "EUR": "45000"},
		},
		{
			spec:  "fixed:BTC_USD=50000,BTC_EUR=45000;kraken,bitstamp",
			names: []string{"fixed", "kraken", "bitstamp"},
			fixed: map[string]string{"USD": "50000", "EUR": "45000"},
		},
		{spec: "", wantErr: "no provider given"},
		{spec: " ; , ", wantErr: "no provider given"},
		{spec: "kraken,binance", wantErr: `unknown rate provider "binance"`, isUnknown: true},
		{spec: "kraken,kraken", wantErr: "kraken listed twice"},
		{spec: "fixed:BTC_USD=1;fixed:BTC_EUR=1", wantErr: "fixed listed twice"},
		{spec: "fixed", wantErr: "fixed needs its rates"},
		{spec: "fixed:", wantErr: "no BTC_XXX=rate entries"},
		{spec: "fixed:BTC_USD=50000,kraken", wantErr: `fixed rate "kraken"`},
		{spec: "fixed:BTC_USD=0", wantErr: "not a positive decimal"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			providers, err := Parse(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) err = %v, want %q", tc.spec, err, tc.wantErr)
				}
				if got := errors.Is(err, ErrUnknownProvider); got != tc.isUnknown {
					t.Errorf("errors.Is(err, ErrUnknownProvider) = %v, want %v", got, tc.isUnknown)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.spec, err)
			}
			var names []string
			for _, p := range providers {
				names = append(names, p.Name())
				if f, ok := p.(*Fixed); ok {
					rates, _ := f.Fetch(t.Context())
					assertRates(t, rates, tc.fixed)
				}
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("Parse(%q) names = %v, want %v", tc.spec, names, tc.names)
			}
		})
	}
}

// TestParseUsesPublicEndpoints checks that parsed exchange providers are not
// pointed anywhere but at the exchanges themselves.
func TestParseUsesPublicEndpoints(t *testing.T) {
	providers, err := Parse("kraken,coinbase,bitstamp,coingecko")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range providers {
		var base string
		switch p := p.(type) {
		case *Kraken:
			base = p.BaseURL
		case *Coinbase:
			base = p.BaseURL
		case *Bitstamp:
			base = p.BaseURL
		case *CoinGecko:
			base = p.BaseURL
		default:
			t.Fatalf("unexpected provider type %T", p)
		}
		if base != "" {
			t.Errorf("%s BaseURL = %q, want empty (the public URL)", p.Name(), base)
		}
	}
}
