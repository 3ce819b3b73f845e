package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TOTP as authenticator apps implement it (RFC 6238 over RFC 4226's
// HOTP): HMAC-SHA1, 6 digits, 30-second steps. A code of the step
// before or after the current one is accepted too, for clock drift; each
// step's code is accepted once (the store remembers the last step used).
const (
	totpPeriod = 30
	totpDigits = 6
	totpSkew   = 1
)

// RecoveryCodeCount is how many one-time recovery codes a user gets.
const RecoveryCodeCount = 10

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns a fresh 160-bit secret in base32, as apps expect.
func newTOTPSecret() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return b32.EncodeToString(b[:])
}

// totpStep is the 30-second step t falls in.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is the code of a step (RFC 4226 §5.3 dynamic truncation),
// zero-padded to digits.
func totpCode(secret []byte, step int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(bin%mod), 10)
	return strings.Repeat("0", digits-len(s)) + s
}

// TOTPCode returns the current code for a base32 secret, as an
// authenticator app shows it (for tests and the CLI).
func TOTPCode(secret string, now time.Time) (string, error) {
	key, err := b32.DecodeString(strings.ToUpper(strings.TrimSpace(secret)))
	if err != nil {
		return "", fmt.Errorf("TOTP secret: %w", err)
	}
	return totpCode(key, totpStep(now), totpDigits), nil
}

// matchTOTP returns the step whose code equals code within the allowed
// skew around now, comparing in constant time, or false.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	key, err := b32.DecodeString(secret)
	if err != nil || len(code) != totpDigits {
		return 0, false
	}
	cur := totpStep(now)
	var found int64
	ok := false
	for d := -totpSkew; d <= totpSkew; d++ {
		step := cur + int64(d)
		if hmac.Equal([]byte(totpCode(key, step, totpDigits)), []byte(code)) && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// otpauthURI is what the enrolment QR code holds (Google Authenticator's
// Key Uri Format).
func otpauthURI(issuer, account, secret string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// newRecoveryCodes returns RecoveryCodeCount fresh codes of 80 random
// bits each, as xxxx-xxxx-xxxx-xxxx.
func newRecoveryCodes() []string {
	out := make([]string, RecoveryCodeCount)
	for i := range out {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err))
		}
		s := strings.ToLower(b32.EncodeToString(b[:]))
		out[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return out
}

// normalizeRecoveryCode drops separators and case.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}

// hashRecoveryCode is the stored form of a recovery code. 80 random bits
// make a fast hash as safe as a slow one; the user id keeps equal codes
// of two users apart.
func hashRecoveryCode(userID, code string) string {
	sum := sha256.Sum256([]byte("kassa recovery code\x00" + userID + "\x00" + normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}
