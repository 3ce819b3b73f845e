package money

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestBTCDueRoundsUp(t *testing.T) {
	cases := []struct {
		price, rate string
		want        Sats
	}{
		{"10", "50000", 20000},
		{"10", "55072.46", 18158},   // 18157.89… rounds up
		{"0.01", "100000", 10},      // exact
		{"0.01", "3000000000", 1},   // below one satoshi: at least 1
		{"100", "33333.33", 300001}, // 300000.003 rounds up
		{"1", "1", 100000000},       // BTC priced in BTC
		{"12345.67", "61234.5", 20161298},
	}
	for _, tc := range cases {
		got, err := BTCDue(decimal.RequireFromString(tc.price), decimal.RequireFromString(tc.rate))
		if err != nil || got != tc.want {
			t.Errorf("BTCDue(%s, %s) = %d, %v; want %d", tc.price, tc.rate, got, err, tc.want)
		}
	}
}

func TestBTCDueRejects(t *testing.T) {
	cases := []struct {
		price, rate string
		want        error
	}{
		{"0", "50000", ErrNonPositivePrice},
		{"-1", "50000", ErrNonPositivePrice},
		{"10", "0", ErrBadRate},
		{"10", "-3", ErrBadRate},
		{"1e13", "50000", ErrPriceTooLarge},
		{"999999999999", "0.00001", ErrPriceTooLarge}, // more than 21M BTC
	}
	for _, tc := range cases {
		_, err := BTCDue(decimal.RequireFromString(tc.price), decimal.RequireFromString(tc.rate))
		if !errors.Is(err, tc.want) {
			t.Errorf("BTCDue(%s, %s): want %v, have %v", tc.price, tc.rate, tc.want, err)
		}
	}
}

func TestParsePriceHonoursCurrencyPrecision(t *testing.T) {
	usd, _ := LookupCurrency("usd")
	jpy, _ := LookupCurrency("JPY")
	kwd, _ := LookupCurrency("KWD")
	ok := []struct {
		s string
		c Currency
	}{{"10", usd}, {"10.99", usd}, {"1000", jpy}, {"1.125", kwd}, {" 5.5 ", usd}}
	for _, tc := range ok {
		if _, err := ParsePrice(tc.s, tc.c); err != nil {
			t.Errorf("ParsePrice(%q, %s): %v", tc.s, tc.c.Code, err)
		}
	}
	bad := []struct {
		s string
		c Currency
	}{{"10.999", usd}, {"10.5", jpy}, {"1.1255", kwd}, {"0", usd}, {"-1", usd}, {"abc", usd}, {"", usd}, {"1e13", usd}}
	for _, tc := range bad {
		if _, err := ParsePrice(tc.s, tc.c); err == nil {
			t.Errorf("ParsePrice(%q, %s) must fail", tc.s, tc.c.Code)
		}
	}
}

func TestBTCFormatting(t *testing.T) {
	cases := map[Sats]string{0: "0", 1: "0.00000001", 29800: "0.000298", 100000000: "1", 123456789: "1.23456789"}
	for s, want := range cases {
		if got := s.BTC(); got != want {
			t.Errorf("%d.BTC() = %q, want %q", s, got, want)
		}
	}
}

func TestParseBTC(t *testing.T) {
	if s, err := ParseBTC("0.000298"); err != nil || s != 29800 {
		t.Fatalf("ParseBTC: %d %v", s, err)
	}
	for _, bad := range []string{"-1", "0.000000001", "21000001", "x"} {
		if _, err := ParseBTC(bad); err == nil {
			t.Errorf("ParseBTC(%q) must fail", bad)
		}
	}
}

func TestUnknownCurrency(t *testing.T) {
	if _, ok := LookupCurrency("XYZ"); ok {
		t.Fatal("XYZ is not a currency")
	}
	if len(Currencies()) < 40 {
		t.Fatal("the currency table is too small")
	}
}
