package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// TestInvoicePOSExample decodes the pos-facade invoice of spec §3.3.
func TestInvoicePOSExample(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, readTestdata(t, "invoice_pos.json"))
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Invoice(context.Background(), FacadePublic, "KSnNNfoMDsbRzd1U9ypmVH")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", inv.ID, "KSnNNfoMDsbRzd1U9ypmVH"},
		{"url", inv.URL, "https://bitpay.com/invoice?id=KSnNNfoMDsbRzd1U9ypmVH"},
		{"status", inv.Status, StatusNew},
		{"exceptionStatus", inv.ExceptionStatus, ExceptionNone},
		{"price", inv.Price, json.Number("10")},
		{"currency", inv.Currency, "USD"},
		{"orderId", inv.OrderID, "20210511_abcde"},
		{"invoiceTime", inv.InvoiceTime, int64(1620734545366)},
		{"expirationTime", inv.ExpirationTime, int64(1620735445366)},
		{"currentTime", inv.CurrentTime, int64(1620734545415)},
		{"amountPaid", inv.AmountPaid, int64(0)},
		{"paymentSubtotals", inv.PaymentSubtotals, map[string]json.Number{"BTC": "18200"}},
		{"paymentTotals", inv.PaymentTotals, map[string]json.Number{"BTC": "29800"}},
		{"exchangeRates", inv.ExchangeRates, map[string]map[string]json.Number{"BTC": {"USD": "55072.46"}}},
		{"paymentCodes BIP73", inv.PaymentCodes["BTC"]["BIP73"], "https://bitpay.com/i/KSnNNfoMDsbRzd1U9ypmVH"},
		{"redirectURL", inv.RedirectURL, "https://shop/return"},
		{"token", inv.Token, "8nPJSGgi7omxcbGGZ4KsSgqdi6juypBe9pVpSURDeAwx4VDQx1XfWPy5qqknDKT9KQ"},
		{"buyer", inv.Buyer, (*Buyer)(nil)},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

// TestInvoiceMerchantView decodes a merchant view with an exception status,
// a string price, transactions, a buyer and totals beyond int64.
func TestInvoiceMerchantView(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, readTestdata(t, "invoice_merchant.json"))
	c, err := New(srv.URL, WithToken(FacadeMerchant, merchantToken))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Invoice(context.Background(), FacadeMerchant, "9Qp2xKLbT6vTTSm4Ahh8Yk")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"status", inv.Status, StatusPaid},
		{"exceptionStatus", inv.ExceptionStatus, ExceptionPaidPartial},
		{"price from string", inv.Price, json.Number("25.99")},
		{"posData", inv.PosData, `{"ref":711}`},
		{"guid", inv.GUID, "g-1002"},
		{"amountPaid", inv.AmountPaid, int64(43210)},
		{"ETH subtotal above int64", inv.PaymentSubtotals["ETH"], json.Number("10000000000000000000")},
		{"ETH total above uint64", inv.PaymentTotals["ETH"], json.Number("18446744073709551617")},
		{"rate keeps every digit", inv.ExchangeRates["BTC"]["EUR"], json.Number("51980.00000001")},
		{"btcDue", inv.BTCDue, "0.0000679"},
		{"btcPaid", inv.BTCPaid, "0.0004321"},
		{"transactionSpeed", inv.TransactionSpeed, "medium"},
		{"targetConfirmations", inv.TargetConfirmations, int64(6)},
		{"buyer", inv.Buyer, &Buyer{Name: "Ada", Email: "ada@example.com", Notify: true}},
		{"transactions", inv.Transactions, []Transaction{{
			Amount: "43210", Confirmations: 0, OutputIndex: 1,
			ReceivedTime: "2026-11-23T16:28:26.558Z", Time: "2026-11-23T16:28:26.558Z",
			TxID: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
		}}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestExceptionStatusJSON(t *testing.T) {
	tests := []struct {
		in   string
		want ExceptionStatus
		out  string
	}{
		{`false`, ExceptionNone, `false`},
		{`null`, ExceptionNone, `false`},
		{`"paidOver"`, ExceptionPaidOver, `"paidOver"`},
		{`"paidLate"`, ExceptionPaidLate, `"paidLate"`},
		{`"marked"`, ExceptionStatus("marked"), `"marked"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got ExceptionStatus
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Errorf("encoded %s, want %s", out, tt.out)
			}
		})
	}
	for _, bad := range []string{`true`, `0`, `{}`} {
		var e ExceptionStatus
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	t.Run("request", func(t *testing.T) {
		srv := newFakeServer(t, http.StatusOK, readTestdata(t, "token_request.json"))
		c, err := New(srv.URL, WithKey(testKey(t)))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.RequestToken(ctx, FacadeMerchant)
		if err != nil {
			t.Fatal(err)
		}
		want := Token{
			Value:             "G7XM9fcM1gtCN7DUr8ZWtPGVFLTKiYWanHR4kvqsnjP3",
			Facade:            "merchant",
			PairingCode:       "C4Lg7oW",
			PairingExpiration: time.UnixMilli(1621426764865),
			DateCreated:       time.UnixMilli(1621340364865),
			Label:             "merchantwebsite.com",
			Policies:          []Policy{{Policy: "id", Method: "inactive", Params: []string{"Tf2yXsY49iFyDfxt3b2kf9VPRMwPxxAyCRW"}}},
		}
		if !reflect.DeepEqual(tok, want) {
			t.Errorf("token = %+v, want %+v", tok, want)
		}
	})
	t.Run("claim", func(t *testing.T) {
		srv := newFakeServer(t, http.StatusOK, readTestdata(t, "token_claim.json"))
		c, err := New(srv.URL, WithKey(testKey(t)))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.ClaimToken(ctx, "AbCdEfG")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != merchantToken || tok.Facade != FacadeMerchant || tok.PairingCode != "" {
			t.Errorf("token = %+v", tok)
		}
	})
	t.Run("empty array", func(t *testing.T) {
		srv := newFakeServer(t, http.StatusOK, `{"data":[]}`)
		c, err := New(srv.URL, WithKey(testKey(t)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.RequestToken(ctx, FacadePOS); !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("err = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		srv := newFakeServer(t, http.StatusOK, readTestdata(t, "tokens.json"))
		c, err := New(srv.URL, WithKey(testKey(t)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"pos": "tok1", "merchant": "tok2", "payout": "tok3"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Tokens = %v, want %v", got, want)
		}
	})
}

func TestRatesAndCurrencies(t *testing.T) {
	ctx := context.Background()
	srv := newFakeServer(t, http.StatusOK, readTestdata(t, "rates.json"))
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rates, err := c.Rates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rate{{Code: "BTC", Name: "Bitcoin", Rate: "1"}, {Code: "USD", Name: "US Dollar", Rate: "17725.64"}}
	if !reflect.DeepEqual(rates, want) {
		t.Errorf("Rates = %+v, want %+v", rates, want)
	}

	srv.respond(http.StatusOK, readTestdata(t, "rate.json"))
	rate, err := c.Rate(ctx, "BTC", "USD")
	if err != nil {
		t.Fatal(err)
	}
	if rate != (Rate{Code: "USD", Name: "US Dollar", Rate: "41154.05"}) {
		t.Errorf("Rate = %+v", rate)
	}

	srv.respond(http.StatusOK, readTestdata(t, "currencies.json"))
	cur, err := c.Currencies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 2 || cur[0].Code != "BTC" || cur[0].Decimals != 8 || cur[0].Minimum != "0.000006" ||
		cur[1].Precision != 2 || cur[1].Chain != "" {
		t.Errorf("Currencies = %+v", cur)
	}
}
