package account

import (
	"errors"
	"net/mail"
	"strings"
	"time"
)

// ErrSetupDone is returned when the first account is to be made but an
// account exists: two set-up forms sent at once make one owner.
var ErrSetupDone = errors.New("the first account already exists")

// Kind is what an account may do beyond the stores it is a member of.
type Kind string

// The kinds of account.
const (
	KindAdmin    Kind = "admin"    // the operator: owner of every store
	KindMerchant Kind = "merchant" // may create stores of its own
	KindMember   Kind = "member"   // only the stores it was invited to
)

// User is a dashboard account.
type User struct {
	ID    string
	Email string // lower case (NormalEmail)
	// PasswordHash is the encoded argon2id hash (HashPassword).
	PasswordHash string
	Kind         Kind
	// TOTPSecret is the base32 second-factor secret, "" when 2FA is off;
	// TOTPPending is a secret being enrolled, not yet confirmed.
	TOTPSecret  string
	TOTPPending string
	// TOTPLastStep is the last 30-second step whose code was accepted;
	// a code of that step or an earlier one is refused.
	TOTPLastStep int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// maxEmailLen is the longest email address an account may have.
const maxEmailLen = 254

// NormalEmail is the form an email address is stored and looked up in:
// trimmed and in lower case, so that one address is one account however
// it is typed.
func NormalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CheckEmail returns a new account's email address in its normal form,
// or an error, for the person typing it, when it is not a bare address
// (a display name or angle brackets are refused) or is too long.
func CheckEmail(email string) (string, error) {
	email = NormalEmail(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > maxEmailLen || a.Name != "" {
		return "", errors.New("enter a valid email address, such as jo@example.com")
	}
	return email, nil
}
