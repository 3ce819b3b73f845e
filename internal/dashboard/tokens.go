package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// Tokens stores the stores' API tokens and the pairing requests waiting
// for approval; *store.DB implements it.
type Tokens interface {
	// CreateToken adds a token; a taken value or pairing code fails with
	// store.ErrDuplicate.
	CreateToken(ctx context.Context, t auth.Token) error
	// UpdateToken overwrites a token's mutable fields, or fails with
	// store.ErrNotFound.
	UpdateToken(ctx context.Context, t auth.Token) error
	// GetTokenByPairingCode loads the token of a store waiting on a
	// pairing code, or fails with store.ErrNotFound.
	GetTokenByPairingCode(ctx context.Context, code string) (auth.Token, error)
	// GetParkedToken and PlaceToken serve client-requested pairings that
	// name no store: the approver chooses one. PlaceToken makes the
	// parked token an active one of the store (approve) or drops it, at
	// most once: a second call fails with store.ErrNotFound.
	GetParkedToken(ctx context.Context, code string) (auth.Token, error)
	PlaceToken(ctx context.Context, code, storeID string, approve bool) (auth.Token, error)
	// ListTokens returns a store's tokens, oldest first.
	ListTokens(ctx context.Context, storeID string) ([]auth.Token, error)
}

// APIKeys stores the stores' legacy (v0.3) API keys, of which only
// hashes are kept; *store.DB implements it.
type APIKeys interface {
	// CreateAPIKey makes a store's new key and returns it, to be shown
	// once.
	CreateAPIKey(ctx context.Context, storeID, label string) (string, error)
	// ListAPIKeys returns a store's keys, revoked ones included.
	ListAPIKeys(ctx context.Context, storeID string) ([]store.APIKey, error)
	// RevokeAPIKey stops a key for good and returns it; an unknown id
	// fails with store.ErrNotFound.
	RevokeAPIKey(ctx context.Context, id string) (store.APIKey, error)
}

// tokenRow is a token as the tokens page lists it. The token's value is
// never shown again after its creation: rows are told apart by Ref.
type tokenRow struct {
	Ref         string
	Facade      auth.Facade
	Label       string
	ClientID    string // the bound SIN, "" for a bearer token
	State       string // active, awaiting approval, waiting for the client, revoked, expired
	PairingCode string
	Expires     time.Time
	Created     time.Time
	LastUsed    time.Time
	Revocable   bool
	Approvable  bool
}

