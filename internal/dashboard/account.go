package dashboard

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/web"
)

// Users stores the accounts; *store.DB implements it.
type Users interface {
	// CountUsers returns how many accounts exist; zero means first run.
	CountUsers(ctx context.Context) (int, error)
	// CreateUser adds an account; a taken email fails with
	// store.ErrDuplicate.
	CreateUser(ctx context.Context, u account.User) error
	// CreateFirstUser adds the first account, and fails with
	// account.ErrSetupDone once a user exists.
	CreateFirstUser(ctx context.Context, u account.User) error
	// GetUser and GetUserByEmail (in any case) load an account or fail
	// with store.ErrNotFound.
	GetUser(ctx context.Context, id string) (account.User, error)
	GetUserByEmail(ctx context.Context, email string) (account.User, error)
	// SetPassword replaces an account's password hash.
	SetPassword(ctx context.Context, userID, hash string, at time.Time) error
}

// SecondFactor stores the accounts' TOTP secrets and recovery codes
// (hashed); *store.DB implements it.
type SecondFactor interface {
	// SetTOTPPending stores a secret being enrolled ("" drops it); the
	// one in use does not change.
	SetTOTPPending(ctx context.Context, userID, secret string, at time.Time) error
	// EnableTOTP turns the second factor on with secret, step marked
	// used, and replaces the recovery codes, in one transaction.
	EnableTOTP(ctx context.Context, userID, secret string, step int64, codeHashes []string, at time.Time) error
	// DisableTOTP turns the second factor off and deletes the recovery
	// codes.
	DisableTOTP(ctx context.Context, userID string, at time.Time) error
	// ReplaceRecoveryCodes drops a user's recovery codes for codeHashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string) error
	// UseTOTPStep records a code of step as accepted and reports false
	// when the step or a later one was used.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// UseRecoveryCode spends the unused code with this hash and reports
	// whether there was one.
	UseRecoveryCode(ctx context.Context, userID, codeHash string, at time.Time) (bool, error)
	// RecoveryCodesLeft counts a user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// accountData is the account page's data.
type accountData struct {
	Email     string
	TOTP      bool
	CodesLeft int
	// Enrolment in progress: the secret as text and as a QR code.
	Pending   string
	PendingQR template.HTML
	// NewCodes are recovery codes just made, shown this once.
	NewCodes []string
}

// accountFlashes are the fixed messages a redirect may ask for.
var accountFlashes = map[string]string{
	"password": "Password changed. Your other sessions were signed out.",
	"2fa-off":  "Two-factor authentication is off.",
	"recovery": "You signed in with a recovery code; it cannot be used again. Check how many are left below.",
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	s.renderAccount(w, r, v, http.StatusOK, accountFlashes[r.URL.Query().Get("done")], "", nil)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, v *Viewer, status int, flash, errMsg string, codes []string) {
	u, err := s.cfg.Users.GetUser(r.Context(), v.User.ID)
	if err != nil {
		s.serverError(w, r, "load user", err)
		return
	}
	d := accountData{Email: u.Email, TOTP: u.TOTPSecret != "", NewCodes: codes}
	if d.TOTP {
		if d.CodesLeft, err = s.cfg.SecondFactor.RecoveryCodesLeft(r.Context(), u.ID); err != nil {
			s.serverError(w, r, "count recovery codes", err)
			return
		}
	} else if u.TOTPPending != "" {
		d.Pending = u.TOTPPending
		if d.PendingQR, err = web.QRSVG(otpauthURI(s.issuer(), u.Email, u.TOTPPending), "QR code to add kassa to an authenticator app"); err != nil {
			s.serverError(w, r, "TOTP QR code", err)
			return
		}
	}
	s.render(w, r, status, "Account", "account", view{D: d, Flash: flash, Error: errMsg})
}

// issuer names kassa in authenticator apps, with its host so two servers
// stay apart.
func (s *Server) issuer() string {
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Hostname() != "" {
		return "kassa " + u.Hostname()
	}
	return "kassa"
}

// checkCurrentPassword verifies the signed-in user's password, throttled
// like a sign-in; it answers and returns false when it does not match.
func (s *Server) checkCurrentPassword(w http.ResponseWriter, r *http.Request, v *Viewer, pw string) bool {
	ctx := r.Context()
	u, err := s.cfg.Users.GetUser(ctx, v.User.ID)
	if err != nil {
		s.serverError(w, r, "load user", err)
		return false
	}
	acct := accountKey(u.Email)
	if wait, err := s.limits.wait(ctx, acct, r); err != nil {
		s.serverError(w, r, "login throttle", err)
		return false
	} else if wait > 0 {
		s.cfg.Log.Warn("dashboard: password check throttled", "user", u.ID)
		s.renderAccount(w, r, v, http.StatusTooManyRequests, "", "Too many wrong passwords. Try again in "+waitText(wait)+".", nil)
		return false
	}
	ok, _, err := s.passwords.verify(u.PasswordHash, pw)
	if err != nil || !ok {
		if err := s.limits.fail(ctx, acct, r); err != nil {
			s.serverError(w, r, "login throttle", err)
			return false
		}
		s.cfg.Log.Info("dashboard: wrong current password", "user", u.ID, "path", r.URL.Path)
		s.renderAccount(w, r, v, http.StatusUnauthorized, "", "Your current password is wrong.", nil)
		return false
	}
	return true
}

// passwordPost changes the password and signs out every other session:
// this browser gets a new session.
func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, v *Viewer) {
	pw, pw2 := r.PostFormValue("new_password"), r.PostFormValue("new_password2")
	if err := account.CheckPassword(pw); err != nil {
		s.renderAccount(w, r, v, http.StatusUnprocessableEntity, "", strings.ToUpper(err.Error()[:1])+err.Error()[1:]+".", nil)
		return
	}
	if pw != pw2 {
		s.renderAccount(w, r, v, http.StatusUnprocessableEntity, "", "The two new passwords differ.", nil)
		return
	}
	if !s.checkCurrentPassword(w, r, v, r.PostFormValue("password")) {
		return
	}
	hash, err := s.passwords.hash(pw)
	if err != nil {
		s.serverError(w, r, "hash password", err)
		return
	}
	ctx := r.Context()
	if err := s.cfg.Users.SetPassword(ctx, v.User.ID, hash, s.now()); err != nil {
		s.serverError(w, r, "set password", err)
		return
	}
	if _, err := s.cfg.Sessions.DeleteUserSessions(ctx, v.User.ID); err != nil {
		s.serverError(w, r, "end sessions", err)
		return
	}
	u, err := s.cfg.Users.GetUser(ctx, v.User.ID)
	if err != nil {
		s.serverError(w, r, "load user", err)
		return
	}
	if err := s.startSession(w, r, u, account.StageFull); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.cfg.Log.Info("dashboard: password changed", "user", u.ID)
	s.redirect(w, r, "/dashboard/account?done=password")
}

