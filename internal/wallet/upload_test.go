package wallet

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// bip174Vector is one PSBT of testdata/bip174 with its case name.
type bip174Vector struct {
	name string
	raw  []byte // as given: base64 or hex text
}

// readBIP174 reads a vector file of testdata/bip174: a line "<encoding>
// <case>" and the PSBT on the next.
func readBIP174(t testing.TB, file string) []bip174Vector {
	t.Helper()
	f, err := os.Open("testdata/bip174/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []bip174Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case name == "":
			name = line
		default:
			out = append(out, bip174Vector{name, []byte(line)})
			name = ""
		}
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("read %s: %v (%d vectors)", file, err, len(out))
	}
	return out
}

// TestBIP174Vectors decodes BIP174's valid PSBTs (each in base64, hex and
// binary, with line breaks as mail adds them) and re-encodes them to the
// same packet, and refuses every invalid one.
func TestBIP174Vectors(t *testing.T) {
	for _, v := range readBIP174(t, "valid.txt") {
		var raw []byte
		if strings.HasPrefix(v.name, "hex") {
			raw, _ = hex.AppendDecode(nil, v.raw)
		} else {
			raw, _ = base64.StdEncoding.AppendDecode(nil, v.raw)
		}
		wrapped := base64.StdEncoding.EncodeToString(raw)
		for i := 76; i < len(wrapped); i += 77 {
			wrapped = wrapped[:i] + "\n" + wrapped[i:]
		}
		for form, in := range map[string][]byte{
			"binary": raw,
			"hex":    []byte("  " + hex.EncodeToString(raw) + "\n"),
			"base64": []byte(wrapped + "\r\n"),
		} {
			p, err := DecodePSBT(in)
			if err != nil {
				t.Errorf("%s (%s): %v", v.name, form, err)
				continue
			}
			var again bytes.Buffer
			if err := p.Serialize(&again); err != nil {
				t.Errorf("%s (%s): serialize: %v", v.name, form, err)
				continue
			}
			if _, err := DecodePSBT(again.Bytes()); err != nil {
				t.Errorf("%s (%s): re-encoded does not decode: %v", v.name, form, err)
			}
		}
	}
	for _, v := range readBIP174(t, "invalid.txt") {
		if _, err := DecodePSBT(v.raw); !errors.Is(err, ErrNotTransaction) {
			t.Errorf("%s: %v, want ErrNotTransaction", v.name, err)
		}
	}
}

func TestDecodePSBTRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":           "",
		"white space":     " \n\t",
		"garbage":         "hello, world",
		"damaged base64":  "cHNidP8B!!!",
		"truncated":       "cHNidP8BAHUCAAAAASaBcTce3/KF6Tet7qSze3gADAVm",
		"a raw tx":        "0100000000010000000000",
		"too large":       strings.Repeat("00", MaxUploadBytes+1),
		"just the magic":  "70736274ff",
		"magic and break": "70736274ff00",
	} {
		if _, err := DecodePSBT([]byte(in)); !errors.Is(err, ErrNotTransaction) {
			t.Errorf("%s: %v, want ErrNotTransaction", name, err)
		}
	}
}

// FuzzDecodePSBT: decoding never panics, and whatever decodes re-encodes
// to bytes that decode and re-encode to the same bytes.
func FuzzDecodePSBT(f *testing.F) {
	for _, file := range []string{"valid.txt", "invalid.txt"} {
		for _, v := range readBIP174(f, file) {
			f.Add(v.raw)
		}
	}
	f.Add([]byte("psbt\xff\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePSBT(in)
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := p.Serialize(&first); err != nil {
			return
		}
		q, err := DecodePSBT(first.Bytes())
		if err != nil {
			t.Fatalf("re-encoded PSBT does not decode: %v", err)
		}
		var second bytes.Buffer
		if err := q.Serialize(&second); err != nil {
			t.Fatalf("second serialize: %v", err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("encoding is not stable:\n%x\n%x", first.Bytes(), second.Bytes())
		}
	})
}
