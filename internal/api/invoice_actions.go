package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// merchant authenticates a request carrying a merchant token in its query.
func (s *Server) merchant(w http.ResponseWriter, r *http.Request) (caller, bool) {
	return s.signedMerchant(w, r, r.URL.Query().Get("token"), nil)
}

// signedMerchant authenticates a request carrying a merchant token, from
// its query or its body.
func (s *Server) signedMerchant(w http.ResponseWriter, r *http.Request, token string, body []byte) (caller, bool) {
	c, err := s.authenticate(r, token, body)
	if errors.Is(err, errNoToken) {
		err = bitpay.MissingParam("token")
	}
	if err == nil {
		err = requireFacade(c, auth.FacadeMerchant)
	}
	if err != nil {
		WriteError(w, r, err)
		return caller{}, false
	}
	return c, true
}

// listInvoices serves GET /invoices for merchant tokens, filtered by
// dateStart, dateEnd (inclusive), status, orderId, itemCode, limit and
// offset.
func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) {
	c, ok := s.merchant(w, r)
	if !ok {
		return
	}
	w, endSession, ok := s.querySession(w, r, c)
	if !ok {
		return
	}
	defer endSession()
	q := r.URL.Query()
	var f store.InvoiceFilter
	var err error
	if v := q.Get("dateStart"); v != "" {
		if f.From, err = ParseDate(v); err != nil {
			WriteError(w, r, bitpay.FieldError("dateStart", err.Error()))
			return
		}
	}
	if v := q.Get("dateEnd"); v != "" {
		if f.To, err = ParseDate(v); err != nil {
			WriteError(w, r, bitpay.FieldError("dateEnd", err.Error()))
			return
		}
		if f.To.Equal(f.To.Truncate(24 * time.Hour)) {
			f.To = f.To.Add(24 * time.Hour) // a date: the whole day is included
		}
	}
	if v := q.Get("status"); v != "" {
		if f.Status = invoice.Status(strings.ToLower(v)); !f.Status.Valid() {
			WriteError(w, r, bitpay.FieldError("status", "unknown status "+strconv.Quote(v)))
			return
		}
	}
	f.OrderID, f.ItemCode = q.Get("orderId"), q.Get("itemCode")
	for name, dst := range map[string]*int{"limit": &f.Limit, "offset": &f.Offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				WriteError(w, r, bitpay.FieldError(name, name+" must be a whole number"))
				return
			}
			*dst = n
		}
	}
	invs, err := s.cfg.Store.FindInvoices(r.Context(), c.token.StoreID, f)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out := make([]bitpay.InvoiceJSON, 0, len(invs))
	tip, now := s.cfg.Tip(), s.cfg.Clock()
	for i := range invs {
		j := bitpay.RenderInvoice(&invs[i], bitpay.ViewMerchant, s.cfg.PublicURL, tip, now)
		if err := s.addRefunds(r.Context(), &j, &invs[i], bitpay.ViewMerchant); err != nil {
			WriteError(w, r, err)
			return
		}
		out = append(out, j)
	}
	bitpay.WriteData(w, http.StatusOK, "merchant/invoice", out)
}

// cancelInvoice serves DELETE /invoices/:id and /invoices/guid/:guid: an
// unpaid invoice becomes expired with isCancelled; anything else is
// BitPay's 040107.
func (s *Server) cancelInvoice(w http.ResponseWriter, r *http.Request) {
	c, ok := s.merchant(w, r)
	if !ok {
		return
	}
	w, endSession, ok := s.querySession(w, r, c)
	if !ok {
		return
	}
	defer endSession()
	id := r.PathValue("id")
	if guid := r.PathValue("guid"); guid != "" {
		inv, err := s.cfg.Store.GetInvoiceByGUID(r.Context(), c.token.StoreID, guid)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		id = inv.ID
	} else if inv, err := s.cfg.Store.GetInvoice(r.Context(), id); err != nil {
		WriteError(w, r, err) // a 404 when it does not exist, a 5xx when the database fails
		return
	} else if inv.StoreID != c.token.StoreID {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	inv, err := s.cfg.Invoices.Act(r.Context(), id, invoice.Cancel{})
	if errors.Is(err, invoice.ErrNotCancellable) {
		WriteError(w, r, bitpay.InvoiceNotCancellable())
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	s.writeInvoice(w, r, auth.FacadeMerchant, inv, bitpay.ViewMerchant)
}

// resendNotification serves POST /invoices/:id/notifications with the
// invoice's resource token or a merchant token: the latest status goes out
// again as event 1012 through the outbox.
func (s *Server) resendNotification(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	token, err := bodyToken(body)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	inv, err := s.cfg.Store.GetInvoice(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	if !(auth.Token{Value: inv.Token}).Matches(token) {
		c, err := s.authenticate(r, token, body)
		if err == nil {
			err = requireFacade(c, auth.FacadeMerchant)
		}
		if err == nil && c.token.StoreID != inv.StoreID {
			err = bitpay.NotFound()
		}
		if err != nil {
			WriteError(w, r, err)
			return
		}
	}
	if _, err := s.cfg.Invoices.Act(r.Context(), inv.ID, invoice.Resend{}); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", "Success")
}

// eventToken serves GET /invoices/:id/events: the pass to the invoice's
// event stream (spec §3.1).
func (s *Server) eventToken(w http.ResponseWriter, r *http.Request, id string) {
	c, ok := s.merchant(w, r)
	if !ok {
		return
	}
	w, endSession, ok := s.querySession(w, r, c)
	if !ok {
		return
	}
	defer endSession()
	inv, err := s.cfg.Store.GetInvoice(r.Context(), id)
	if err != nil || inv.StoreID != c.token.StoreID {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", map[string]any{
		"url":     s.cfg.PublicURL + "/events",
		"token":   inv.Token,
		"events":  []string{"payment", "confirmation"},
		"actions": []string{"subscribe", "unsubscribe"},
	})
}

// supportedWallets serves GET /supportedWallets: any wallet that pays a
// BIP21 URI works with kassa.
func (s *Server) supportedWallets(w http.ResponseWriter, r *http.Request) {
	bitpay.WriteData(w, http.StatusOK, "", []map[string]any{{
		"key": "bip21", "displayName": "Any Bitcoin wallet", "avatar": "", "payPro": false,
		"currencies": []map[string]any{{"code": "BTC", "payPro": false, "qr": map[string]string{"type": "BIP21"}, "image": ""}},
	}})
}

// bodyToken reads the token of a small JSON body ({"token": …}).
func bodyToken(body []byte) (string, error) {
	var token string
	err := eachMember(body, func(key string, val json.RawMessage) error {
		if key != "token" {
			return nil
		}
		var err error
		if token, err = stringish(val); err != nil {
			return bitpay.FieldError("token", "token must be a string")
		}
		return nil
	})
	if err != nil {
		return "", objectError(err)
	}
	if token == "" {
		return "", bitpay.MissingParam("token")
	}
	return token, nil
}
