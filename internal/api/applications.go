package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/store"
)

// Applications records seed 002's merchant applications for the
// operator, who approves them with `kassa application approve ID`, and
// counts them per client address; *store.DB implements it.
type Applications interface {
	// CreateApplication stores a pending application.
	CreateApplication(ctx context.Context, a store.Application) error
	// LoginFailures returns the attempts counted under key and when the
	// last one was. Applications are counted beside the dashboard's
	// sign-ins and sign-ups, under keys of their own.
	LoginFailures(ctx context.Context, key string) (int, time.Time, error)
	// RecordLoginFailure counts one more attempt under key, at at; a
	// count whose last attempt was before resetBefore starts again.
	RecordLoginFailure(ctx context.Context, key string, at, resetBefore time.Time) (int, error)
}

// maxApplicationBody bounds a POST /applications body.
const maxApplicationBody = 16 << 10

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

// createApplication serves POST /applications (seed 002's merchant
// applications): recorded for the operator, who approves with `kassa
// application approve ID`. Closed (403) without Config.Applications,
// that is unless sign-up is open (KASSA_SIGNUP).
func (s *Server) createApplication(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Applications == nil {
		WriteError(w, r, bitpay.Forbidden("this server does not accept merchant applications"))
		return
	}
	body, err := ReadBody(w, r, maxApplicationBody)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var req applicationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, r, bitpay.BadRequest("request body is not a JSON application"))
		return
	}
	if len(req.Users) == 0 {
		WriteError(w, r, bitpay.MissingParam("users"))
		return
	}
	if len(req.Orgs) == 0 {
		WriteError(w, r, bitpay.MissingParam("orgs"))
		return
	}
	u, o := req.Users[0], req.Orgs[0]
	email, err := account.CheckEmail(u.Email)
	if err != nil {
		WriteError(w, r, bitpay.FieldError("email", "users[0].email is not a valid email address"))
		return
	}
	if !truthy(u.Agreed) {
		WriteError(w, r, bitpay.FieldError("agreedToTOSandPP", "the terms of service must be agreed to"))
		return
	}
	if strings.TrimSpace(o.Name) == "" {
		WriteError(w, r, bitpay.MissingParam("orgs[0].name"))
		return
	}
	for _, f := range []string{u.FirstName, u.LastName, u.Phone, o.Name, o.Address1, o.Address2, o.City, o.State, o.Zip, o.Country, o.Industry} {
		if len(f) > 200 || strings.IndexFunc(f, unicode.IsControl) >= 0 {
			WriteError(w, r, bitpay.BadRequest("application fields are at most 200 characters without control characters"))
			return
		}
	}
	addr := clientNet(r)
	if err := s.countApplication(r.Context(), "applications:addr:"+addr); err != nil {
		WriteError(w, r, err)
		return
	}
	now := s.cfg.Clock().UTC().Truncate(time.Millisecond)
	a := store.Application{ID: auth.NewID(), Email: email, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone,
		OrgName: strings.TrimSpace(o.Name), Body: string(body), Status: "pending", Address: addr, CreatedAt: now}
	if err := s.cfg.Applications.CreateApplication(r.Context(), a); err != nil {
		WriteError(w, r, err)
		return
	}
	Logger(r.Context()).Info("merchant application received", "application", a.ID)
	bitpay.WriteData(w, http.StatusOK, "", applicationJSON{ID: a.ID, AccountName: a.OrgName, ContactEmail: a.Email,
		ContactFirstName: a.FirstName, ContactLastName: a.LastName, ContactPhone: a.Phone, ProfileAddress1: o.Address1,
		ProfileAddress2: o.Address2, ProfileCity: o.City, ProfileState: o.State, ProfilePostalCode: o.Zip,
		ProfileCountry: o.Country, ProfileIndustry: o.Industry, ProfileAgreedToTOSandPP: true,
		Updated: now.Format(time.RFC3339Nano), RequiresReview: true})
}

// countApplication counts one application under key, or fails with
// bitpay.RateLimited while key must wait: the rule of the dashboard's
// sign-ups (account.Wait with account.SignupsFree free), whose counters
// applications share under keys of their own.
func (s *Server) countApplication(ctx context.Context, key string) error {
	n, last, err := s.cfg.Applications.LoginFailures(ctx, key)
	if err != nil {
		return err
	}
	now := s.cfg.Clock()
	if account.Wait(n, last, account.SignupsFree, now) > 0 {
		return bitpay.RateLimited()
	}
	_, err = s.cfg.Applications.RecordLoginFailure(ctx, key, now, now.Add(-account.FailureMemory))
	return err
}

// clientNet is clientAddr as a network, an IPv4 address as its /32:
// the spelling the dashboard records and keys its throttle by.
func clientNet(r *http.Request) string {
	a := clientAddr(r)
	if ip, err := netip.ParseAddr(a); err == nil {
		return netip.PrefixFrom(ip, ip.BitLen()).String()
	}
	return a
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
