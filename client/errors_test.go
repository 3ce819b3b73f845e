package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestErrorEnvelopes checks that every error shape of spec §0.6 and §10
// becomes an *APIError with the server's status, code and message.
func TestErrorEnvelopes(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     APIError
		notFound bool
	}{
		{
			name: "full v2 envelope", status: http.StatusConflict,
			body: `{"status":"error","code":"040107","data":null,"error":"Invalid invoice state for cancel","message":"Invalid invoice state for cancel"}`,
			want: APIError{Status: 409, Code: "040107", Message: "Invalid invoice state for cancel"},
		},
		{
			name: "object not found", status: http.StatusNotFound,
			body:     `{"error":"Object not found"}`,
			want:     APIError{Status: 404, Message: "Object not found"},
			notFound: true,
		},
		{
			name: "object not found with HTTP 200", status: http.StatusOK,
			body:     `{"error":"Object not found"}`,
			want:     APIError{Status: 200, Message: "Object not found"},
			notFound: true,
		},
		{
			name: "not found by code", status: http.StatusInternalServerError,
			body:     `{"status":"error","code":"020101","message":"Invoice with id 'x' not found"}`,
			want:     APIError{Status: 500, Code: "020101", Message: "Invoice with id 'x' not found"},
			notFound: true,
		},
		{
			name: "status error with message only", status: http.StatusOK,
			body: `{"status":"error","code":10207,"data":null,"message":"Invalid invoice state for refund"}`,
			want: APIError{Status: 200, Code: "10207", Message: "Invalid invoice state for refund"},
		},
		{
			name: "BTCPay auth failure", status: http.StatusUnauthorized,
			body: `{"errors":[{"error":"BitId authentication failed"}],"error":"BitId authentication failed"}`,
			want: APIError{Status: 401, Message: "BitId authentication failed"},
		},
		{
			name: "errors list only", status: http.StatusBadRequest,
			body: `{"errors":[{"error":"must be positive","param":"price"}]}`,
			want: APIError{Status: 400, Message: "price: must be positive"},
		},
		{
			name: "legacy object error", status: http.StatusUnauthorized,
			body: `{"error":{"type":"unauthorized","message":"invalid api key"}}`,
			want: APIError{Status: 401, Message: "invalid api key"},
		},
		{
			name: "invalid token as 500", status: http.StatusInternalServerError,
			body: `{"error":"Invalid token"}`,
			want: APIError{Status: 500, Message: "Invalid token"},
		},
		{
			name: "html error page", status: http.StatusBadGateway,
			body: `<html><body>Bad Gateway</body></html>`,
			want: APIError{Status: 502, Message: "Bad Gateway"},
		},
		{
			name: "empty 404", status: http.StatusNotFound, body: ``,
			want:     APIError{Status: 404, Message: "Not Found"},
			notFound: true,
		},
		{
			name: "json 403 without error key", status: http.StatusForbidden,
			body: `{"data":null}`,
			want: APIError{Status: 403},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, tt.status, tt.body)
			c, err := New(srv.URL, WithToken(FacadeMerchant, merchantToken))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Invoice(context.Background(), FacadeMerchant, "x")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if *apiErr != tt.want {
				t.Errorf("APIError = %+v, want %+v", *apiErr, tt.want)
			}
			if IsNotFound(err) != tt.notFound {
				t.Errorf("IsNotFound = %v, want %v", IsNotFound(err), tt.notFound)
			}
			if !strings.Contains(err.Error(), "get invoice x") {
				t.Errorf("error lacks context: %v", err)
			}
		})
	}
}

func TestIsNotFoundOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), ErrNoToken, &APIError{Status: 400, Code: "010102"}} {
		if IsNotFound(err) {
			t.Errorf("IsNotFound(%v) = true", err)
		}
	}
}

// TestSuccessShapes checks the success envelopes of spec §0.5 that carry no
// resource, and a body that is not an envelope.
func TestSuccessShapes(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    error
	}{
		{"data string", `{"data":"Success"}`, nil},
		{"newer ack", `{"status":"success","data":{},"message":null}`, nil},
		{"error null", `{"data":"Success","error":null}`, nil},
		{"not json", `Success`, ErrInvalidResponse},
		{"truncated", `{"data":`, ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, http.StatusOK, tt.body)
			c, err := New(srv.URL, WithToken(FacadeMerchant, merchantToken))
			if err != nil {
				t.Fatal(err)
			}
			err = c.ResendNotification(context.Background(), "x")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestWrongDataShape(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, `{"data":{"id":7}}`)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoice(context.Background(), FacadePublic, "x"); !errors.Is(err, ErrInvalidResponse) {
		t.Errorf("err = %v, want ErrInvalidResponse", err)
	}
}

// TestMissingCredentials checks that calls fail before sending anything
// when the token or key they need is missing.
func TestMissingCredentials(t *testing.T) {
	ctx := context.Background()
	srv := newFakeServer(t, http.StatusOK, `{"data":{}}`)
	noKey, err := New(srv.URL, WithToken(FacadePOS, posToken))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"request token", func() error { _, err := noKey.RequestToken(ctx, FacadePOS); return err }, ErrNoKey},
		{"claim token", func() error { _, err := noKey.ClaimToken(ctx, "AbCdEfG"); return err }, ErrNoKey},
		{"list tokens", func() error { _, err := noKey.Tokens(ctx); return err }, ErrNoKey},
		{"create merchant", func() error {
			_, err := noKey.CreateInvoice(ctx, FacadeMerchant, InvoiceRequest{Price: "1", Currency: "USD"})
			return err
		}, ErrNoToken},
		{"get merchant", func() error { _, err := noKey.Invoice(ctx, FacadeMerchant, "x"); return err }, ErrNoToken},
		{"guid public", func() error { _, err := noKey.InvoiceByGUID(ctx, FacadePublic, "g"); return err }, ErrNoToken},
		{"list", func() error { _, err := noKey.Invoices(ctx, Filter{}); return err }, ErrNoToken},
		{"cancel", func() error { _, err := noKey.CancelInvoice(ctx, "x"); return err }, ErrNoToken},
		{"resend", func() error { return noKey.ResendNotification(ctx, "x") }, ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.requests) != 0 {
		t.Errorf("server saw %d requests", len(srv.requests))
	}
}

func TestResponseBound(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, `{"data":"`+strings.Repeat("a", MaxResponseBytes)+`"}`)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rates(context.Background()); !errors.Is(err, ErrInvalidResponse) {
		t.Errorf("err = %v, want ErrInvalidResponse", err)
	}
}

func TestContextCanceled(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, `{"data":[]}`)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Rates(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestInvalidPriceNotSent(t *testing.T) {
	srv := newFakeServer(t, http.StatusOK, `{"data":{}}`)
	c, err := New(srv.URL, WithToken(FacadePOS, posToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInvoice(context.Background(), FacadePOS, InvoiceRequest{Price: "ten", Currency: "USD"}); err == nil {
		t.Error("CreateInvoice with price \"ten\" succeeded")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.requests) != 0 {
		t.Errorf("server saw %d requests", len(srv.requests))
	}
}
