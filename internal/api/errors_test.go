package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

func TestWriteErrorEnvelope(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		target    string
		err       error
		status    int
		code      string
		text      string
		param     string
		wantLog   bool
		notLogged string
	}{
		{"invoice not found (WooCommerce token probe)", "GET", "/invoices/1?token=VALID",
			fmt.Errorf("load invoice 1: %w", store.ErrNotFound), 404, "020101", "Object not found", "", false, ""},
		{"not found elsewhere", "GET", "/bills/x?token=T", store.ErrNotFound, 404, "020001", "Object not found", "", false, ""},
		{"refund not found", "GET", "/refunds/r1", NotFound(), 404, "020201", "Object not found", "", false, ""},
		{"field error from the gateway", "POST", "/invoices",
			fmt.Errorf("create invoice: %w", &gateway.InputError{Field: "price", Msg: "price must be greater than zero"}),
			400, "010102", "price: price must be greater than zero", "price", false, ""},
		{"bare ErrInvalid", "POST", "/invoices", fmt.Errorf("currency: %w", gateway.ErrInvalid), 400, "010102",
			"currency: invalid input", "", false, ""},
		{"cancel a paid invoice", "DELETE", "/invoices/abc?token=T&forceCancel=true",
			fmt.Errorf("cancel abc: %w", invoice.ErrNotCancellable), 409, "040107", "Invalid invoice state for cancel", "", false, ""},
		{"unauthorized", "POST", "/invoices", Unauthorized("Invalid signature"), 401, "010100", "Invalid signature", "", false, ""},
		{"facade", "GET", "/tokens", Forbidden("This endpoint does not support the `user` facade"), 403, "020000",
			"This endpoint does not support the `user` facade", "", false, ""},
		{"too large", "PUT", "/invoices/x", TooLarge(), 413, "030100", "request body too large", "", false, ""},
		{"max bytes reader", "POST", "/tokens", &http.MaxBytesError{Limit: 10}, 413, "010000", "request body too large", "", false, ""},
		{"rate limited", "POST", "/invoices", RateLimited(), 429, "010100", "too many requests", "", false, ""},
		{"deadline", "GET", "/rates", fmt.Errorf("rates: %w", context.DeadlineExceeded), 503, "020000",
			"service unavailable, retry later", "", true, ""},
		{"closing store", "POST", "/invoices", store.ErrClosed, 503, "010100", "service unavailable, retry later", "", true, ""},
		{"unknown error is a logged 500", "POST", "/invoices?token=SECRETTOKEN",
			errors.New("pq: connection refused to db password=hunter2"), 500, "010100", "internal error", "", true, "SECRETTOKEN"},
		{"legacy path", "POST", "/api/invoice", errors.New("boom"), 500, "010100", "internal error", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r = r.WithContext(context.WithValue(r.Context(), loggerKey, log))
			w := httptest.NewRecorder()
			WriteError(w, r, tt.err)

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
			if logged := strings.Contains(logs.String(), "request failed"); logged != tt.wantLog {
				t.Errorf("logged %v, want %v: %s", logged, tt.wantLog, logs.String())
			}
			if tt.wantLog && strings.Count(logs.String(), "\n") != 1 {
				t.Errorf("want exactly one log record: %s", logs.String())
			}
			if tt.notLogged != "" && strings.Contains(logs.String(), tt.notLogged) {
				t.Errorf("the log carries %q: %s", tt.notLogged, logs.String())
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
	WriteError(w, r, store.ErrNotFound)
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
