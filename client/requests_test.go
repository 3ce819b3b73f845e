package client

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// testKeyHex is the BitAuth reference private key (spec §1.1).
const testKeyHex = "97811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c"

const (
	merchantToken = "CaptureTokMerchantXXXXXXXXXXXXXXXXXX"
	posToken      = "CaptureTokPosXXXXXXXXXXXXXXXXXXXXXX"
)

func testKey(t *testing.T) *Key {
	t.Helper()
	k, err := ParseKey(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRequests checks every call's wire form: method, path under the base
// URL's path, query (token placement), exact body, headers, and whether it
// is signed. Every signed request's signature is verified by the server.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	dateStart := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	dateEnd := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name   string
		key    bool // client has a key
		resp   string
		call   func(*Client) error
		method string
		uri    string
		body   string
		signed bool
	}{
		{
			name: "request token", key: true, resp: "token_request.json",
			call:   func(c *Client) error { _, err := c.RequestToken(ctx, FacadeMerchant); return err },
			method: http.MethodPost, uri: "/api/tokens",
			body: `{"id":"Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjR","facade":"merchant"}`,
		},
		{
			name: "claim token", key: true, resp: "token_claim.json",
			call:   func(c *Client) error { _, err := c.ClaimToken(ctx, "AbCdEfG"); return err },
			method: http.MethodPost, uri: "/api/tokens",
			body: `{"id":"Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjR","pairingCode":"AbCdEfG"}`,
		},
		{
			name: "list tokens", key: true, resp: "tokens.json",
			call:   func(c *Client) error { _, err := c.Tokens(ctx); return err },
			method: http.MethodGet, uri: "/api/tokens", signed: true,
		},
		{
			name: "create invoice merchant signed", key: true, resp: "invoice_merchant.json",
			call: func(c *Client) error {
				_, err := c.CreateInvoice(ctx, FacadeMerchant, InvoiceRequest{
					Price: "10.50", Currency: "USD", OrderID: "o-1&2", ItemDesc: "<tea>",
					NotificationURL:       "https://shop.example/ipn?a=1&b=2",
					ExtendedNotifications: true,
					Buyer:                 &Buyer{Email: "buyer@example.com", Notify: true},
					GUID:                  "g-1",
				})
				return err
			},
			method: http.MethodPost, uri: "/api/invoices", signed: true,
			body: `{"price":10.50,"currency":"USD","orderId":"o-1&2","itemDesc":"<tea>",` +
				`"notificationURL":"https://shop.example/ipn?a=1&b=2","extendedNotifications":true,` +
				`"buyer":{"email":"buyer@example.com","notify":true},"guid":"g-1","token":"` + merchantToken + `"}`,
		},
		{
			name: "create invoice pos bearer", key: false, resp: "invoice_pos.json",
			call: func(c *Client) error {
				_, err := c.CreateInvoice(ctx, FacadePOS, InvoiceRequest{Price: "3", Currency: "USD"})
				return err
			},
			method: http.MethodPost, uri: "/api/invoices",
			body: `{"price":3,"currency":"USD","token":"` + posToken + `"}`,
		},
		{
			name: "get invoice merchant", key: true, resp: "invoice_merchant.json",
			call:   func(c *Client) error { _, err := c.Invoice(ctx, FacadeMerchant, "9Qp2xKLbT6vTTSm4Ahh8Yk"); return err },
			method: http.MethodGet, uri: "/api/invoices/9Qp2xKLbT6vTTSm4Ahh8Yk?token=" + merchantToken, signed: true,
		},
		{
			name: "get invoice pos bearer", key: false, resp: "invoice_pos.json",
			call:   func(c *Client) error { _, err := c.Invoice(ctx, FacadePOS, "KSnNNfoMDsbRzd1U9ypmVH"); return err },
			method: http.MethodGet, uri: "/api/invoices/KSnNNfoMDsbRzd1U9ypmVH?token=" + posToken,
		},
		{
			name: "get invoice public with key", key: true, resp: "invoice_pos.json",
			call:   func(c *Client) error { _, err := c.Invoice(ctx, FacadePublic, "KSnNNfoMDsbRzd1U9ypmVH"); return err },
			method: http.MethodGet, uri: "/api/invoices/KSnNNfoMDsbRzd1U9ypmVH",
		},
		{
			name: "get invoice escapes id", key: false, resp: "invoice_pos.json",
			call:   func(c *Client) error { _, err := c.Invoice(ctx, FacadePublic, "a/b c"); return err },
			method: http.MethodGet, uri: "/api/invoices/a%2Fb%20c",
		},
		{
			name: "get invoice by guid", key: true, resp: "invoice_merchant.json",
			call:   func(c *Client) error { _, err := c.InvoiceByGUID(ctx, FacadeMerchant, "g-1002"); return err },
			method: http.MethodGet, uri: "/api/invoices/guid/g-1002?token=" + merchantToken, signed: true,
		},
		{
			name: "list invoices", key: true, resp: `{"data":[]}`,
			call: func(c *Client) error {
				_, err := c.Invoices(ctx, Filter{DateStart: dateStart, DateEnd: dateEnd, Status: StatusComplete,
					OrderID: "A 1", Limit: 10, Offset: 20})
				return err
			},
			method: http.MethodGet, signed: true,
			uri: "/api/invoices?dateStart=2026-11-22&dateEnd=2026-11-24&status=complete&orderId=A+1&limit=10&offset=20&token=" + merchantToken,
		},
		{
			name: "list invoices no filter", key: true, resp: `{"data":[]}`,
			call:   func(c *Client) error { _, err := c.Invoices(ctx, Filter{}); return err },
			method: http.MethodGet, uri: "/api/invoices?token=" + merchantToken, signed: true,
		},
		{
			name: "cancel invoice", key: true, resp: "invoice_merchant.json",
			call:   func(c *Client) error { _, err := c.CancelInvoice(ctx, "9Qp2xKLbT6vTTSm4Ahh8Yk"); return err },
			method: http.MethodDelete, uri: "/api/invoices/9Qp2xKLbT6vTTSm4Ahh8Yk?token=" + merchantToken, signed: true,
		},
		{
			name: "resend notification", key: true, resp: `{"data":"Success"}`,
			call:   func(c *Client) error { return c.ResendNotification(ctx, "9Qp2xKLbT6vTTSm4Ahh8Yk") },
			method: http.MethodPost, uri: "/api/invoices/9Qp2xKLbT6vTTSm4Ahh8Yk/notifications", signed: true,
			body: `{"token":"` + merchantToken + `"}`,
		},
		{
			name: "rates", key: true, resp: "rates.json",
			call:   func(c *Client) error { _, err := c.Rates(ctx); return err },
			method: http.MethodGet, uri: "/api/rates",
		},
		{
			name: "rate", key: true, resp: "rate.json",
			call:   func(c *Client) error { _, err := c.Rate(ctx, "BTC", "USD"); return err },
			method: http.MethodGet, uri: "/api/rates/BTC/USD",
		},
		{
			name: "currencies", key: true, resp: "currencies.json",
			call:   func(c *Client) error { _, err := c.Currencies(ctx); return err },
			method: http.MethodGet, uri: "/api/currencies",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.resp
			if resp[0] != '{' {
				resp = readTestdata(t, resp)
			}
			srv := newFakeServer(t, http.StatusOK, resp)
			opts := []Option{
				WithToken(FacadeMerchant, merchantToken),
				WithToken(FacadePOS, posToken),
				WithUserAgent("kassa-test/1"),
			}
			if tt.key {
				opts = append(opts, WithKey(testKey(t)))
			}
			c, err := New(srv.URL+"/api/", opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := srv.only(t)
			if got.Method != tt.method || got.URI != tt.uri {
				t.Errorf("request %s %s, want %s %s", got.Method, got.URI, tt.method, tt.uri)
			}
			if got.Body != tt.body {
				t.Errorf("body\n got %s\nwant %s", got.Body, tt.body)
			}
			if got.Signed != tt.signed {
				t.Errorf("signed = %v, want %v", got.Signed, tt.signed)
			}
			if got.Signed {
				if got.SigErr != nil {
					t.Errorf("signature: %v", got.SigErr)
				}
				if got.SIN != "Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjR" {
					t.Errorf("server derived SIN %s", got.SIN)
				}
			}
			for h, want := range map[string]string{
				"X-Accept-Version": "2.0.0",
				"Content-Type":     "application/json",
				"User-Agent":       "kassa-test/1",
			} {
				if v := got.Header.Get(h); v != want {
					t.Errorf("header %s = %q, want %q", h, v, want)
				}
			}
		})
	}
}

// TestBaseURL checks that base URLs with and without a path and trailing
// slash lead to the same request paths, and that unusable ones are refused.
func TestBaseURL(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, `{"data":[]}`)
	for _, base := range []string{srv.URL, srv.URL + "/"} {
		c, err := New(base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Rates(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	srv.mu.Lock()
	for _, r := range srv.requests {
		if r.URI != "/rates" {
			t.Errorf("request to %s, want /rates", r.URI)
		}
	}
	srv.mu.Unlock()

	for _, bad := range []string{"", "bitpay.com", "ftp://bitpay.com", "https://bitpay.com/?x=1",
		"https://user:pw@bitpay.com", "https://bitpay.com/#frag", "http://%zz"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
}
