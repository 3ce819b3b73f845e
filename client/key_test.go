package client

import (
	"strings"
	"testing"
)

// TestKeyVectors checks the BitAuth reference keys (spec §1.1; bitauth
// test/test.bitauth.js and its ports): private key → compressed public key
// → SIN.
func TestKeyVectors(t *testing.T) {
	tests := []struct {
		priv, pub, sin string
	}{
		{
			priv: "97811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c",
			pub:  "02326209e52f6f17e987ec27c56a1321acf3d68088b8fb634f232f12ccbc9a4575",
			sin:  "Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjR",
		},
		{
			priv: "8295702b2273896ae085c3caebb02985cab02038251e10b6f67a14340edb51b0",
			pub:  "0333952d51e42f7db05a6c9dd347c4a7b4d4167ba29191ce1b86a0c0dd39bffb58",
			sin:  "TfJq16yg72aV9PqsZkhmiojuBRghdGWYcmj",
		},
	}
	for _, tt := range tests {
		t.Run(tt.sin, func(t *testing.T) {
			k, err := ParseKey(tt.priv)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Hex(); got != tt.priv {
				t.Errorf("Hex() = %s, want %s", got, tt.priv)
			}
			if got := k.PublicHex(); got != tt.pub {
				t.Errorf("PublicHex() = %s, want %s", got, tt.pub)
			}
			if got := k.SIN(); got != tt.sin {
				t.Errorf("SIN() = %s, want %s", got, tt.sin)
			}
		})
	}
}

func TestNewKeyRoundTrip(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseKey(k.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if again.PublicHex() != k.PublicHex() || again.SIN() != k.SIN() {
		t.Errorf("ParseKey(Hex()) gives a different identity")
	}
	if len(k.PublicHex()) != 66 || !strings.HasPrefix(k.SIN(), "T") || len(k.SIN()) != 35 {
		t.Errorf("identity shape: pub %q sin %q", k.PublicHex(), k.SIN())
	}
}

func TestParseKeyRejects(t *testing.T) {
	tests := map[string]string{
		"not hex":      "zz811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c",
		"short":        "97811b69",
		"long":         "97811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c00",
		"zero":         strings.Repeat("00", 32),
		"curve order":  "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
		"above order":  strings.Repeat("ff", 32),
		"empty string": "",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKey(in); err == nil {
				t.Errorf("ParseKey(%q) succeeded", in)
			}
		})
	}
}

func TestSignatureVerifies(t *testing.T) {
	k, err := ParseKey("97811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://bitpay.com/invoices"
	body := `{"price":500,"currency":"USD","token":"MqA2wX15qHCbG7FBtJZRAxQunrRjAvGBRVJedsiTnZY"}`
	sig := k.sign([]byte(url + body))
	sin, err := verifyBitAuth(url, []byte(body), k.PublicHex(), sig)
	if err != nil {
		t.Fatal(err)
	}
	if sin != k.SIN() {
		t.Errorf("server SIN %s, key SIN %s", sin, k.SIN())
	}
	if _, err := verifyBitAuth(url+"/", []byte(body), k.PublicHex(), sig); err == nil {
		t.Error("signature verified over a different URL")
	}
	if _, err := verifyBitAuth(url, []byte(body+" "), k.PublicHex(), sig); err == nil {
		t.Error("signature verified over a different body")
	}
}

// BenchmarkSign measures signing one request (SHA-256 and ECDSA).
func BenchmarkSign(b *testing.B) {
	k, err := ParseKey("97811b691dd7ebaeb67977d158e1da2c4d3eaa4ee4e2555150628acade6b344c")
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(`https://bitpay.com/invoices{"price":500,"currency":"USD","token":"MqA2wX15qHCbG7FBtJZRAxQunrRjAvGBRVJedsiTnZY"}`)
	for b.Loop() {
		_ = k.sign(msg)
	}
}
