package web

// This file is the buyer's refund page, /refund?id={refund}&t={secret}:
// the link kassa mails a buyer whose refund has no address yet. It shows
// the refund and, while it waits, a plain HTML form for the address. The
// page has no session: the secret in the link (and in the form) is the
// proof, checked by the refund service in constant time; cross-origin
// posts are refused besides (http.CrossOriginProtection), and nothing on
// the page is cached or sent as a referrer.

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// Refunds is what the refund page asks of the refund service;
// *gateway.Refunds implements it.
type Refunds interface {
	// BuyerRefund returns a refund when secret is its address secret,
	// else store.ErrNotFound.
	BuyerRefund(ctx context.Context, id, secret string) (*refund.Refund, error)
	// SetBuyerAddress records the buyer's address (see gateway); on
	// error nothing changed.
	SetBuyerAddress(ctx context.Context, id, secret, address string) (*refund.Refund, error)
}

// maxSecret bounds the secret a request may carry.
const maxSecret = 128

// refundPage is what the refund template renders.
type refundPage struct {
	Lang       language
	T          map[string]string
	Languages  []languageLink
	Nonce      string
	CSS        template.CSS
	State      string
	StoreName  string
	Network    string
	ID         string
	Secret     string
	InvoiceID  string
	BTC        string
	Fiat       string
	TxID       string
	StatusText string
	Error      string
	Form       bool
	Action     string
	Deadline   string
	Entered    string
}

// serveRefund shows a refund to its buyer.
func (s *Server) serveRefund(w http.ResponseWriter, r *http.Request) {
	lang := negotiate(r)
	q := r.URL.Query()
	s.refund(w, r, lang, q.Get("id"), q.Get("t"), "", nil)
}

// postRefund records the address a buyer gives, then shows the refund
// again (303 to its page); a refused address is shown on the page, in the
// buyer's language, with nothing changed.
func (s *Server) postRefund(w http.ResponseWriter, r *http.Request) {
	lang := negotiate(r)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.writeMessage(w, lang, false, http.StatusBadRequest)
		return
	}
	id, secret, address := r.PostForm.Get("id"), r.PostForm.Get("t"), r.PostForm.Get("address")
	if !validRefundLink(id, secret) {
		s.writeRefundNotFound(w, lang)
		return
	}
	_, err := s.cfg.Refunds.SetBuyerAddress(r.Context(), id, secret, address)
	if err == nil {
		http.Redirect(w, r, s.refundURL(id, secret, lang.Code), http.StatusSeeOther)
		return
	}
	s.refund(w, r, lang, id, secret, address, err)
}

// refund renders a refund's page, with the error a post met.
func (s *Server) refund(w http.ResponseWriter, r *http.Request, lang language, id, secret, entered string, postErr error) {
	if !validRefundLink(id, secret) {
		s.writeRefundNotFound(w, lang)
		return
	}
	ref, err := s.cfg.Refunds.BuyerRefund(r.Context(), id, secret)
	if errors.Is(err, store.ErrNotFound) || errors.Is(postErr, store.ErrNotFound) {
		s.writeRefundNotFound(w, lang)
		return
	}
	if err != nil {
		s.cfg.Log.Error("refund page: load refund", "refund", id, "err", err)
		s.writeMessage(w, lang, false, http.StatusInternalServerError)
		return
	}
	p, err := s.refundData(r.Context(), ref, lang, secret)
	if err != nil {
		s.cfg.Log.Error("refund page: render", "refund", id, "err", err)
		s.writeMessage(w, lang, false, http.StatusInternalServerError)
		return
	}
	status := http.StatusOK
	if postErr != nil {
		var msg string
		msg, status = s.refundError(postErr, lang)
		if status == http.StatusInternalServerError {
			s.cfg.Log.Error("refund page: set address", "refund", id, "err", postErr)
			s.writeMessage(w, lang, false, status)
			return
		}
		p.Error = msg
		if p.Form {
			p.Entered = strings.TrimSpace(entered)
		}
	}
	var buf bytes.Buffer
	if err := s.refundTmpl.Execute(&buf, p); err != nil {
		s.cfg.Log.Error("refund page: execute template", "refund", id, "err", err)
		s.writeMessage(w, lang, false, http.StatusInternalServerError)
		return
	}
	s.writeHTML(w, lang, p.Nonce, status, buf.Bytes())
}

