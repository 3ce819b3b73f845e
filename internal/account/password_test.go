package account

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry argon2id and its parameters", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no random salt")
	}
	if ok, rehash, err := VerifyPassword(h, "correct horse battery"); !ok || rehash || err != nil {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(h, "correct horse batterY"); ok {
		t.Fatal("wrong password accepted")
	}
	// A hash with older, weaker parameters still verifies and asks to be
	// replaced.
	weak := "$argon2id$v=19$m=4096,t=1,p=1$" + strings.Split(h, "$")[4] + "$"
	sum := strings.Split(h, "$")[5]
	if ok, _, _ := VerifyPassword(weak+sum, "correct horse battery"); ok {
		t.Fatal("a hash verified under other parameters")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!"} {
		if _, _, err := VerifyPassword(bad, "x"); !errors.Is(err, ErrBadHash) {
			t.Errorf("hash %q: err %v, want ErrBadHash", bad, err)
		}
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"short", false}, {"elevenchars", false}, {"twelve chars", true}, {"ääääääääääää", true}, {strings.Repeat("x", 2000), false}} {
		if err := CheckPassword(tc.pw); (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%q) = %v", tc.pw, err)
		}
	}
}

func TestRehashOfOldParameters(t *testing.T) {
	// Made with m=8192,t=1: verifies, and asks for a re-hash.
	salt := "c2FsdHNhbHRzYWx0c2FsdA"
	var h argonHash
	h.memory, h.time, h.threads = 8192, 1, 1
	sum := argonSum("old password here", salt, h)
	ok, rehash, err := VerifyPassword("$argon2id$v=19$m=8192,t=1,p=1$"+salt+"$"+sum, "old password here")
	if !ok || !rehash || err != nil {
		t.Fatalf("old parameters: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
}

// argonSum is the base64 argon2id of pw under h's parameters.
func argonSum(pw, salt string, h argonHash) string {
	s, _ := base64.RawStdEncoding.DecodeString(salt)
	return base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(pw), s, h.time, h.memory, h.threads, argonKeyLen))
}
