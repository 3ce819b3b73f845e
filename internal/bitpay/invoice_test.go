package bitpay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/shopspring/decimal"
)

func testInvoice() *invoice.Invoice {
	created := time.UnixMilli(1620734545366).UTC()
	return &invoice.Invoice{
		ID: "KSnNNfoMDsbRzd1U9ypmVH", Token: "tok", Status: invoice.StatusNew, Speed: invoice.SpeedMedium,
		Price: decimal.RequireFromString("10"), Currency: "USD",
		Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("55072.46"),
			Due: 18158, Destination: "bcrt1qexample"}},
		CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute),
		Fields: invoice.Fields{OrderID: "A-1", PosData: `{"ref":1}`, Buyer: invoice.Buyer{Name: "Jo", Email: "jo@example.com"}},
	}
}

func TestRenderInvoiceWireTypes(t *testing.T) {
	inv := testInvoice()
	inv.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 8000, Height: 100, SeenAt: inv.CreatedAt}}
	inv.Exception = invoice.ExceptionPaidPartial
	b, err := json.Marshal(RenderInvoice(inv, ViewMerchant, "https://pay.example.com/", 105, inv.CreatedAt.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"url":               "https://pay.example.com/invoice?id=KSnNNfoMDsbRzd1U9ypmVH",
		"price":             "10",
		"invoiceTime":       "1620734545366",
		"expirationTime":    "1620735445366",
		"amountPaid":        "8000",
		"displayAmountPaid": "0.00008",
		"exceptionStatus":   "paidPartial",
		"btcPrice":          "0.00018158",
		"btcDue":            "0.00010158",
		"btcPaid":           "0.00008",
		"rate":              "55072.46",
		"posData":           `{"ref":1}`,
		"bitcoinAddress":    "bcrt1qexample",
		"underpaidAmount":   "10158",
	}
	for k, v := range want {
		if got := toString(m[k]); got != v {
			t.Errorf("%s: want %s, have %s", k, v, got)
		}
	}
	codes := m["paymentCodes"].(map[string]any)["BTC"].(map[string]any)
	if codes["BIP21"] != "bitcoin:bcrt1qexample?amount=0.00010158" || codes["BIP73"] != "https://pay.example.com/i/KSnNNfoMDsbRzd1U9ypmVH" {
		t.Errorf("paymentCodes: %v", codes)
	}
	txs := m["transactions"].([]any)
	if len(txs) != 1 || toString(txs[0].(map[string]any)["confirmations"]) != "6" {
		t.Errorf("transactions: %v", txs)
	}
	if m["buyer"].(map[string]any)["email"] != "jo@example.com" {
		t.Errorf("buyer: %v", m["buyer"])
	}
}

func TestRenderInvoiceViews(t *testing.T) {
	inv := testInvoice()
	public, _ := json.Marshal(RenderInvoice(inv, ViewPublic, "http://x", 0, inv.CreatedAt))
	for _, hidden := range []string{`"token"`, `"buyer"`, `"transactions"`} {
		if strings.Contains(string(public), hidden) {
			t.Errorf("the public view must not carry %s", hidden)
		}
	}
	if !strings.Contains(string(public), `"exceptionStatus":false`) {
		t.Error("exceptionStatus must be false, never null")
	}
	pos, _ := json.Marshal(RenderInvoice(inv, ViewPOS, "http://x", 0, inv.CreatedAt))
	if !strings.Contains(string(pos), `"token":"tok"`) || strings.Contains(string(pos), `"buyer"`) {
		t.Errorf("the pos view carries the invoice token but not the buyer: %s", pos)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
