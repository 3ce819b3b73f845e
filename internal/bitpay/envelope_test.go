package bitpay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteData(t *testing.T) {
	inv := testInvoice()
	tests := []struct {
		name   string
		facade string
		data   any
		want   string
	}{
		{"resource with facade", "pos/invoice", map[string]int{"a": 1}, `{"facade":"pos/invoice","data":{"a":1}}`},
		{"no facade", "", "Success", `{"data":"Success"}`},
		{"list", "", []string{"x"}, `{"data":["x"]}`},
		{"nil list is an empty array", "", []string(nil), `{"data":[]}`},
		{"urls are not html-escaped", "", "https://shop/return?a=1&redirect=false", `{"data":"https://shop/return?a=1&redirect=false"}`},
		{"invoice keeps exceptionStatus false", "merchant/invoice",
			RenderInvoice(inv, ViewPublic, "http://x", 0, inv.CreatedAt), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteData(w, http.StatusOK, tt.facade, tt.data)
			if w.Code != 200 || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
			}
			body := strings.TrimSpace(w.Body.String())
			if tt.want != "" && body != tt.want {
				t.Errorf("want %s, have %s", tt.want, body)
			}
			m := decodeEnvelope(t, w.Body.Bytes())
			if _, ok := m["status"]; ok {
				t.Errorf("a success envelope must not carry status: %s", body)
			}
			if _, ok := m["error"]; ok {
				t.Errorf("a success envelope must not carry error: %s", body)
			}
			if d, ok := m["data"].(map[string]any); ok && d["id"] != nil {
				if d["exceptionStatus"] != false || d["status"] != "new" {
					t.Errorf("invoice status fields changed: %v %v", d["status"], d["exceptionStatus"])
				}
			}
		})
	}
}

func TestWriteDataUnencodable(t *testing.T) {
	w := httptest.NewRecorder()
	WriteData(w, http.StatusOK, "", map[string]any{"f": func() {}})
	if w.Code != 500 || decodeEnvelope(t, w.Body.Bytes())["error"] != "internal error" {
		t.Fatalf("want a 500 envelope, have %d %s", w.Code, w.Body)
	}
}

func BenchmarkWriteDataInvoice(b *testing.B) {
	inv := testInvoice()
	j := RenderInvoice(inv, ViewMerchant, "https://pay.example.com", 0, inv.CreatedAt)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		WriteData(w, 200, "merchant/invoice", j)
		_, _ = io.Copy(io.Discard, w.Body)
	}
}