func (s *Server) tokenRows(r *http.Request, storeID string) ([]tokenRow, error) {
	toks, err := s.cfg.Tokens.ListTokens(r.Context(), storeID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]tokenRow, 0, len(toks))
	for _, t := range toks {
		row := tokenRow{Ref: t.Ref(), Facade: t.Facade, Label: t.Label, ClientID: t.SIN, Created: t.CreatedAt,
			LastUsed: t.LastUsedAt, Revocable: t.RevokedAt.IsZero()}
		switch {
		case !t.RevokedAt.IsZero():
			row.State = "revoked"
		case t.Active:
			row.State = "active"
		case !now.Before(t.PairingExpiresAt):
			row.State = "pairing code expired"
		case t.SIN != "":
			row.State, row.PairingCode, row.Expires, row.Approvable = "awaiting your approval", t.PairingCode, t.PairingExpiresAt, true
		default:
			row.State, row.PairingCode, row.Expires = "waiting for the client", t.PairingCode, t.PairingExpiresAt
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// tokensData is the tokens page's data.
type tokensData struct {
	Tokens  []tokenRow
	APIKeys []store.APIKey
	// Created is a token, pairing code or API key just made, shown once.
	Created *createdSecret
	Label   string
}

// createdSecret is what the page shows once after a creation.
type createdSecret struct {
	Kind        string // bearer, pairing, apikey
	Value       string
	Facade      auth.Facade
	Label       string
	PairingCode string
	Expires     time.Time
}

var tokenFlashes = map[string]string{
	"store":    "Store created. Next, create an API token for your shop or CRM.",
	"revoked":  "Token revoked: it stops working at once.",
	"approved": "Pairing approved: the client can now use its token.",
	"denied":   "Pairing request denied.",
	"key-off":  "API key revoked.",
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.renderTokens(w, r, v, http.StatusOK, tokenFlashes[r.URL.Query().Get("done")], "", nil)
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, v Viewer, status int, flash, errMsg string, created *createdSecret) {
	rows, err := s.tokenRows(r, v.StoreID)
	if err != nil {
		s.serverError(w, r, "list tokens", err)
		return
	}
	keys, err := s.cfg.APIKeys.ListAPIKeys(r.Context(), v.StoreID)
	if err != nil {
		s.serverError(w, r, "list API keys", err)
		return
	}
	s.render(w, r, status, "API tokens", "tokens", view{D: tokensData{Tokens: rows, APIKeys: keys, Created: created},
		Flash: flash, Error: errMsg})
}

// checkLabel validates a token label as BitPay does: letters, digits,
// spaces, underscores and dashes, at most 60.
func checkLabel(label string) string {
	if len(label) > 60 {
		return "The label may have at most 60 characters."
	}
	for _, c := range label {
		if !(c == ' ' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "The label may hold only letters, digits, spaces, underscores and dashes."
		}
	}
	return ""
}

// tokenCreate is "Add New Token" (seeds 000 and 001): without "Require
// authentication" a pos bearer token, shown once; with it a pairing code
// a client claims with POST /tokens {id, pairingCode}.
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request, v Viewer) {
	label := strings.TrimSpace(r.PostFormValue("label"))
	if msg := checkLabel(label); msg != "" {
		s.renderTokens(w, r, v, http.StatusUnprocessableEntity, "", msg, nil)
		return
	}
	facade, err := auth.ParseFacade(r.PostFormValue("facade"))
	if err != nil || facade == auth.FacadePayout {
		s.renderTokens(w, r, v, http.StatusUnprocessableEntity, "", "Pick the pos or merchant facade.", nil)
		return
	}
	requireAuth := r.PostFormValue("require_auth") != ""
	if facade == auth.FacadeMerchant && !requireAuth {
		s.renderTokens(w, r, v, http.StatusUnprocessableEntity, "",
			"A merchant token always requires authentication: tick “Require authentication” to get a pairing code.", nil)
		return
	}
	now := s.now()
	t := auth.Token{Value: auth.NewTokenValue(), StoreID: v.StoreID, Facade: facade, Label: label, CreatedAt: now}
	created := &createdSecret{Facade: facade, Label: label}
	if requireAuth {
		t.PairingCode, t.PairingExpiresAt = auth.NewPairingCode(), now.Add(auth.PairingTTL)
		created.Kind, created.PairingCode, created.Expires = "pairing", t.PairingCode, t.PairingExpiresAt
	} else {
		t.Active = true
		created.Kind, created.Value = "bearer", t.Value
	}
	if err := s.cfg.Tokens.CreateToken(r.Context(), t); err != nil {
		s.serverError(w, r, "create token", err)
		return
	}
	s.cfg.Log.Info("dashboard: token created", "user", v.User.ID, "store", v.StoreID, "facade", facade, "kind", created.Kind)
	s.renderTokens(w, r, v, http.StatusOK, "", "", created)
}

// findToken returns the store's token with this ref.
func (s *Server) findToken(r *http.Request, storeID, ref string) (auth.Token, error) {
	toks, err := s.cfg.Tokens.ListTokens(r.Context(), storeID)
	if err != nil {
		return auth.Token{}, err
	}
	for _, t := range toks {
		if ref != "" && sameToken(t.Ref(), ref) {
			return t, nil
		}
	}
	return auth.Token{}, store.ErrNotFound
}

func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request, v Viewer) {
	t, err := s.findToken(r, v.StoreID, r.PostFormValue("ref"))
	if errors.Is(err, store.ErrNotFound) {
		s.renderTokens(w, r, v, http.StatusNotFound, "", "That token is not one of this store's.", nil)
		return
	}
	if err != nil {
		s.serverError(w, r, "find token", err)
		return
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = s.now()
		if err := s.cfg.Tokens.UpdateToken(r.Context(), t); err != nil {
			s.serverError(w, r, "revoke token", err)
			return
		}
		s.cfg.Log.Info("dashboard: token revoked", "user", v.User.ID, "store", v.StoreID, "facade", t.Facade)
	}
	s.redirect(w, r, storePath(v.StoreID, "/tokens?done=revoked"))
}

