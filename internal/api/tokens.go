package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitauth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/store"
)

// tokenRequest is a POST /tokens body in any of its three forms.
type tokenRequest struct {
	ID          string `json:"id"`
	Facade      string `json:"facade"`
	PairingCode string `json:"pairingCode"`
	Label       string `json:"label"`
	Token       string `json:"token"`
}

// tokenJSON is a token in BitPay's shape (spec §2.2).
type tokenJSON struct {
	Policies          []policyJSON `json:"policies"`
	Resource          string       `json:"resource,omitempty"`
	Token             string       `json:"token"`
	Facade            auth.Facade  `json:"facade"`
	Label             string       `json:"label,omitempty"`
	DateCreated       int64        `json:"dateCreated"`
	PairingExpiration int64        `json:"pairingExpiration,omitempty"`
	PairingCode       string       `json:"pairingCode,omitempty"`
}

type policyJSON struct {
	Policy string   `json:"policy"`
	Method string   `json:"method"`
	Params []string `json:"params"`
}

func renderToken(t auth.Token) tokenJSON {
	j := tokenJSON{Token: t.Value, Facade: t.Facade, Label: t.Label, Resource: t.StoreID, DateCreated: t.CreatedAt.UnixMilli()}
	method := "require"
	if !t.Active {
		method = "inactive"
		j.PairingCode = t.PairingCode
		j.PairingExpiration = t.PairingExpiresAt.UnixMilli()
	}
	if t.SIN != "" {
		j.Policies = []policyJSON{{Policy: "id", Method: method, Params: []string{t.SIN}}}
	} else {
		j.Policies = []policyJSON{{Policy: "access", Method: "requireFacadeAccess", Params: []string{string(t.Facade)}}}
	}
	return j
}

// createToken serves POST /tokens: a client asking for a token (answered
// with a pairing code the merchant approves), or a client claiming a
// pairing code the merchant created.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var req tokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, r, bitpay.BadRequest("request body is not a JSON object"))
		return
	}
	if len(req.Label) > 60 {
		WriteError(w, r, bitpay.FieldError("label", "label is longer than 60 characters"))
		return
	}
	if req.ID == "" {
		WriteError(w, r, bitpay.MissingParam("id"))
		return
	}
	if !bitauth.ValidSIN(req.ID) {
		WriteError(w, r, bitpay.FieldError("id", "id is not a valid client id (SIN)"))
		return
	}
	now := s.cfg.Clock().UTC().Truncate(time.Millisecond)
	if req.PairingCode != "" {
		s.claimToken(w, r, req, now)
		return
	}
	facade, err := auth.ParseFacade(strings.TrimSpace(req.Facade))
	if err != nil {
		WriteError(w, r, bitpay.FieldError("facade", err.Error()))
		return
	}
	storeID, err := s.pairingStore(r, req.ID)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	t := auth.Token{Value: auth.NewTokenValue(), StoreID: storeID, Facade: facade, Label: req.Label, SIN: req.ID,
		PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
	create := s.cfg.Store.CreateToken
	if storeID == "" {
		create = s.cfg.Store.ParkToken
	}
	if err := create(r.Context(), t); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", []tokenJSON{renderToken(t)})
}

// pairingStore picks the store a client-requested token belongs to: the
// store the client id is already paired with, or the only store; "" on a
// server with several, where the token is parked until the merchant who
// approves it chooses the store.
func (s *Server) pairingStore(r *http.Request, sin string) (string, error) {
	existing, err := s.cfg.Store.TokensBySIN(r.Context(), sin)
	if err != nil {
		return "", err
	}
	for _, t := range existing {
		if t.StoreID != "" {
			return t.StoreID, nil
		}
	}
	stores, err := s.cfg.Store.ListStores(r.Context())
	if err != nil {
		return "", err
	}
	switch len(stores) {
	case 0:
		return "", bitpay.Conflict(bitpay.CodeGeneric, "Account not setup completely yet.")
	case 1:
		return stores[0].ID, nil
	}
	return "", nil
}

// claimToken binds a merchant-created pairing code's token to the client.
func (s *Server) claimToken(w http.ResponseWriter, r *http.Request, req tokenRequest, now time.Time) {
	if s.pairingBlocked(w, r) {
		return
	}
	t, err := s.cfg.Store.GetTokenByPairingCode(r.Context(), strings.TrimSpace(req.PairingCode))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.SIN != "" && t.SIN != req.ID) {
		s.pairingFailed(r)
		WriteError(w, r, &bitpay.Error{Status: http.StatusNotFound, Code: bitpay.CodeNotFound, Msg: auth.ErrPairingNotFound.Error(), Param: "pairingCode"})
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	switch {
	case !t.RevokedAt.IsZero():
		WriteError(w, r, bitpay.FieldError("pairingCode", auth.ErrRevoked.Error()))
		return
	case t.Active:
		WriteError(w, r, bitpay.FieldError("pairingCode", auth.ErrAlreadyPaired.Error()))
		return
	case !now.Before(t.PairingExpiresAt):
		WriteError(w, r, bitpay.FieldError("pairingCode", auth.ErrPairingExpired.Error()))
		return
	case t.SIN != "":
		// A client-requested code waits for the merchant, not the client.
		WriteError(w, r, bitpay.Forbidden("pairing code is awaiting the merchant's approval"))
		return
	}
	if err := s.checkOneStore(r, req.ID, t.StoreID); err != nil {
		WriteError(w, r, err)
		return
	}
	t.SIN, t.Active = req.ID, true
	if req.Label != "" {
		t.Label = req.Label
	}
	if err := s.cfg.Store.UpdateToken(r.Context(), t); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", []tokenJSON{renderToken(t)})
}

// checkOneStore refuses to pair a client id already paired with another
// store (spec §2.3: one SIN, one merchant).
func (s *Server) checkOneStore(r *http.Request, sin, storeID string) error {
	existing, err := s.cfg.Store.TokensBySIN(r.Context(), sin)
	if err != nil {
		return err
	}
	for _, t := range existing {
		if t.StoreID != storeID && t.RevokedAt.IsZero() {
			return bitpay.Conflict(bitpay.CodeGeneric, "this client id is already paired with another store")
		}
	}
	return nil
}

// listTokens serves GET /tokens: a signed request (the user facade) lists
// the signer's active tokens as [{facade: token}].
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	identity, signature := bitauth.FromRequest(r)
	sin, err := s.verifier.Verify(identity, signature, r.RequestURI, nil)
	if err != nil {
		WriteError(w, r, bitpay.Unauthorized("Invalid signature"))
		return
	}
	toks, err := s.cfg.Store.TokensBySIN(r.Context(), sin)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out := []map[string]string{}
	for _, t := range toks {
		if t.Usable() {
			out = append(out, map[string]string{string(t.Facade): t.Value})
		}
	}
	if len(out) == 0 {
		WriteError(w, r, bitpay.Unauthorized("Unauthorized sin"))
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", out)
}
