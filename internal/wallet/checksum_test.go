package wallet

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestDescriptorChecksumBIP380 runs the checksum vectors of BIP-380, read
// verbatim from testdata: the valid ones pass splitChecksum, the others fail.
func TestDescriptorChecksumBIP380(t *testing.T) {
	f, err := os.Open("testdata/bip380_checksum.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	valid := map[string]bool{"Valid checksum": true, "No checksum": true}
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "* ") {
			continue
		}
		label, rest, _ := strings.Cut(strings.TrimPrefix(line, "* "), ": ")
		desc := strings.TrimSuffix(strings.TrimPrefix(rest, "<tt>"), "</tt>")
		n++
		t.Run(label, func(t *testing.T) {
			body, err := splitChecksum(desc)
			if valid[label] {
				if err != nil {
					t.Fatalf("splitChecksum(%q): %v", desc, err)
				}
				if body != "raw(deadbeef)" {
					t.Errorf("body = %q, want raw(deadbeef)", body)
				}
				return
			}
			if err == nil {
				t.Fatalf("splitChecksum(%q) accepted an invalid checksum", desc)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Fatalf("read %d vectors, want 8", n)
	}
}

// TestDescriptorChecksumCore checks descriptors with checksums published by
// Bitcoin Core, and that changing any one character is detected.
func TestDescriptorChecksumCore(t *testing.T) {
	data, err := os.ReadFile("testdata/core_checksums.txt")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		body, sum, _ := strings.Cut(line, "#")
		t.Run(sum, func(t *testing.T) {
			got, err := DescriptorChecksum(body)
			if err != nil {
				t.Fatal(err)
			}
			if got != sum {
				t.Fatalf("DescriptorChecksum = %s, want %s", got, sum)
			}
			if _, err := splitChecksum(line); err != nil {
				t.Fatalf("splitChecksum: %v", err)
			}
			// Swapping the case of one letter is a single symbol error,
			// which BIP-380 guarantees to detect.
			for i := 0; i < len(body); i++ {
				c := body[i]
				var swapped byte
				switch {
				case c >= 'a' && c <= 'z':
					swapped = c - 'a' + 'A'
				case c >= 'A' && c <= 'Z':
					swapped = c - 'A' + 'a'
				default:
					continue
				}
				mutated := body[:i] + string(swapped) + body[i+1:] + "#" + sum
				if _, err := splitChecksum(mutated); !errors.Is(err, ErrBadChecksum) {
					t.Fatalf("case change at %d: err = %v, want ErrBadChecksum", i, err)
				}
			}
		})
	}
}
