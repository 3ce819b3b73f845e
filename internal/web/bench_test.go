package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// BenchmarkCheckout fetches the checkout page over loopback HTTP from a
// kassa on SQLite: ns/op is the whole exchange, ttfb-ns/op the time to the
// first response byte, and the byte metrics are what one page transfers
// (with and without its inline QR code, and gzip-compressed as a proxy
// might serve it).
//
//	go test -run '^$' -bench Checkout ./internal/web
func BenchmarkCheckout(b *testing.B) {
	e := newEnv(b, false)
	inv := e.create(invoice.Fields{OrderID: "bench-1", ItemDesc: "A mug", RedirectURL: "https://shop.example/thanks"})
	url := e.url + "/invoice?id=" + inv.ID
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	var ttfb time.Duration
	var body []byte
	b.ResetTimer()
	for b.Loop() {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		ttfb += first.Sub(start)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%d %v", resp.StatusCode, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ttfb.Nanoseconds())/float64(b.N), "ttfb-ns/op")
	reportSizes(b, body)
}

// BenchmarkCheckoutRender is the server's share: the handler alone (store
// reads, QR code, template), without the network.
func BenchmarkCheckoutRender(b *testing.B) {
	e := newEnv(b, false)
	inv := e.create(invoice.Fields{OrderID: "bench-2", ItemDesc: "A mug"})
	var body []byte
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/invoice?id="+inv.ID, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		body = rec.Body.Bytes()
	}
	reportSizes(b, body)
}

func reportSizes(b *testing.B, body []byte) {
	qr := svgRE.Find(body)
	var z bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
	_, _ = gz.Write(body)
	_ = gz.Close()
	b.ReportMetric(float64(len(body)), "page-bytes")
	b.ReportMetric(float64(len(body)-len(qr)), "page-bytes-without-qr")
	b.ReportMetric(float64(z.Len()), "gzip-bytes")
}
