package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// testTransport wraps h in Transport with a logger writing to logs.
func testTransport(logs *bytes.Buffer, max int64, h http.Handler) http.Handler {
	return Transport(TransportConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), MaxBody: max}, h)
}

func TestCORSPreflight(t *testing.T) {
	called := false
	h := testTransport(new(bytes.Buffer), 0, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	for _, path := range []string{"/invoices", "/invoices/", "/rates", "/tokens"} {
		t.Run(path, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodOptions, path, nil)
			r.Header.Set("Origin", "https://shop.example")
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "content-type,x-identity,x-signature,x-accept-version")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code < 200 || w.Code > 299 {
				t.Errorf("preflight status %d", w.Code)
			}
			hd := w.Header()
			if hd.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("ACAO %q", hd.Get("Access-Control-Allow-Origin"))
			}
			if hd.Get("Access-Control-Allow-Headers") != "content-type,x-identity,x-signature,x-accept-version" {
				t.Errorf("requested headers not echoed: %q", hd.Get("Access-Control-Allow-Headers"))
			}
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"} {
				if !strings.Contains(hd.Get("Access-Control-Allow-Methods"), m) {
					t.Errorf("methods lack %s: %q", m, hd.Get("Access-Control-Allow-Methods"))
				}
			}
		})
	}
	if called {
		t.Error("a preflight must not reach the router")
	}
}

func TestCORSOnOrdinaryResponses(t *testing.T) {
	h := testTransport(new(bytes.Buffer), 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bitpay.WriteData(w, 200, "", "ok")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/rates", nil))
	allow := w.Header().Get("Access-Control-Allow-Headers")
	for _, name := range []string{"X-Identity", "X-Signature", "X-Accept-Version", "X-BitPay-Plugin-Info", "Content-Type", "x-pubkey"} {
		if !strings.Contains(allow, name) {
			t.Errorf("Allow-Headers lacks %s: %q", name, allow)
		}
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Error("ACAO missing on a GET")
	}
}

func TestTrailingSlash(t *testing.T) {
	tests := []struct{ target, path, rawQuery string }{
		{"/invoices/", "/invoices", ""},
		{"/invoices//", "/invoices", ""},
		{"/invoices/?token=a%2Bb&x", "/invoices", "token=a%2Bb&x"},
		{"/invoices/abc/?token=T", "/invoices/abc", "token=T"},
		{"/invoices", "/invoices", ""},
		{"/", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			var got *http.Request
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { got = r })
			h := testTransport(new(bytes.Buffer), 0, mux)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
			if w.Code != 200 || got == nil {
				t.Fatalf("status %d (a redirect is wrong)", w.Code)
			}
			if got.URL.Path != tt.path || got.URL.RawQuery != tt.rawQuery {
				t.Errorf("routed %q?%q, want %q?%q", got.URL.Path, got.URL.RawQuery, tt.path, tt.rawQuery)
			}
			if got.RequestURI != tt.target {
				t.Errorf("RequestURI must stay as sent for BitAuth: %q", got.RequestURI)
			}
		})
	}
	t.Run("method patterns match", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /invoices", func(w http.ResponseWriter, r *http.Request) { bitpay.WriteData(w, 200, "", "created") })
		h := testTransport(new(bytes.Buffer), 0, mux)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/invoices/", strings.NewReader("{}")))
		if w.Code != 200 || !strings.Contains(w.Body.String(), "created") {
			t.Fatalf("POST /invoices/ must reach POST /invoices: %d %s", w.Code, w.Body)
		}
	})
}

func TestBodyTooLarge(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(w, r, 0)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		bitpay.WriteData(w, 200, "", len(b))
	})
	perRoute := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := ReadBody(w, r, 10); err != nil {
			WriteError(w, r, err)
			return
		}
		bitpay.WriteData(w, 200, "", "ok")
	})
	tests := []struct {
		name    string
		h       http.Handler
		max     int64
		body    string
		chunked bool
		status  int
	}{
		{"within the limit", echo, 100, strings.Repeat("a", 100), false, 200},
		{"declared length over the transport limit", echo, 100, strings.Repeat("a", 101), false, 413},
		{"unknown length over the transport limit", echo, 100, strings.Repeat("a", 101), true, 413},
		{"default limit", echo, 0, strings.Repeat("a", DefaultMaxBody+1), true, 413},
		{"per-route limit", perRoute, 0, strings.Repeat("a", 11), true, 413},
		{"per-route limit met", perRoute, 0, strings.Repeat("a", 10), false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			r := httptest.NewRequest("POST", "/invoices", body)
			if tt.chunked {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			testTransport(new(bytes.Buffer), tt.max, tt.h).ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status: want %d, have %d %s", tt.status, w.Code, w.Body)
			}
			if tt.status == 413 {
				var m struct{ Status, Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Error != "request body too large" || m.Status != "error" {
					t.Errorf("413 envelope: %s", w.Body)
				}
			}
		})
	}
}

func TestReadBodyKeepsRawBytes(t *testing.T) {
	raw := `{"price": 10.50 ,"token":"a\/b"}`
	r := httptest.NewRequest("POST", "/invoices", strings.NewReader(raw))
	b, err := ReadBody(httptest.NewRecorder(), r, 0)
	if err != nil || string(b) != raw {
		t.Fatalf("ReadBody = %q, %v", b, err)
	}
}

