package bitpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// decodeEnvelope decodes a response body into generic JSON, numbers kept.
func decodeEnvelope(t *testing.T, body []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, body)
	}
	return m
}

// TestWriteErrorEnvelope: every error answers BitPay's envelope with the
// six-digit code of its verb, resource and kind, and nothing internal. How
// api.WriteError logs the same errors is api's TestWriteErrorLogs.
func TestWriteErrorEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		err    error
		status int
		code   string
		text   string
		param  string
	}{
		{"invoice not found (WooCommerce token probe)", "GET", "/invoices/1?token=VALID",
			fmt.Errorf("load invoice 1: %w", store.ErrNotFound), 404, "020101", "Object not found", ""},
		{"not found elsewhere", "GET", "/bills/x?token=T", store.ErrNotFound, 404, "020001", "Object not found", ""},
		{"refund not found", "GET", "/refunds/r1", NotFound(), 404, "020201", "Object not found", ""},
		{"field error from the gateway", "POST", "/invoices",
			fmt.Errorf("create invoice: %w", &gateway.InputError{Field: "price", Msg: "price must be greater than zero"}),
			400, "010102", "price: price must be greater than zero", "price"},
		{"bare ErrInvalid", "POST", "/invoices", fmt.Errorf("currency: %w", gateway.ErrInvalid), 400, "010102",
			"currency: invalid input", ""},
		{"cancel a paid invoice", "DELETE", "/invoices/abc?token=T&forceCancel=true",
			fmt.Errorf("cancel abc: %w", invoice.ErrNotCancellable), 409, "040107", "Invalid invoice state for cancel", ""},
		{"unauthorized", "POST", "/invoices", Unauthorized("Invalid signature"), 401, "010100", "Invalid signature", ""},
		{"facade", "GET", "/tokens", Forbidden("This endpoint does not support the `user` facade"), 403, "020000",
			"This endpoint does not support the `user` facade", ""},
		{"too large", "PUT", "/invoices/x", TooLarge(), 413, "030100", "request body too large", ""},
		{"max bytes reader", "POST", "/tokens", &http.MaxBytesError{Limit: 10}, 413, "010000", "request body too large", ""},
		{"rate limited", "POST", "/invoices", RateLimited(), 429, "010100", "too many requests", ""},
		{"deadline", "GET", "/rates", fmt.Errorf("rates: %w", context.DeadlineExceeded), 503, "020000",
			"service unavailable, retry later", ""},
		{"closing store", "POST", "/invoices", store.ErrClosed, 503, "010100", "service unavailable, retry later", ""},
		{"unknown error is a logged 500", "POST", "/invoices?token=SECRETTOKEN",
			errors.New("pq: connection refused to db password=hunter2"), 500, "010100", "internal error", ""},
		{"legacy path", "POST", "/api/invoice", errors.New("boom"), 500, "010100", "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			w := httptest.NewRecorder()
			WriteError(w, r, AsError(tt.err))

			if w.Code != tt.status {
				t.Errorf("status: want %d, have %d", tt.status, w.Code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			m := decodeEnvelope(t, w.Body.Bytes())
			for _, key := range []string{"status", "code", "data", "error", "message"} {
				if _, ok := m[key]; !ok {
					t.Errorf("envelope lacks %q: %s", key, w.Body)
				}
			}
			if m["status"] != "error" || m["code"] != tt.code || m["data"] != nil {
				t.Errorf("status/code/data: %s", w.Body)
			}
			if m["error"] != tt.text || m["message"] != tt.text {
				t.Errorf("error and message must both be %q: %s", tt.text, w.Body)
			}
			errs, has := m["errors"].([]any)
			if tt.param == "" && has {
				t.Errorf("errors[] without a field: %s", w.Body)
			}
			if tt.param != "" {
				if len(errs) != 1 {
					t.Fatalf("errors[]: %s", w.Body)
				}
				item := errs[0].(map[string]any)
				if item["param"] != tt.param || item["error"] == "" {
					t.Errorf("errors[0] needs error and param: %s", w.Body)
				}
			}
			if tt.status == 500 && strings.Contains(w.Body.String(), "hunter2") {
				t.Errorf("the internal error leaked to the client: %s", w.Body)
			}
		})
	}
}

// TestNotFoundExactText pins BitPay's wording, which WooCommerce string-compares.
func TestNotFoundExactText(t *testing.T) {
	r := httptest.NewRequest("GET", "/invoices/1?token=VALID", nil)
	w := httptest.NewRecorder()
	WriteError(w, r, AsError(store.ErrNotFound))
	m := decodeEnvelope(t, w.Body.Bytes())
	if m["error"] != "Object not found" {
		t.Fatalf("error: %s", w.Body)
	}
}

func TestAsErrorKeepsAPIErrors(t *testing.T) {
	e := FieldError("label", "too long")
	if got := AsError(fmt.Errorf("pair: %w", e)); got != e {
		t.Fatalf("a wrapped *Error must pass through, have %+v", got)
	}
	if got := AsError(nil); got.Status != 500 {
		t.Fatalf("nil error: %+v", got)
	}
}
