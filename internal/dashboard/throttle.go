package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
)

// The sign-in throttle (account.Wait's rule). Failed passwords and
// second-factor codes are counted per account (the email, whether or not
// it exists, so the throttle tells nothing about which do) and per client
// address. A few failures are free; after that each one makes the next
// attempt wait twice as long as the one before, up to 15 minutes. Waiting
// attempts are refused without checking the password. A count is
// forgotten account.FailureMemory after its last failure, and an
// account's on success.
const (
	accountFree = 3  // failures per account before waits begin
	addressFree = 10 // failures per client address before waits begin
)

// Attempts keeps the throttle's counters; *store.DB implements it.
type Attempts interface {
	// LoginFailures returns the attempts counted under key and when the
	// last one was; none (0) for an unknown key.
	LoginFailures(ctx context.Context, key string) (int, time.Time, error)
	// RecordLoginFailure counts one more attempt under key, at at, and
	// returns the count; one whose last attempt was before resetBefore
	// starts again from one.
	RecordLoginFailure(ctx context.Context, key string, at, resetBefore time.Time) (int, error)
	// ResetLoginFailures forgets the attempts under key.
	ResetLoginFailures(ctx context.Context, key string) error
}

type throttle struct {
	db    Attempts
	clock func() time.Time
}

func accountKey(email string) string {
	return "acct:" + account.NormalEmail(email)
}

func addressKey(r *http.Request) string { return "addr:" + clientAddr(r).String() }

// wait returns how long the account and the client must still wait
// before another attempt, zero when they need not.
func (t *throttle) wait(ctx context.Context, account string, r *http.Request) (time.Duration, error) {
	a, err := t.waitKey(ctx, account, accountFree)
	if err != nil {
		return 0, err
	}
	b, err := t.waitKey(ctx, addressKey(r), addressFree)
	return max(a, b), err
}

// waitKey is how long the attempts counted under key must still wait
// when free of them were free.
func (t *throttle) waitKey(ctx context.Context, key string, free int) (time.Duration, error) {
	n, last, err := t.db.LoginFailures(ctx, key)
	if err != nil {
		return 0, err
	}
	return account.Wait(n, last, free, t.clock()), nil
}

// fail counts a failed attempt for the account and the client.
func (t *throttle) fail(ctx context.Context, account string, r *http.Request) error {
	if err := t.count(ctx, account); err != nil {
		return err
	}
	return t.count(ctx, addressKey(r))
}

// count counts one attempt under key.
func (t *throttle) count(ctx context.Context, key string) error {
	now := t.clock()
	_, err := t.db.RecordLoginFailure(ctx, key, now, now.Add(-account.FailureMemory))
	return err
}

// succeed forgets the account's failures.
func (t *throttle) succeed(ctx context.Context, account string) error {
	return t.db.ResetLoginFailures(ctx, account)
}

// waitText says how long to wait, in words, rounded up.
func waitText(d time.Duration) string {
	secs := max(int64((d+time.Second-1)/time.Second), 1)
	switch {
	case secs == 1:
		return "1 second"
	case secs < 60:
		return strconv.FormatInt(secs, 10) + " seconds"
	case secs <= 60:
		return "1 minute"
	}
	return strconv.FormatInt((secs+59)/60, 10) + " minutes"
}
