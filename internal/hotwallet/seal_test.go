package hotwallet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// cheap are parameters for tests that seal many times.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

var (
	testPass  = []byte("correct horse battery staple")
	testPlain = []byte("tprv8ZgxMBicQKsPd9TeAdPADNnSyH9SSUUbTVeFszDE23Ki6TBB5nCefAdHkK8Fm3qMQR6sHwA56zqRmKmxnHk37JkiFzvncDqoKmPWubu7hDF")
)

// TestSealRoundTrip: what Seal makes, Open gives back with the same
// passphrase and store, and nothing of the key shows in the blob.
func TestSealRoundTrip(t *testing.T) {
	sealed, err := Seal(testPlain, testPass, "store1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(sealed, testPass, "store1")
	if err != nil || !bytes.Equal(got, testPlain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, err := Seal(testPlain, testPass, "store1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, sealed) || bytes.Equal(again[8:48], sealed[8:48]) {
		t.Fatal("two seals share their salt and nonce")
	}
	for _, form := range [][]byte{testPlain, testPlain[4:20], []byte(hex.EncodeToString(testPlain[4:20])),
		[]byte(base64.StdEncoding.EncodeToString(testPlain)[4:24]), testPass, testPass[:12]} {
		for _, blob := range [][]byte{sealed, []byte(hex.EncodeToString(sealed)), []byte(base64.StdEncoding.EncodeToString(sealed))} {
			if bytes.Contains(blob, form) {
				t.Fatalf("the sealed blob shows %q", form)
			}
		}
	}
}

// TestOpenRefuses: a wrong passphrase, another store's blob, any byte
// changed, a truncated blob, an unknown version and absurd parameters all
// fail cleanly, with no plaintext.
func TestOpenRefuses(t *testing.T) {
	sealed, err := Seal(testPlain, testPass, "store1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(sealed, []byte("correct horse battery stapl3"), "store1"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := Open(sealed, testPass, "store2"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("another store: %v", err)
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		got, err := Open(tampered, testPass, "store1")
		if got != nil || !(errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrSealedFormat)) {
			t.Fatalf("byte %d changed: %q, %v", i, got, err)
		}
	}
	if _, err := Open(sealed[:len(sealed)-1], testPass, "store1"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("last byte cut: %v", err)
	}
	if _, err := Open(sealed[:40], testPass, "store1"); !errors.Is(err, ErrSealedFormat) {
		t.Errorf("truncated: %v", err)
	}
	v2 := bytes.Clone(sealed)
	v2[0] = 2
	if _, err := Open(v2, testPass, "store1"); !errors.Is(err, ErrSealedFormat) {
		t.Errorf("version 2: %v", err)
	}
	huge := bytes.Clone(sealed)
	huge[2] = 0xff // 4 TiB of memory
	start := time.Now()
	if _, err := Open(huge, testPass, "store1"); !errors.Is(err, ErrSealedFormat) || time.Since(start) > time.Second {
		t.Errorf("absurd parameters: %v after %s", err, time.Since(start))
	}
}

// TestSealRefusesWeakPassphrases refuses passphrases under 12 characters
// and parameters Open would not accept.
func TestSealRefusesWeakPassphrases(t *testing.T) {
	for _, pass := range []string{"", "short", "elevenchars"} {
		if _, err := Seal(testPlain, []byte(pass), "store1", cheap); !errors.Is(err, ErrWeakPassphrase) {
			t.Errorf("passphrase %q: %v", pass, err)
		}
	}
	if _, err := Seal(testPlain, []byte("twelve chars"), "store1", cheap); err != nil {
		t.Errorf("twelve characters: %v", err)
	}
	if _, err := Seal(testPlain, testPass, "store1", Params{Memory: 64, Time: 0, Threads: 1}); !errors.Is(err, ErrSealedFormat) {
		t.Errorf("zero passes: %v", err)
	}
}

// TestDefaultParams: the default parameters are accepted and take a
// noticeable time (they are meant to take 100-300 ms on a server core).
func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at the default parameters")
	}
	start := time.Now()
	sealed, err := Seal(testPlain, testPass, "store1", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if _, err := Open(sealed, testPass, "store1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("sealing at the default parameters took %s", took)
	if took < 20*time.Millisecond {
		t.Errorf("sealing took %s: the default parameters are too cheap", took)
	}
}
