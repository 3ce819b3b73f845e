package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/store"
)

// Cookie names: the session, and the double-submit token of forms shown
// before sign-in.
const (
	sessionCookie = "kassa_session"
	formCookie    = "kassa_form"
)

// mfaWindow is how long a session waits for its second factor.
const mfaWindow = 5 * time.Minute

// Sessions stores the signed-in browsers by the hash of their cookie;
// *store.DB implements it.
type Sessions interface {
	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s account.Session) error
	// GetSession loads a session or fails with store.ErrNotFound; whether
	// it has expired is the caller's to check.
	GetSession(ctx context.Context, idHash string) (account.Session, error)
	// TouchSession moves a session's last use to at.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession ends one session; an unknown one is no error.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteUserSessions ends every session of a user and returns how
	// many there were.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// DeleteExpired drops sessions past their end or idle since
	// idleBefore, and throttle counters last counted before
	// failuresBefore.
	DeleteExpired(ctx context.Context, now, idleBefore, failuresBefore time.Time) error
}

// touchEvery is how stale a session's last use may be before a request
// writes the new one: idle expiry needs no write per request.
const touchEvery = time.Minute

// randomToken returns 32 random bytes in URL-safe base64.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is the stored form of a session id or invite secret.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sameToken compares a presented token with the expected one in constant
// time; an empty token never matches.
func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookie returns a dashboard cookie with the flags every one carries.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: s.base + "/dashboard", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil}
}

// session returns the request's session of the given stage with its
// user. An expired or idle session is deleted; a session of another stage
// does not count.
func (s *Server) session(ctx context.Context, r *http.Request, stage account.Stage) (account.Session, account.User, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return account.Session{}, account.User{}, false
	}
	id := hashToken(c.Value)
	sess, err := s.cfg.Sessions.GetSession(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Error("dashboard: load session", "err", err)
		}
		return account.Session{}, account.User{}, false
	}
	now := s.now()
	if sess.Expired(now, s.cfg.IdleTimeout) {
		if err := s.cfg.Sessions.DeleteSession(ctx, id); err != nil {
			s.cfg.Log.Error("dashboard: delete expired session", "err", err)
		}
		return account.Session{}, account.User{}, false
	}
	if sess.Stage != stage {
		return account.Session{}, account.User{}, false
	}
	u, err := s.cfg.Users.GetUser(ctx, sess.UserID)
	if err != nil {
		s.cfg.Log.Error("dashboard: load session user", "user", sess.UserID, "err", err)
		return account.Session{}, account.User{}, false
	}
	if now.Sub(sess.LastSeenAt) > touchEvery {
		if err := s.cfg.Sessions.TouchSession(ctx, id, now); err != nil {
			s.cfg.Log.Warn("dashboard: touch session", "err", err)
		}
	}
	return sess, u, true
}

// startSession signs u in with a new session of stage: a fresh random id
// whatever cookie the browser sent (no fixation), the old session, if
// any, deleted.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u account.User, stage account.Stage) error {
	s.endSession(r)
	now := s.now()
	expires := now.Add(s.cfg.MaxAge)
	if stage == account.StageMFA {
		expires = now.Add(mfaWindow)
	}
	id := randomToken()
	err := s.cfg.Sessions.CreateSession(r.Context(), account.Session{IDHash: hashToken(id), UserID: u.ID, Stage: stage,
		CSRF: randomToken(), CreatedAt: now, LastSeenAt: now, ExpiresAt: expires, Address: clientAddr(r).String(),
		UserAgent: shortText(r.UserAgent())})
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, id, int(expires.Sub(now)/time.Second)))
	s.cleanup(r.Context(), now)
	return nil
}

// endSession deletes the request's session, if any.
func (s *Server) endSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 128 {
		if err := s.cfg.Sessions.DeleteSession(r.Context(), hashToken(c.Value)); err != nil {
			s.cfg.Log.Error("dashboard: delete session", "err", err)
		}
	}
}

// clearSession removes the session cookie from the browser.
func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
}

// cleanup deletes expired sessions and stale throttle counters, at most
// once an hour, on a sign-in.
func (s *Server) cleanup(ctx context.Context, now time.Time) {
	last := s.cleanedAt.Load()
	if now.UnixMilli()-last < time.Hour.Milliseconds() || !s.cleanedAt.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	if err := s.cfg.Sessions.DeleteExpired(ctx, now, now.Add(-s.cfg.IdleTimeout), now.Add(-account.FailureMemory)); err != nil {
		s.cfg.Log.Warn("dashboard: clean up sessions", "err", err)
	}
}

// formToken returns the double-submit CSRF token of a form shown before
// sign-in, setting its cookie when the browser has none.
func (s *Server) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, s.cookie(r, formCookie, t, 0))
	return t
}

// checkForm verifies a pre-sign-in form's CSRF token against its cookie.
func (s *Server) checkForm(r *http.Request) bool {
	c, err := r.Cookie(formCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		s.cfg.Log.Warn("dashboard: form CSRF token missing or wrong", "path", r.URL.Path)
		return false
	}
	return true
}

// clientAddr is the address the request came from; IPv6 clients are
// counted by their /64, which one client can change at will.
func clientAddr(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// safeNext returns next when it is a dashboard path of this server, else
// the dashboard's home: no open redirect through ?next=.
func (s *Server) safeNext(next string) string {
	home := s.base + "/dashboard/"
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") ||
		strings.Contains(next, "\\") || !strings.HasPrefix(u.Path, s.base+"/dashboard") {
		return home
	}
	return u.RequestURI()
}
