package account

import "time"

// Stage is how far a session has got through signing in.
type Stage string

// The stages of a session.
const (
	StageFull Stage = "full" // signed in
	StageMFA  Stage = "mfa"  // password accepted, second factor awaited
)

// Session is a signed-in browser. Only the hash of its cookie value is
// stored, so a copy of the database signs no one in.
type Session struct {
	IDHash string
	UserID string
	Stage  Stage
	// CSRF is the token every form of the session carries.
	CSRF       string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session, whatever its use.
	ExpiresAt time.Time
	Address   string
	UserAgent string
}

// Expired reports whether s is over at now: past its absolute end, or
// unused for longer than idle.
func (s Session) Expired(now time.Time, idle time.Duration) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > idle
}
