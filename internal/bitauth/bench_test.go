package bitauth

import (
	"testing"
)

// benchRequest is request 2 of the bitpay-sdk 8.0.4 capture: a signed
// POST /invoices, signed for http://127.0.0.1:18555.
var benchRequest = struct {
	identity, signature, uri, body string
}{
	identity:  "02578628ad929a4d6188d9bcc4c887ac606aff2053b478765b157bf22a589950f6",
	signature: "3045022100bba418c556c728a742e06399d94d910b1679d4accf8aa3aff7944f17e2c05817022032d0599c88e44fb0de8132738c2728243a69dad4ca73943164796ec7b666e4be",
	uri:       "/invoices",
	body:      `{"price":10.5,"currency":"USD","orderId":"smoke-1795451206570","itemDesc":"sdk_smoke item","notificationURL":"http://127.0.0.1:9/ipn","redirectURL":"http://127.0.0.1:9/return","buyer":{"email":"buyer@example.com","name":"Smoke Buyer","notify":true},"extendedNotifications":true,"token":"CaptureTokMerchantXXXXXXXXXXXXXXXXXX","guid":"1795451206570"}`,
}

// BenchmarkVerify measures a valid request from a client whose key is
// already cached: one ECDSA verification once the origin hint settles.
func BenchmarkVerify(b *testing.B) {
	benchVerify(b, true)
}

// BenchmarkVerifyInvalid measures the worst case: a well-formed signature
// that matches no origin, so every origin and its port twin is tried.
func BenchmarkVerifyInvalid(b *testing.B) {
	benchVerify(b, false)
}

func benchVerify(b *testing.B, valid bool) {
	v, err := NewVerifier(testOrigins)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest
	if !valid {
		r.uri = "/invoices/"
	}
	body := []byte(r.body)
	if _, err := v.Verify(r.identity, r.signature, r.uri, body); (err == nil) != valid {
		b.Fatalf("warm-up Verify: %v", err)
	}
	for b.Loop() {
		_, err = v.Verify(r.identity, r.signature, r.uri, body)
	}
	if (err == nil) != valid {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
}