// refundData builds the page's data for a refund.
func (s *Server) refundData(ctx context.Context, ref *refund.Refund, lang language, secret string) (refundPage, error) {
	nonce, err := NewNonce()
	if err != nil {
		return refundPage{}, err
	}
	now := s.cfg.Clock()
	state := refundState(ref, now)
	p := refundPage{Lang: lang, T: lang.T, Nonce: nonce, CSS: s.css, State: state, ID: ref.ID, Secret: secret,
		InvoiceID: ref.InvoiceID, BTC: strings.Replace(ref.Sats.BTC(), ".", lang.Decimal, 1), TxID: ref.TxID,
		StatusText: strings.ReplaceAll(lang.T["rf_st_"+state], "{address}", ref.Address),
		Form:       state == "waiting", Action: s.base + "/refund?lang=" + url.QueryEscape(lang.Code)}
	if c, ok := money.LookupCurrency(ref.Currency); ok && c.Code != "BTC" {
		p.Fiat = strings.Replace(ref.Amount.StringFixed(c.Precision), ".", lang.Decimal, 1) + " " + c.Code
	}
	if !ref.AddressDeadline.IsZero() {
		p.Deadline = strings.ReplaceAll(lang.T["rf_deadline"], "{time}", ref.AddressDeadline.UTC().Format("2006-01-02 15:04"))
	}
	if st, err := s.cfg.Store.GetStore(ctx, ref.StoreID); err == nil {
		p.StoreName = st.Name
	} else {
		s.cfg.Log.Warn("refund page: load store", "store", ref.StoreID, "err", err)
	}
	if s.cfg.Network != "" && s.cfg.Network != "mainnet" {
		p.Network = strings.ReplaceAll(lang.T["test_network"], "{net}", s.cfg.Network)
	}
	for _, l := range languages {
		p.Languages = append(p.Languages, languageLink{Code: l.Code, Name: l.Name, URL: s.refundURL(ref.ID, secret, l.Code),
			Current: l.Code == lang.Code})
	}
	return p, nil
}

// refundState is what the page says of a refund: waiting for the
// address (the form), expired (waiting past its deadline, or failed for
// it), or its status.
func refundState(r *refund.Refund, now time.Time) string {
	switch {
	case r.Status == refund.StatusCreated && r.Address == "" && !r.AddressDeadline.IsZero() && !now.Before(r.AddressDeadline),
		r.Status == refund.StatusFailure && r.FailReason == refund.ReasonNoAddress:
		return "expired"
	case r.Status == refund.StatusCreated && r.Address == "":
		return "waiting"
	case r.Status == refund.StatusPreview:
		return "cancelled" // never mailed; not a refund yet
	}
	return string(r.Status)
}

// refundError says in the buyer's language why an address was refused,
// with the answer's status; 500 for what the buyer cannot fix.
func (s *Server) refundError(err error, lang language) (string, int) {
	switch {
	case errors.Is(err, gateway.ErrBadAddress):
		return strings.ReplaceAll(lang.T["rf_err_address"], "{net}", s.cfg.Network), http.StatusBadRequest
	case errors.Is(err, gateway.ErrOwnAddress):
		return lang.T["rf_err_own"], http.StatusBadRequest
	case errors.Is(err, gateway.ErrInvalid):
		return lang.T["rf_err_empty"], http.StatusBadRequest
	case errors.Is(err, refund.ErrHasAddress):
		return lang.T["rf_err_has_address"], http.StatusConflict
	case errors.Is(err, refund.ErrAddressExpired):
		return lang.T["rf_st_expired"], http.StatusGone
	case errors.Is(err, refund.ErrIllegalTransition):
		return lang.T["rf_err_closed"], http.StatusConflict
	}
	return "", http.StatusInternalServerError
}

// refundURL is a refund's page in a language.
func (s *Server) refundURL(id, secret, lang string) string {
	return s.base + "/refund?" + url.Values{"id": {id}, "t": {secret}, "lang": {lang}}.Encode()
}

// validRefundLink reports whether id and secret can be a refund's.
func validRefundLink(id, secret string) bool {
	return validID(id) && secret != "" && len(secret) <= maxSecret
}

// writeRefundNotFound answers an unknown refund or a wrong secret alike.
func (s *Server) writeRefundNotFound(w http.ResponseWriter, lang language) {
	s.writePage(w, lang, false, http.StatusNotFound, lang.T["rf_not_found"], lang.T["rf_not_found_body"])
}
