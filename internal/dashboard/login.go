package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/store"
)

// loginForm is the sign-in page's data.
type loginForm struct {
	Email  string
	Next   string
	Signup bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := s.safeNext(r.URL.Query().Get("next"))
	if _, _, ok := s.session(r.Context(), r, account.StageFull); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "Sign in", "login", view{CSRF: s.formToken(w, r),
		D: loginForm{Next: next, Signup: s.cfg.Signup}})
}

// loginPost checks an email and password. Throttled attempts are refused
// before the password is looked at; an unknown email costs the same
// hashing time as a known one and counts as a failure alike.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := loginForm{Email: strings.TrimSpace(r.PostFormValue("email")), Next: s.safeNext(r.PostFormValue("next")), Signup: s.cfg.Signup}
	fail := func(status int, msg string) {
		s.render(w, r, status, "Sign in", "login", view{CSRF: s.formToken(w, r), D: f, Error: msg})
	}
	if !s.checkForm(r) {
		fail(http.StatusForbidden, "This form expired. Sign in again.")
		return
	}
	acct := accountKey(f.Email)
	if wait, err := s.limits.wait(ctx, acct, r); err != nil {
		s.serverError(w, r, "login throttle", err)
		return
	} else if wait > 0 {
		s.cfg.Log.Warn("dashboard: sign-in throttled", "addr", clientAddr(r).String(), "wait", wait)
		fail(http.StatusTooManyRequests, "Too many failed sign-ins. Try again in "+waitText(wait)+".")
		return
	}
	pw := r.PostFormValue("password")
	u, err := s.cfg.Users.GetUserByEmail(ctx, f.Email)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.passwords.verifyNobody(pw)
	case err != nil:
		s.serverError(w, r, "load user", err)
		return
	default:
		var rehash bool
		ok, rehash, err = s.passwords.verify(u.PasswordHash, pw)
		if err != nil {
			s.cfg.Log.Error("dashboard: stored password hash unreadable", "user", u.ID, "err", err)
		}
		if ok && rehash {
			if h, err := s.passwords.hash(pw); err == nil {
				if err := s.cfg.Users.SetPassword(ctx, u.ID, h, s.now()); err != nil {
					s.cfg.Log.Warn("dashboard: re-hash password", "user", u.ID, "err", err)
				}
			}
		}
	}
	if !ok {
		if err := s.limits.fail(ctx, acct, r); err != nil {
			s.serverError(w, r, "login throttle", err)
			return
		}
		s.cfg.Log.Info("dashboard: wrong email or password", "addr", clientAddr(r).String(), "known_user", u.ID != "")
		fail(http.StatusUnauthorized, "Wrong email or password.")
		return
	}
	if err := s.limits.succeed(ctx, acct); err != nil {
		s.cfg.Log.Warn("dashboard: reset login throttle", "err", err)
	}
	if u.TOTPSecret != "" {
		if err := s.startSession(w, r, u, account.StageMFA); err != nil {
			s.serverError(w, r, "start session", err)
			return
		}
		http.Redirect(w, r, s.base+"/dashboard/login/2fa?next="+url.QueryEscape(f.Next), http.StatusSeeOther)
		return
	}
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.cfg.Log.Info("dashboard: signed in", "user", u.ID)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// totpPage asks for the second factor of a session whose password was
// accepted.
func (s *Server) totpPage(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := s.session(r.Context(), r, account.StageMFA)
	if !ok {
		s.redirect(w, r, "/dashboard/login")
		return
	}
	s.render(w, r, http.StatusOK, "Two-factor authentication", "totp",
		view{CSRF: sess.CSRF, D: loginForm{Next: s.safeNext(r.URL.Query().Get("next"))}})
}

// totpPost checks a TOTP code (each accepted once) or a recovery code
// (each usable once), throttled like passwords; success replaces the
// waiting session with a new full one.
func (s *Server) totpPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, u, ok := s.session(ctx, r, account.StageMFA)
	if !ok {
		s.redirect(w, r, "/dashboard/login")
		return
	}
	f := loginForm{Next: s.safeNext(r.PostFormValue("next"))}
	fail := func(status int, msg string) {
		s.render(w, r, status, "Two-factor authentication", "totp", view{CSRF: sess.CSRF, D: f, Error: msg})
	}
	if !sameToken(r.PostFormValue("csrf"), sess.CSRF) {
		s.cfg.Log.Warn("dashboard: CSRF token missing or wrong", "user", u.ID, "path", r.URL.Path)
		fail(http.StatusForbidden, "This form expired. Enter the code again.")
		return
	}
	acct := accountKey(u.Email)
	if wait, err := s.limits.wait(ctx, acct, r); err != nil {
		s.serverError(w, r, "login throttle", err)
		return
	} else if wait > 0 {
		s.cfg.Log.Warn("dashboard: second factor throttled", "user", u.ID, "wait", wait)
		fail(http.StatusTooManyRequests, "Too many wrong codes. Try again in "+waitText(wait)+".")
		return
	}
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")
	accepted, recovery := false, false
	if step, match := matchTOTP(u.TOTPSecret, code, s.cfg.Clock()); match {
		first, err := s.cfg.SecondFactor.UseTOTPStep(ctx, u.ID, step)
		if err != nil {
			s.serverError(w, r, "use TOTP step", err)
			return
		}
		accepted = first
		if !first {
			s.cfg.Log.Warn("dashboard: TOTP code reused", "user", u.ID)
		}
	} else if len(code) > totpDigits {
		used, err := s.cfg.SecondFactor.UseRecoveryCode(ctx, u.ID, hashRecoveryCode(u.ID, code), s.now())
		if err != nil {
			s.serverError(w, r, "use recovery code", err)
			return
		}
		accepted, recovery = used, used
	}
	if !accepted {
		if err := s.limits.fail(ctx, acct, r); err != nil {
			s.serverError(w, r, "login throttle", err)
			return
		}
		s.cfg.Log.Info("dashboard: wrong second-factor code", "user", u.ID)
		fail(http.StatusUnauthorized, "Wrong or already used code.")
		return
	}
	if err := s.limits.succeed(ctx, acct); err != nil {
		s.cfg.Log.Warn("dashboard: reset login throttle", "err", err)
	}
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.cfg.Log.Info("dashboard: signed in", "user", u.ID, "recovery_code", recovery)
	if recovery {
		s.redirect(w, r, "/dashboard/account?done=recovery")
		return
	}
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// logout ends the browser's session, full or waiting for its second
// factor.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.session(r.Context(), r, account.StageFull)
	if !ok {
		sess, u, ok = s.session(r.Context(), r, account.StageMFA)
	}
	if ok {
		if !sameToken(r.PostFormValue("csrf"), sess.CSRF) {
			s.cfg.Log.Warn("dashboard: CSRF token missing or wrong", "user", u.ID, "path", r.URL.Path)
			s.message(w, r, http.StatusForbidden, "Form expired", "Reload the page and try again.")
			return
		}
		s.endSession(r)
		s.cfg.Log.Info("dashboard: signed out", "user", u.ID)
	}
	s.clearSession(w, r)
	s.redirect(w, r, "/dashboard/login")
}
