package account

import "time"

// The throttle of repeated attempts: failed sign-ins and second-factor
// codes (per account and per client address), sign-ups and merchant
// applications (per client address). The attempts are counted per key
// in the database; a few are free, after that each one makes the next
// attempt wait twice as long as the one before, up to maxDelay. A count
// is forgotten FailureMemory after its last attempt.
const (
	baseDelay = time.Second
	maxDelay  = 15 * time.Minute
	// FailureMemory is how long a count is kept after its last attempt.
	FailureMemory = 24 * time.Hour
	// SignupsFree is how many sign-ups, or merchant applications, one
	// client address makes before each next one waits.
	SignupsFree = 3
)

// delay is the wait after n attempts of which free were free.
func delay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	shift := n - free
	if shift > 20 {
		return maxDelay
	}
	return min(baseDelay<<shift, maxDelay)
}

// Wait is how long the next attempt under a key must still wait at now,
// when n attempts were counted under it, the last at last, and free of
// them were free; zero when it need not.
func Wait(n int, last time.Time, free int, now time.Time) time.Duration {
	if n == 0 || now.Sub(last) > FailureMemory {
		return 0
	}
	return max(last.Add(delay(n, free)).Sub(now), 0)
}