// apiKeyCreate makes a legacy API key (BitPay API v0.3), shown once.
func (s *Server) apiKeyCreate(w http.ResponseWriter, r *http.Request, v Viewer) {
	label := strings.TrimSpace(r.PostFormValue("label"))
	if msg := checkLabel(label); msg != "" {
		s.renderTokens(w, r, v, http.StatusUnprocessableEntity, "", msg, nil)
		return
	}
	key, err := s.cfg.APIKeys.CreateAPIKey(r.Context(), v.StoreID, label)
	if err != nil {
		s.serverError(w, r, "create API key", err)
		return
	}
	s.cfg.Log.Info("dashboard: API key created", "user", v.User.ID, "store", v.StoreID)
	s.renderTokens(w, r, v, http.StatusOK, "", "", &createdSecret{Kind: "apikey", Value: key, Label: label})
}

func (s *Server) apiKeyRevoke(w http.ResponseWriter, r *http.Request, v Viewer) {
	id := r.PostFormValue("id")
	keys, err := s.cfg.APIKeys.ListAPIKeys(r.Context(), v.StoreID)
	if err != nil {
		s.serverError(w, r, "list API keys", err)
		return
	}
	found := false
	for _, k := range keys {
		found = found || (id != "" && k.ID == id)
	}
	if !found {
		s.renderTokens(w, r, v, http.StatusNotFound, "", "That API key is not one of this store's.", nil)
		return
	}
	if _, err := s.cfg.APIKeys.RevokeAPIKey(r.Context(), id); err != nil {
		s.serverError(w, r, "revoke API key", err)
		return
	}
	s.cfg.Log.Info("dashboard: API key revoked", "user", v.User.ID, "store", v.StoreID, "key", id)
	s.redirect(w, r, storePath(v.StoreID, "/tokens?done=key-off"))
}

// pairingData is the approval page's data.
type pairingData struct {
	Code     string
	Store    merchant.Store
	Facade   auth.Facade
	Label    string
	ClientID string
	Created  time.Time
	Expires  time.Time
	// Stores, for a request that names no store (a client pairing with a
	// server of several), are the stores the viewer may give it access to.
	Stores []merchant.Store
	// Problem, when set, says why the code cannot be approved.
	Problem string
}

// Parked reports a request that waits for the approver to choose a store.
func (d pairingData) Parked() bool { return len(d.Stores) > 0 }

// pairingLookup finds a client-requested pairing code and checks that
// the viewer may approve it (manager or owner of its store, or of some
// store for a request that names none). It answers and returns false
// otherwise.
func (s *Server) pairingLookup(w http.ResponseWriter, r *http.Request, v *Viewer, code string) (auth.Token, pairingData, bool) {
	d := pairingData{Code: code}
	if len(code) != 7 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		s.render(w, r, http.StatusBadRequest, "Approve API access", "pairing", view{D: d, Error: "A pairing code is 7 letters and digits."})
		return auth.Token{}, d, false
	}
	t, err := s.cfg.Tokens.GetTokenByPairingCode(r.Context(), code)
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.cfg.Tokens.GetParkedToken(r.Context(), code)
	}
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Log.Info("dashboard: unknown pairing code", "user", v.User.ID)
		s.render(w, r, http.StatusNotFound, "Approve API access", "pairing", view{D: d, Error: "There is no pairing request with this code."})
		return auth.Token{}, d, false
	}
	if err != nil {
		s.serverError(w, r, "load pairing code", err)
		return auth.Token{}, d, false
	}
	d.Facade, d.Label, d.ClientID, d.Created, d.Expires = t.Facade, t.Label, t.SIN, t.CreatedAt, t.PairingExpiresAt
	if t.StoreID == "" {
		if d.Stores, err = s.managedStores(r, v); err != nil {
			s.serverError(w, r, "list stores", err)
			return auth.Token{}, d, false
		}
		if len(d.Stores) == 0 {
			s.cfg.Log.Warn("dashboard: no store to approve a pairing for", "user", v.User.ID)
			s.message(w, r, http.StatusForbidden, "Not allowed", "You manage no store this client could be given access to.")
			return auth.Token{}, d, false
		}
	} else {
		role, st, err := s.roleIn(r.Context(), v.User, t.StoreID)
		if errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Warn("dashboard: pairing code of another store", "user", v.User.ID, "store", t.StoreID)
			s.render(w, r, http.StatusNotFound, "Approve API access", "pairing", view{D: pairingData{Code: code}, Error: "There is no pairing request with this code."})
			return auth.Token{}, d, false
		}
		if err != nil {
			s.serverError(w, r, "load store", err)
			return auth.Token{}, d, false
		}
		if !role.AtLeast(account.RoleManager) {
			s.cfg.Log.Warn("dashboard: role too low to approve pairing", "user", v.User.ID, "store", st.ID, "role", role)
			s.message(w, r, http.StatusForbidden, "Not allowed", "Your role in this store ("+string(role)+") does not allow approving API access.")
			return auth.Token{}, d, false
		}
		d.Store = st
	}
	switch {
	case t.SIN == "":
		d.Problem = "This pairing code was made in the dashboard: the client claims it itself, there is nothing to approve."
	default:
		if err := t.CanApprove(s.now()); err != nil {
			d.Problem = "This request cannot be approved: " + err.Error() + "."
		}
	}
	return t, d, true
}

