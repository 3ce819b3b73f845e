package auth

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestGeneratedValues(t *testing.T) {
	code := regexp.MustCompile(`^[A-Za-z0-9]{7}$`)
	b58 := regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]+$`)
	seen := map[string]bool{}
	for range 1000 {
		c := NewPairingCode()
		if !code.MatchString(c) {
			t.Fatalf("pairing code %q is not 7 alphanumerics", c)
		}
		for _, v := range []string{NewTokenValue(), NewID(), NewResourceToken()} {
			if !b58.MatchString(v) || seen[v] {
				t.Fatalf("value %q is not fresh base58", v)
			}
			seen[v] = true
		}
	}
	if len(NewID()) != 22 || len(NewTokenValue()) != 44 || len(NewResourceToken()) != 64 {
		t.Fatal("lengths: id 22, token 44, resource token 64")
	}
}

func TestCanApprove(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pending := Token{PairingCode: "abcDEF1", PairingExpiresAt: now.Add(time.Hour), SIN: "Tf…"}
	cases := []struct {
		name string
		tok  func(Token) Token
		want error
	}{
		{"pending", func(t Token) Token { return t }, nil},
		{"expired", func(t Token) Token { t.PairingExpiresAt = now; return t }, ErrPairingExpired},
		{"already active", func(t Token) Token { t.Active = true; return t }, ErrAlreadyPaired},
		{"revoked", func(t Token) Token { t.RevokedAt = now; return t }, ErrRevoked},
		{"no code", func(t Token) Token { t.PairingCode = ""; return t }, ErrPairingNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.tok(pending).CanApprove(now); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, have %v", tc.want, err)
			}
		})
	}
}

func TestMatchesAndUsable(t *testing.T) {
	tok := Token{Value: NewTokenValue(), Active: true}
	if !tok.Matches(tok.Value) || tok.Matches(tok.Value[:43]) || tok.Matches("") {
		t.Fatal("Matches must accept exactly the value")
	}
	if !tok.Usable() {
		t.Fatal("an active token is usable")
	}
	tok.RevokedAt = time.Now()
	if tok.Usable() {
		t.Fatal("a revoked token is not usable")
	}
}

func TestParseFacade(t *testing.T) {
	for _, ok := range []string{"pos", "merchant", "payout"} {
		if _, err := ParseFacade(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "public", "admin", "POS"} {
		if _, err := ParseFacade(bad); err == nil {
			t.Errorf("%q must be refused", bad)
		}
	}
}
