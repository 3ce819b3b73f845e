package rates

import (
	"context"
	"strings"
	"testing"
)

func TestParseFixed(t *testing.T) {
	tests := []struct {
		spec    string
		want    map[string]string
		wantErr string
	}{
		{spec: "BTC_USD=50000,BTC_EUR=45000", want: map[string]string{"USD": "50000", "EUR": "45000"}},
		{spec: " btc_usd = 50000.12345678 , ", want: map[string]string{"USD": "50000.12345678"}},
		{spec: "BTC_JPY=7000000", want: map[string]string{"JPY": "7000000"}},
		{spec: "", wantErr: "no BTC_XXX=rate entries"},
		{spec: "BTC_USD", wantErr: "want BTC_XXX=rate"},
		{spec: "ETH_USD=3000", wantErr: "pair must be BTC_"},
		{spec: "BTC_US=3000", wantErr: "pair must be BTC_"},
		{spec: "BTC_USD=abc", wantErr: "not a positive decimal"},
		{spec: "BTC_USD=0", wantErr: "not a positive decimal"},
		{spec: "BTC_USD=-5", wantErr: "not a positive decimal"},
		{spec: "BTC_USD=1,BTC_usd=2", wantErr: "USD given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			f, err := ParseFixed(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseFixed(%q) err = %v, want %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFixed(%q): %v", tc.spec, err)
			}
			got, err := f.Fetch(t.Context())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			assertRates(t, got, tc.want)
		})
	}
}

func TestFixedFetchReturnsCopy(t *testing.T) {
	f, err := ParseFixed("BTC_USD=50000")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := f.Fetch(t.Context())
	delete(first, "USD")
	second, _ := f.Fetch(t.Context())
	assertRates(t, second, map[string]string{"USD": "50000"})
}

// NewFixed answers at once, with the table's rates, and refuses a bad table.
func TestNewFixed(t *testing.T) {
	rs, err := NewFixed(context.Background(), "BTC_USD=50000,BTC_EUR=45000")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := rs.Rate("EUR"); err != nil || r.String() != "45000" {
		t.Fatalf("EUR rate = %s, %v; want 45000", r, err)
	}
	if _, err := NewFixed(context.Background(), "BTC_USD"); err == nil || !strings.Contains(err.Error(), "want BTC_XXX=rate") {
		t.Fatalf("a bad table: %v", err)
	}
}