// totpStart makes a new secret to enrol; the account page shows it until
// a code from it is confirmed.
func (s *Server) totpStart(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u, err := s.cfg.Users.GetUser(r.Context(), v.User.ID)
	if err != nil {
		s.serverError(w, r, "load user", err)
		return
	}
	if u.TOTPSecret != "" {
		s.redirect(w, r, "/dashboard/account")
		return
	}
	if err := s.cfg.SecondFactor.SetTOTPPending(r.Context(), u.ID, newTOTPSecret(), s.now()); err != nil {
		s.serverError(w, r, "start TOTP enrolment", err)
		return
	}
	s.redirect(w, r, "/dashboard/account#2fa")
}

// totpConfirm turns 2FA on once a code from the pending secret matches,
// and shows the recovery codes once.
func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u, err := s.cfg.Users.GetUser(r.Context(), v.User.ID)
	if err != nil {
		s.serverError(w, r, "load user", err)
		return
	}
	if u.TOTPSecret != "" || u.TOTPPending == "" {
		s.redirect(w, r, "/dashboard/account")
		return
	}
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")
	step, ok := matchTOTP(u.TOTPPending, code, s.cfg.Clock())
	if !ok {
		s.cfg.Log.Info("dashboard: wrong code confirming 2FA", "user", u.ID)
		s.renderAccount(w, r, v, http.StatusUnprocessableEntity, "", "That code does not match. Check the time on your phone and enter the current code.", nil)
		return
	}
	codes := newRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = hashRecoveryCode(u.ID, c)
	}
	if err := s.cfg.SecondFactor.EnableTOTP(r.Context(), u.ID, u.TOTPPending, step, hashes, s.now()); err != nil {
		s.serverError(w, r, "enable TOTP", err)
		return
	}
	s.cfg.Log.Info("dashboard: 2FA enabled", "user", u.ID)
	s.renderAccount(w, r, v, http.StatusOK, "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once, and they are shown only now.", "", codes)
}

// totpDisable turns 2FA off, with the password.
func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if !s.checkCurrentPassword(w, r, v, r.PostFormValue("password")) {
		return
	}
	if err := s.cfg.SecondFactor.DisableTOTP(r.Context(), v.User.ID, s.now()); err != nil {
		s.serverError(w, r, "disable TOTP", err)
		return
	}
	s.cfg.Log.Info("dashboard: 2FA disabled", "user", v.User.ID)
	s.redirect(w, r, "/dashboard/account?done=2fa-off")
}

// recoveryCodesPost replaces the recovery codes, with the password.
func (s *Server) recoveryCodesPost(w http.ResponseWriter, r *http.Request, v *Viewer) {
	if !s.checkCurrentPassword(w, r, v, r.PostFormValue("password")) {
		return
	}
	codes := newRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = hashRecoveryCode(v.User.ID, c)
	}
	if err := s.cfg.SecondFactor.ReplaceRecoveryCodes(r.Context(), v.User.ID, hashes); err != nil {
		s.serverError(w, r, "replace recovery codes", err)
		return
	}
	s.cfg.Log.Info("dashboard: recovery codes replaced", "user", v.User.ID)
	s.renderAccount(w, r, v, http.StatusOK, "New recovery codes; the old ones no longer work. They are shown only now.", "", codes)
}

// logoutAll ends every session of the user, this one included.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, v *Viewer) {
	n, err := s.cfg.Sessions.DeleteUserSessions(r.Context(), v.User.ID)
	if err != nil {
		s.serverError(w, r, "end sessions", err)
		return
	}
	s.cfg.Log.Info("dashboard: signed out everywhere", "user", v.User.ID, "sessions", n)
	s.clearSession(w, r)
	s.redirect(w, r, "/dashboard/login")
}
