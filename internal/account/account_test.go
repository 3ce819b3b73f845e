package account

import (
	"strings"
	"testing"
	"time"
)

func TestRoleOrder(t *testing.T) {
	for _, tc := range []struct {
		r, min Role
		want   bool
	}{
		{RoleOwner, RoleOwner, true}, {RoleOwner, RoleManager, true}, {RoleOwner, RoleEmployee, true},
		{RoleManager, RoleOwner, false}, {RoleManager, RoleManager, true}, {RoleManager, RoleEmployee, true},
		{RoleEmployee, RoleManager, false}, {RoleEmployee, RoleEmployee, true},
		{"", RoleEmployee, false}, {"admin", RoleEmployee, false}, {"Owner", RoleEmployee, false},
	} {
		if got := tc.r.AtLeast(tc.min); got != tc.want {
			t.Errorf("%q.AtLeast(%q) = %v, want %v", tc.r, tc.min, got, tc.want)
		}
	}
	for _, s := range []string{"owner", "manager", "employee"} {
		if r, ok := ParseRole(s); !ok || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, ok)
		}
	}
	for _, s := range []string{"", "admin", "OWNER", " owner"} {
		if _, ok := ParseRole(s); ok {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

func TestSessionExpired(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	idle := 12 * time.Hour
	for _, tc := range []struct {
		name          string
		seen, expires time.Time
		want          bool
	}{
		{"in use", now.Add(-time.Hour), now.Add(time.Hour), false},
		{"idle to the limit", now.Add(-idle), now.Add(time.Hour), false},
		{"idle past the limit", now.Add(-idle - time.Millisecond), now.Add(time.Hour), true},
		{"at its end", now, now, true},
		{"past its end", now, now.Add(-time.Millisecond), true},
	} {
		s := Session{LastSeenAt: tc.seen, ExpiresAt: tc.expires}
		if got := s.Expired(now, idle); got != tc.want {
			t.Errorf("%s: Expired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestInviteUsable(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		inv  Invite
		want bool
	}{
		{"pending", Invite{ExpiresAt: now.Add(time.Minute)}, true},
		{"used", Invite{ExpiresAt: now.Add(time.Minute), UsedAt: now.Add(-time.Minute)}, false},
		{"at its expiry", Invite{ExpiresAt: now}, false},
		{"expired", Invite{ExpiresAt: now.Add(-time.Minute)}, false},
	} {
		if got := tc.inv.Usable(now); got != tc.want {
			t.Errorf("%s: Usable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"jo@example.com", "jo@example.com"},
		{"  Jo@Example.COM ", "jo@example.com"},
		{"not an email", ""},
		{"Jo <jo@example.com>", ""},
		{"<jo@example.com>", ""},
		{"", ""},
	} {
		got, err := CheckEmail(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("CheckEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := CheckEmail(strings.Repeat("a", 249) + "@x.io"); err != nil {
		t.Errorf("a 254-byte address: %v", err)
	}
	if _, err := CheckEmail(strings.Repeat("a", 250) + "@x.io"); err == nil {
		t.Error("a 255-byte address passed")
	}
}

func TestThrottleDelay(t *testing.T) {
	for _, tc := range []struct {
		n, free int
		want    time.Duration
	}{
		{0, 3, 0}, {2, 3, 0}, {3, 3, time.Second}, {4, 3, 2 * time.Second}, {6, 3, 8 * time.Second},
		{13, 3, maxDelay}, {1000, 3, maxDelay}, {9, 10, 0}, {10, 10, time.Second},
	} {
		if got := delay(tc.n, tc.free); got != tc.want {
			t.Errorf("delay(%d, %d) = %v, want %v", tc.n, tc.free, got, tc.want)
		}
	}
}

func TestThrottleWait(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		n    int
		ago  time.Duration
		want time.Duration
	}{
		{0, 0, 0}, {2, 0, 0}, {3, 0, time.Second}, {3, 400 * time.Millisecond, 600 * time.Millisecond},
		{3, 2 * time.Second, 0}, {100, time.Minute, maxDelay - time.Minute}, {100, time.Hour, 0},
		{100, FailureMemory + time.Second, 0},
	} {
		if got := Wait(tc.n, now.Add(-tc.ago), 3, now); got != tc.want {
			t.Errorf("Wait(%d, %v ago) = %v, want %v", tc.n, tc.ago, got, tc.want)
		}
	}
}
