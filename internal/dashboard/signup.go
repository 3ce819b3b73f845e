package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/store"
)

// signupPage lets anyone open a merchant account when the operator
// allows it (KASSA_SIGNUP); the new merchant then creates their stores.
func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Signup {
		s.message(w, r, http.StatusNotFound, "Sign-up is closed", "This kassa does not take new merchants. Ask its operator for an account.")
		return
	}
	s.render(w, r, http.StatusOK, "Create an account", "signup", view{CSRF: s.formToken(w, r), D: accountForm{}})
}

func (s *Server) signupPost(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Signup {
		s.cfg.Log.Info("dashboard: sign-up refused: closed")
		s.message(w, r, http.StatusNotFound, "Sign-up is closed", "This kassa does not take new merchants. Ask its operator for an account.")
		return
	}
	f := accountForm{Email: strings.TrimSpace(r.PostFormValue("email"))}
	fail := func(status int, msg string) {
		s.render(w, r, status, "Create an account", "signup", view{CSRF: s.formToken(w, r), D: f, Error: msg})
	}
	if !s.checkForm(r) {
		fail(http.StatusForbidden, "This form expired. Send it again.")
		return
	}
	email, err := checkAccount(f.Email, r.PostFormValue("password"), r.PostFormValue("password2"))
	if err != nil {
		fail(http.StatusUnprocessableEntity, err.Error())
		return
	}
	// Sign-ups are counted per client address, throttled like failed
	// sign-ins: that bounds how fast one client opens accounts.
	key := "signup:" + addressKey(r)
	if wait, err := s.limits.waitKey(r.Context(), key, account.SignupsFree); err != nil {
		s.serverError(w, r, "sign-up throttle", err)
		return
	} else if wait > 0 {
		s.cfg.Log.Warn("dashboard: sign-up throttled", "addr", clientAddr(r).String())
		fail(http.StatusTooManyRequests, "Too many attempts. Try again in "+waitText(wait)+".")
		return
	}
	if err := s.limits.count(r.Context(), key); err != nil {
		s.serverError(w, r, "sign-up throttle", err)
		return
	}
	hash, err := s.passwords.hash(r.PostFormValue("password"))
	if err != nil {
		s.serverError(w, r, "hash password", err)
		return
	}
	u := account.User{ID: auth.NewID(), Email: email, PasswordHash: hash, Kind: account.KindMerchant, CreatedAt: s.now()}
	if err := s.cfg.Users.CreateUser(r.Context(), u); errors.Is(err, store.ErrDuplicate) {
		fail(http.StatusConflict, "An account with this email exists: sign in instead.")
		return
	} else if err != nil {
		s.serverError(w, r, "create user", err)
		return
	}
	s.cfg.Log.Info("dashboard: merchant signed up", "user", u.ID)
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.redirect(w, r, "/dashboard/stores/new")
}
