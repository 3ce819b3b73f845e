package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
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
	if err := s.cfg.Store.CreateUser(r.Context(), u); errors.Is(err, store.ErrDuplicate) {
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

// applicationRequest is seed 002's POST /applications body.
type applicationRequest struct {
	Users []struct {
		Email     string `json:"email"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Phone     string `json:"phone"`
		Agreed    any    `json:"agreedToTOSandPP"`
	} `json:"users"`
	Orgs []struct {
		Name     string `json:"name"`
		Address1 string `json:"address1"`
		Address2 string `json:"address2"`
		City     string `json:"city"`
		State    string `json:"state"`
		Zip      string `json:"zip"`
		Country  string `json:"country"`
		Industry string `json:"industry"`
	} `json:"orgs"`
}

// applicationJSON is the answer, in the shape of seed 002's example.
type applicationJSON struct {
	ID                      string `json:"id"`
	AccountName             string `json:"accountName"`
	ContactEmail            string `json:"contactEmail"`
	ContactFirstName        string `json:"contactFirstName"`
	ContactLastName         string `json:"contactLastName"`
	ContactPhone            string `json:"contactPhone"`
	ProfileAddress1         string `json:"profileAddress1"`
	ProfileAddress2         string `json:"profileAddress2"`
	ProfileCity             string `json:"profileCity"`
	ProfileState            string `json:"profileState"`
	ProfilePostalCode       string `json:"profilePostalCode"`
	ProfileCountry          string `json:"profileCountry"`
	ProfileIndustry         string `json:"profileIndustry"`
	ProfileAgreedToTOSandPP bool   `json:"profileAgreedToTOSandPP"`
	Updated                 string `json:"updated"`
	RequiresReview          bool   `json:"requiresReview"`
	Activated               bool   `json:"activated"`
	Verified                bool   `json:"verified"`
}

// applicationsHandler serves POST /applications (seed 002's merchant
// applications) in the API's envelope: recorded for the operator, who
// approves with `kassa application approve ID`. Closed unless sign-up is.
func (s *Server) applicationsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /applications", s.createApplication)
	return api.Transport(api.TransportConfig{Log: s.cfg.Log, MaxBody: 16 << 10}, mux)
}

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Signup {
		api.WriteError(w, r, bitpay.Forbidden("this server does not accept merchant applications"))
		return
	}
	body, err := api.ReadBody(w, r, 16<<10)
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	var req applicationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		api.WriteError(w, r, bitpay.BadRequest("request body is not a JSON application"))
		return
	}
	if len(req.Users) == 0 {
		api.WriteError(w, r, bitpay.MissingParam("users"))
		return
	}
	if len(req.Orgs) == 0 {
		api.WriteError(w, r, bitpay.MissingParam("orgs"))
		return
	}
	u, o := req.Users[0], req.Orgs[0]
	email, err := checkAccount(u.Email, strings.Repeat("x", account.MinPasswordLen), strings.Repeat("x", account.MinPasswordLen))
	if err != nil {
		api.WriteError(w, r, bitpay.FieldError("email", "users[0].email is not a valid email address"))
		return
	}
	if !truthy(u.Agreed) {
		api.WriteError(w, r, bitpay.FieldError("agreedToTOSandPP", "the terms of service must be agreed to"))
		return
	}
	if strings.TrimSpace(o.Name) == "" {
		api.WriteError(w, r, bitpay.MissingParam("orgs[0].name"))
		return
	}
	for _, f := range []string{u.FirstName, u.LastName, u.Phone, o.Name, o.Address1, o.Address2, o.City, o.State, o.Zip, o.Country, o.Industry} {
		if len(f) > 200 || strings.IndexFunc(f, unicode.IsControl) >= 0 {
			api.WriteError(w, r, bitpay.BadRequest("application fields are at most 200 characters without control characters"))
			return
		}
	}
	key := "applications:" + addressKey(r)
	if wait, err := s.limits.waitKey(r.Context(), key, account.SignupsFree); err != nil {
		api.WriteError(w, r, err)
		return
	} else if wait > 0 {
		api.WriteError(w, r, bitpay.RateLimited())
		return
	}
	if err := s.limits.count(r.Context(), key); err != nil {
		api.WriteError(w, r, err)
		return
	}
	now := s.now()
	a := store.Application{ID: auth.NewID(), Email: email, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone,
		OrgName: strings.TrimSpace(o.Name), Body: string(body), Status: "pending", Address: clientAddr(r).String(), CreatedAt: now}
	if err := s.cfg.Store.CreateApplication(r.Context(), a); err != nil {
		api.WriteError(w, r, err)
		return
	}
	s.cfg.Log.Info("dashboard: merchant application received", "application", a.ID)
	bitpay.WriteData(w, http.StatusOK, "", applicationJSON{ID: a.ID, AccountName: a.OrgName, ContactEmail: a.Email,
		ContactFirstName: a.FirstName, ContactLastName: a.LastName, ContactPhone: a.Phone, ProfileAddress1: o.Address1,
		ProfileAddress2: o.Address2, ProfileCity: o.City, ProfileState: o.State, ProfilePostalCode: o.Zip,
		ProfileCountry: o.Country, ProfileIndustry: o.Industry, ProfileAgreedToTOSandPP: true,
		Updated: now.Format(time.RFC3339Nano), RequiresReview: true})
}

// truthy reads agreedToTOSandPP, sent as true or "true".
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}