func TestPanicRecovery(t *testing.T) {
	var logs bytes.Buffer
	h := testTransport(&logs, 0, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("nil map") }))
	r := httptest.NewRequest("GET", "/invoices/x?token=SECRET", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	var m struct{ Status, Code, Error, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil ||
		m.Error != "internal error" || m.Message != "internal error" || m.Status != "error" || m.Code != "020100" {
		t.Errorf("envelope: %s", w.Body)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Error("CORS headers must survive a panic")
	}
	if !strings.Contains(logs.String(), "handler panic") || !strings.Contains(logs.String(), "nil map") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the query (tokens) must not be logged: %s", logs.String())
	}
}

func TestPanicAfterAnswerStarted(t *testing.T) {
	h := testTransport(new(bytes.Buffer), 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bitpay.WriteData(w, 200, "", "partial")
		panic("late")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/rates", nil))
	if w.Code != 200 || strings.Contains(w.Body.String(), "internal error") {
		t.Fatalf("a started answer must not get a second body: %d %s", w.Code, w.Body)
	}
}

func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	var seen string
	h := testTransport(&logs, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		WriteError(w, r, io.ErrUnexpectedEOF) // an unknown error: logged with the id
	}))
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"echoed", "req-123", true},
		{"generated", "", false},
		{"line break rejected", "a\nb", false},
		{"too long rejected", strings.Repeat("x", 200), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			r := httptest.NewRequest("GET", "/rates", nil)
			if tt.sent != "" {
				r.Header["X-Request-Id"] = []string{tt.sent}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get("X-Request-Id")
			if got == "" || got != seen {
				t.Fatalf("header %q, context %q", got, seen)
			}
			if (got == tt.sent) != tt.echoed {
				t.Errorf("sent %q, answered %q", tt.sent, got)
			}
			if !strings.Contains(logs.String(), "request_id="+got) {
				t.Errorf("log lacks the request id: %s", logs.String())
			}
		})
	}
	if RequestID(httptest.NewRequest("GET", "/", nil).Context()) != "" {
		t.Error("no id outside Transport")
	}
}

// TestTransportFlush checks SSE handlers can still flush through the
// transport's writer wrapper.
func TestTransportFlush(t *testing.T) {
	h := testTransport(new(bytes.Buffer), 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/events", nil))
	if !w.Flushed {
		t.Fatal("not flushed")
	}
}

// TestWriteErrorLogs: WriteError answers with bitpay's envelope and logs a
// server-side failure once, without the query (it carries tokens); the
// client's mistakes are not logged at info level. The envelope itself is
// bitpay's TestWriteErrorEnvelope.
func TestWriteErrorLogs(t *testing.T) {
	tests := []struct {
		name, method, target string
		err                  error
		status               int
		wantLog              bool   // logged at info level or above, once
		notLogged            string // must not appear in the log
	}{
		{"invoice not found (WooCommerce token probe)", "GET", "/invoices/1?token=VALID",
			fmt.Errorf("load invoice 1: %w", store.ErrNotFound), 404, false, ""},
		{"not found elsewhere", "GET", "/bills/x?token=T", store.ErrNotFound, 404, false, ""},
		{"refund not found", "GET", "/refunds/r1", bitpay.NotFound(), 404, false, ""},
		{"field error from the gateway", "POST", "/invoices",
			fmt.Errorf("create invoice: %w", &gateway.InputError{Field: "price", Msg: "price must be greater than zero"}), 400, false, ""},
		{"bare ErrInvalid", "POST", "/invoices", fmt.Errorf("currency: %w", gateway.ErrInvalid), 400, false, ""},
		{"cancel a paid invoice", "DELETE", "/invoices/abc?token=T&forceCancel=true",
			fmt.Errorf("cancel abc: %w", invoice.ErrNotCancellable), 409, false, ""},
		{"unauthorized", "POST", "/invoices", bitpay.Unauthorized("Invalid signature"), 401, false, ""},
		{"facade", "GET", "/tokens", bitpay.Forbidden("This endpoint does not support the `user` facade"), 403, false, ""},
		{"too large", "PUT", "/invoices/x", bitpay.TooLarge(), 413, false, ""},
		{"max bytes reader", "POST", "/tokens", &http.MaxBytesError{Limit: 10}, 413, false, ""},
		{"rate limited", "POST", "/invoices", bitpay.RateLimited(), 429, false, ""},
		{"deadline", "GET", "/rates", fmt.Errorf("rates: %w", context.DeadlineExceeded), 503, true, ""},
		{"closing store", "POST", "/invoices", store.ErrClosed, 503, true, ""},
		{"unknown error is a logged 500", "POST", "/invoices?token=SECRETTOKEN",
			errors.New("pq: connection refused to db password=hunter2"), 500, true, "SECRETTOKEN"},
		{"legacy path", "POST", "/api/invoice", errors.New("boom"), 500, true, ""},
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
			if logged := strings.Contains(logs.String(), "request failed"); logged != tt.wantLog {
				t.Errorf("logged %v, want %v: %s", logged, tt.wantLog, logs.String())
			}
			if tt.wantLog && strings.Count(logs.String(), "\n") != 1 {
				t.Errorf("want exactly one log record: %s", logs.String())
			}
			if tt.notLogged != "" && strings.Contains(logs.String(), tt.notLogged) {
				t.Errorf("the log carries %q: %s", tt.notLogged, logs.String())
			}
		})
	}
}
