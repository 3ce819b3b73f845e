package bitauth

import (
	"encoding/hex"
	"errors"
	"testing"
)

// The BitAuth reference vector (spec §1.1, bitauth test/test.bitauth.js).
const (
	baPubHex = "02326209e52f6f17e987ec27c56a1321acf3d68088b8fb634f232f12ccbc9a4575"
	baSIN    = "Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjR"
)

func TestSIN(t *testing.T) {
	pub, err := hex.DecodeString(baPubHex)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SIN(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != baSIN {
		t.Errorf("SIN = %s, want %s", got, baSIN)
	}
	if !ValidSIN(got) {
		t.Errorf("ValidSIN(%s) = false", got)
	}
}

func TestSINUsesKeyBytesAsSent(t *testing.T) {
	key, err := ParsePublicKey(baPubHex)
	if err != nil {
		t.Fatal(err)
	}
	uncompressed, err := SIN(key.SerializeUncompressed())
	if err != nil {
		t.Fatal(err)
	}
	if uncompressed == baSIN || !ValidSIN(uncompressed) {
		t.Errorf("SIN of the uncompressed key = %s, want a different valid SIN than %s", uncompressed, baSIN)
	}
}

func TestSINRejectsBadKeys(t *testing.T) {
	tests := []struct {
		name string
		hex  string
	}{
		{"empty", ""},
		{"truncated", baPubHex[:64]},
		{"bad prefix", "05" + baPubHex[2:]},
		{"hybrid", "06" + baPubHex[2:] + baPubHex[2:]},
		{"x not on curve", "02" + "0000000000000000000000000000000000000000000000000000000000000005"},
		{"x too large", "02" + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			if sin, err := SIN(raw); !errors.Is(err, ErrBadIdentity) {
				t.Errorf("SIN = %q, %v; want ErrBadIdentity", sin, err)
			}
			if _, err := ParsePublicKey(tt.hex); !errors.Is(err, ErrBadIdentity) {
				t.Errorf("ParsePublicKey error %v, want ErrBadIdentity", err)
			}
		})
	}
}

func TestValidSIN(t *testing.T) {
	tests := []struct {
		sin  string
		want bool
	}{
		{baSIN, true},
		{"Tf9SMn298PbCDQWKdCVQTxoi6M3J9USwPuX", true},
		{"Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwjS", false}, // checksum
		{"Tf3yr5tYvccKNVrE26BrPs6LWZRh8woHwj", false},  // truncated
		{"1BoatSLRHtKNngkdXEeobR76b53LETtpyT", false},  // a Bitcoin address
		{"", false},
		{"0OIl", false},
	}
	for _, tt := range tests {
		if got := ValidSIN(tt.sin); got != tt.want {
			t.Errorf("ValidSIN(%q) = %v, want %v", tt.sin, got, tt.want)
		}
	}
}
