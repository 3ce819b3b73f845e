package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/shopspring/decimal"
)

// FuzzDecodeInvoiceRequest checks that no body makes the decoder panic,
// that a rejection is always a 400, and that an accepted request always
// carries a price the gateway can parse and Extra that is valid JSON.
// Seeds live in testdata/fuzz/FuzzDecodeInvoiceRequest.
func FuzzDecodeInvoiceRequest(f *testing.F) {
	f.Add([]byte(`{"price":10,"currency":"USD","token":"T"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := DecodeInvoiceRequest(body)
		if err != nil {
			if e := bitpay.AsError(err); e.Status != 400 {
				t.Fatalf("rejection is a %d, not a 400: %v", e.Status, err)
			}
			return
		}
		if _, err := decimal.NewFromString(q.Price); err != nil {
			t.Fatalf("accepted price %q does not parse: %v", q.Price, err)
		}
		if q.Fields.Extra != nil && !json.Valid(q.Fields.Extra) {
			t.Fatalf("Extra is not JSON: %s", q.Fields.Extra)
		}
		if q.AcceptanceWindow < 0 {
			t.Fatalf("negative window accepted: %d", q.AcceptanceWindow)
		}
		n, err := q.ToNewInvoice()
		if err != nil && !errors.Is(err, gateway.ErrInvalid) {
			t.Fatalf("ToNewInvoice: %v", err)
		}
		if n.Window < 0 || n.Window > gateway.MaxWindow {
			t.Fatalf("window %v out of range", n.Window)
		}
	})
}
