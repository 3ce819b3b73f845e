package bitauth

import (
	"errors"
	"testing"
)

// FuzzVerify feeds arbitrary headers, targets and bodies to Verify, which
// must never panic, must fail only with its sentinel errors and must only
// return well-formed SINs; every spelling of the target it tries must be
// the same URL (checkTargetForms). Seeds: testdata/fuzz/FuzzVerify and below.
func FuzzVerify(f *testing.F) {
	f.Add(
		"02578628ad929a4d6188d9bcc4c887ac606aff2053b478765b157bf22a589950f6",
		"3045022100bba418c556c728a742e06399d94d910b1679d4accf8aa3aff7944f17e2c05817022032d0599c88e44fb0de8132738c2728243a69dad4ca73943164796ec7b666e4be",
		"/invoices",
		[]byte(`{"price":10.5,"currency":"USD"}`),
	)
	f.Add(baPubHex, "3006020101020101", "https://bitpay.com:443/tokens?", []byte(nil))
	f.Add("04", "30", "http://", []byte("x"))
	f.Add(baPubHex, "3006020101020101", "/invoices?orderId=a~b%7e%2C%zz%4", []byte(nil))
	v, err := NewVerifier(testOrigins)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, identity, signature, uri string, body []byte) {
		checkTargetForms(t, uri)
		sin, err := v.Verify(identity, signature, uri, body)
		if err == nil {
			if !ValidSIN(sin) {
				t.Fatalf("Verify accepted with malformed SIN %q", sin)
			}
			return
		}
		for _, want := range []error{ErrMissingIdentity, ErrBadIdentity, ErrBadSignature, ErrInvalidSignature} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("Verify returned an unexpected error: %v", err)
	})
}
