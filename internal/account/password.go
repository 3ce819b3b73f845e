package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: OWASP's recommendation of 19 MiB,
// two passes, one lane. A hash stores its own parameters, so raising them
// later re-hashes each password at its next sign-in.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length bounds: at least 12 characters; the upper bound only
// keeps hashing cheap to refuse.
const (
	MinPasswordLen = 12
	maxPasswordLen = 1024
)

// ErrBadHash is returned for a stored hash kassa cannot read.
var ErrBadHash = errors.New("unreadable password hash")

// CheckPassword says what is wrong with a new password, or returns nil.
func CheckPassword(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return fmt.Errorf("the password must have at least %d characters", MinPasswordLen)
	case len(pw) > maxPasswordLen:
		return fmt.Errorf("the password must have at most %d bytes", maxPasswordLen)
	}
	return nil
}

// HashPassword returns the PHC-encoded argon2id hash of pw with a random
// salt: $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	sum := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// argonHash is a decoded hash.
type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	sum     []byte
}

// parseHash decodes a PHC argon2id string, refusing parameters far beyond
// any kassa writes (a tampered row must not stall sign-in).
func parseHash(encoded string) (argonHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return argonHash{}, ErrBadHash
	}
	var h argonHash
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &threads); err != nil {
		return argonHash{}, ErrBadHash
	}
	if h.memory < 8 || h.memory > 1<<20 || h.time < 1 || h.time > 16 || threads < 1 || threads > 16 {
		return argonHash{}, ErrBadHash
	}
	h.threads = uint8(threads)
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return argonHash{}, ErrBadHash
	}
	if h.sum, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.sum) < 16 || len(h.sum) > 64 {
		return argonHash{}, ErrBadHash
	}
	return h, nil
}

// VerifyPassword reports whether pw matches the encoded hash, and whether
// the hash was made with other parameters than today's (so it should be
// replaced by HashPassword(pw)).
func VerifyPassword(encoded, pw string) (ok, rehash bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	if len(pw) > maxPasswordLen {
		return false, false, nil
	}
	sum := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.sum)))
	ok = subtle.ConstantTimeCompare(sum, h.sum) == 1
	rehash = h.memory != argonMemory || h.time != argonTime || h.threads != argonThreads || len(h.sum) != argonKeyLen
	return ok, rehash, nil
}
