// Package auth holds API tokens, their facades and the pairing codes that
// bind a client to a token (spec §2). The HTTP side lives in the api
// package; the records and their rules live here.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Facade is the capability a token grants.
type Facade string

// The facades (spec §1.3).
const (
	FacadePublic   Facade = "public"
	FacadeUser     Facade = "user"
	FacadePOS      Facade = "pos"
	FacadeMerchant Facade = "merchant"
	FacadePayout   Facade = "payout"
)

// ParseFacade validates a facade name.
func ParseFacade(s string) (Facade, error) {
	switch f := Facade(s); f {
	case FacadePOS, FacadeMerchant, FacadePayout:
		return f, nil
	}
	return "", fmt.Errorf("unknown facade %q (want pos, merchant or payout)", s)
}

// Token is an API token of a store.
type Token struct {
	Value   string // the bearer value, base58
	StoreID string
	Facade  Facade
	Label   string
	// SIN is the client id bound to the token; "" for a bearer token that
	// needs no signature ("Require Authentication" off).
	SIN string
	// Active is false for a client-requested token awaiting approval.
	Active bool
	// PairingCode is set while the token waits to be paired or claimed.
	PairingCode      string
	PairingExpiresAt time.Time
	CreatedAt        time.Time
	RevokedAt        time.Time
	LastUsedAt       time.Time
}

// PairingTTL is how long a pairing code stays valid (BitPay: 24 hours).
const PairingTTL = 24 * time.Hour

// Errors of token and pairing rules.
var (
	ErrPairingExpired  = errors.New("pairing code has expired")
	ErrPairingNotFound = errors.New("the specified pairingCode is not found")
	ErrAlreadyPaired   = errors.New("pairing code was already used")
	ErrRevoked         = errors.New("token has been revoked")
)

// Usable reports whether t may authorize requests now.
func (t Token) Usable() bool { return t.Active && t.RevokedAt.IsZero() }

// Ref names the token without its secret value: in dashboard forms, and on
// the invoices it creates (invoice.Invoice.CreatedBy).
func (t Token) Ref() string { return TokenRef(t.Value) }

// TokenRef is the Ref of the token with this value: 24 hex digits of a
// SHA-256 of it, which tell tokens apart but give nothing of the value.
func TokenRef(value string) string {
	sum := sha256.Sum256([]byte("kassa token ref\x00" + value))
	return hex.EncodeToString(sum[:12])
}

// Matches compares a presented token value with t in constant time.
func (t Token) Matches(value string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Value), []byte(value)) == 1
}

// CanApprove checks that a client-requested pairing code may be approved now.
func (t Token) CanApprove(now time.Time) error {
	switch {
	case !t.RevokedAt.IsZero():
		return ErrRevoked
	case t.PairingCode == "":
		return ErrPairingNotFound
	case t.Active:
		return ErrAlreadyPaired
	case !now.Before(t.PairingExpiresAt):
		return ErrPairingExpired
	}
	return nil
}

const (
	base58Alphabet  = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	pairingAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
)

// NewTokenValue returns a fresh random token value (44 base58 chars, 256 bits).
func NewTokenValue() string { return randomString(base58Alphabet, 44) }

// NewPairingCode returns a fresh 7-character [A-Za-z0-9] pairing code, as
// PHP and WooCommerce clients require; lookalike characters are left out.
func NewPairingCode() string { return randomString(pairingAlphabet, 7) }

// NewID returns a fresh 22-character base58 id, BitPay's invoice id shape.
func NewID() string { return randomString(base58Alphabet, 22) }

func randomString(alphabet string, n int) string {
	// Rejection sampling over random bytes keeps every character uniform.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err))
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// NewResourceToken returns a fresh invoice resource token (64 base58
// characters), stable for the life of one invoice.
func NewResourceToken() string { return randomString(base58Alphabet, 64) }
