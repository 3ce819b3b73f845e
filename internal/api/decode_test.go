package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
)

func TestBoolish(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		ok   bool
	}{
		{`true`, true, true}, {`false`, false, true},
		{`"true"`, true, true}, {`"false"`, false, true}, {`"TRUE"`, true, true}, {`" True "`, true, true},
		{`1`, true, true}, {`0`, false, true}, {`"1"`, true, true}, {`"0"`, false, true},
		{`"yes"`, true, true}, {`"no"`, false, true},
		{`null`, false, true}, {`""`, false, true},
		{`2`, false, false}, {`"maybe"`, false, false}, {`{}`, false, false}, {`[]`, false, false}, {`1.0`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := boolish(json.RawMessage(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("boolish(%s) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestNumberish(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`10`, "10", true}, {`10.50`, "10.50", true}, {`"10.50"`, "10.50", true}, {`" 3 "`, "3", true},
		{`0.00000001`, "0.00000001", true}, {`1e-05`, "1e-05", true}, {`"1E3"`, "1E3", true},
		{`-5`, "-5", true}, {`".5"`, ".5", true},
		{`null`, "", true}, {`""`, "", true},
		{`"ten"`, "", false}, {`"10,50"`, "", false}, {`"0x10"`, "", false}, {`true`, "", false},
		{`{}`, "", false}, {`[1]`, "", false}, {`"1e999"`, "", false}, {`"NaN"`, "", false}, {`"Infinity"`, "", false},
		{`"1234567890123456789012345678901234567890123"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := numberish(json.RawMessage(tt.in))
			if (err == nil) != tt.ok || string(got) != tt.want {
				t.Fatalf("numberish(%s) = %q, %v", tt.in, got, err)
			}
		})
	}
}

func TestIntegerish(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{`1200000`, 1200000, true}, {`"1200000"`, 1200000, true}, {`1.2e6`, 1200000, true}, {`900000.0`, 900000, true},
		{`-1`, -1, true}, {`null`, 0, true},
		{`1.5`, 0, false}, {`"abc"`, 0, false}, {`true`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, _, err := integerish(json.RawMessage(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("integerish(%s) = %d, %v", tt.in, got, err)
			}
		})
	}
}

func TestStringish(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"o1"`, "o1", true}, {`123`, "123", true}, {`null`, "", true}, {`"a\/b"`, "a/b", true},
		{`true`, "", false}, {`{}`, "", false}, {`["a"]`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := stringish(json.RawMessage(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("stringish(%s) = %q, %v", tt.in, got, err)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-22", day, true},
		{"11/22/2026", day, true},
		{"1/2/2026", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"2026-11-22T00:00:00Z", day, true},
		{"2026-11-22T01:00:00+01:00", day, true},
		{"2026-11-22T10:30:00.123Z", day.Add(10*time.Hour + 30*time.Minute + 123*time.Millisecond), true},
		{"2026-11-22T00:00:00", day, true},
		{"1795392000000", time.UnixMilli(1795392000000).UTC(), true},
		{" 2026-11-22 ", day, true},
		{"", time.Time{}, false},
		{"22.11.2026", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if (err == nil) != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("ParseDate(%q) = %v, %v", tt.in, got, err)
			}
			if err != nil && !errors.Is(err, gateway.ErrInvalid) {
				t.Errorf("error must match gateway.ErrInvalid: %v", err)
			}
			if err == nil && got.Location() != time.UTC {
				t.Errorf("not UTC: %v", got)
			}
		})
	}
}

func TestFormToJSON(t *testing.T) {
	body := "price=10.50&currency=USD&orderID=A-1&fullNotifications=true&buyer%5Bname%5D=Jo&buyer%5Bcity%5D=Town" +
		"&paymentCurrencies%5B%5D=BTC&paymentCurrencies%5B%5D=LTC&buyerEmail=jo%40x&acceptanceWindow=1200000"
	j, err := FormToJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeInvoiceRequest(j)
	if err != nil {
		t.Fatalf("decode %s: %v", j, err)
	}
	if q.Price != "10.50" || q.Currency != "USD" || q.Fields.OrderID != "A-1" || !q.Fields.FullNotifications ||
		q.AcceptanceWindow != 1200000 {
		t.Errorf("request: %+v", q)
	}
	if q.Fields.Buyer != (invoice.Buyer{Name: "Jo", Locality: "Town", Email: "jo@x"}) {
		t.Errorf("buyer: %+v", q.Fields.Buyer)
	}
	if string(q.Fields.Extra) != `{"paymentCurrencies":["BTC","LTC"]}` {
		t.Errorf("extra: %s", q.Fields.Extra)
	}
	if _, err := FormToJSON([]byte("a=%zz")); err == nil {
		t.Error("a broken form was accepted")
	}
}