// managedStores lists the stores the viewer may approve API access to.
func (s *Server) managedStores(r *http.Request, v *Viewer) ([]merchant.Store, error) {
	all, err := s.storesOf(r, v)
	if err != nil {
		return nil, err
	}
	var out []merchant.Store
	for _, sr := range all {
		if sr.Role.AtLeast(account.RoleManager) {
			out = append(out, sr.Store)
		}
	}
	return out, nil
}

// pairingPage is where /api-access-request?pairingCode= lands (spec
// §2.3): what the client asks for, with Approve and Deny.
func (s *Server) pairingPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	code := strings.TrimSpace(r.URL.Query().Get("pairingCode"))
	if code == "" {
		s.render(w, r, http.StatusOK, "Approve API access", "pairing", view{D: pairingData{}})
		return
	}
	_, d, ok := s.pairingLookup(w, r, v, code)
	if !ok {
		return
	}
	status := http.StatusOK
	if d.Problem != "" {
		status = http.StatusConflict
	}
	s.render(w, r, status, "Approve API access", "pairing", view{D: d})
}

func (s *Server) pairingPost(w http.ResponseWriter, r *http.Request, v *Viewer) {
	t, d, ok := s.pairingLookup(w, r, v, strings.TrimSpace(r.PostFormValue("pairingCode")))
	if !ok {
		return
	}
	if d.Problem != "" {
		s.render(w, r, http.StatusConflict, "Approve API access", "pairing", view{D: d})
		return
	}
	approve, done := r.PostFormValue("action") != "deny", "approved"
	if !approve {
		done = "denied"
	}
	if d.Parked() {
		storeID := r.PostFormValue("store")
		if !slices.ContainsFunc(d.Stores, func(st merchant.Store) bool { return st.ID == storeID }) {
			s.render(w, r, http.StatusUnprocessableEntity, "Approve API access", "pairing",
				view{D: d, Error: "Choose one of your stores for this client."})
			return
		}
		placed, err := s.cfg.Tokens.PlaceToken(r.Context(), t.PairingCode, storeID, approve)
		if errors.Is(err, store.ErrNotFound) {
			// Another approver was first.
			s.render(w, r, http.StatusConflict, "Approve API access", "pairing",
				view{D: pairingData{Code: d.Code}, Error: "This request was approved or denied meanwhile."})
			return
		}
		if err != nil {
			s.serverError(w, r, "place parked token", err)
			return
		}
		s.cfg.Log.Info("dashboard: pairing "+done, "user", v.User.ID, "store", storeID, "facade", placed.Facade, "client", t.SIN)
		s.redirect(w, r, storePath(storeID, "/tokens?done="+url.QueryEscape(done)))
		return
	}
	if approve {
		t.Active = true
	} else {
		t.RevokedAt = s.now()
	}
	if err := s.cfg.Tokens.UpdateToken(r.Context(), t); err != nil {
		s.serverError(w, r, "update token", err)
		return
	}
	s.cfg.Log.Info("dashboard: pairing "+done, "user", v.User.ID, "store", t.StoreID, "facade", t.Facade, "client", t.SIN)
	s.redirect(w, r, storePath(t.StoreID, "/tokens?done="+url.QueryEscape(done)))
}
