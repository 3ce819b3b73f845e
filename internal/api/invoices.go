package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/netguard"
	"github.com/kassa-pay/kassa/internal/store"
)

// facadeView maps a token's facade to the invoice view it may see.
func facadeView(f auth.Facade) bitpay.View {
	if f == auth.FacadeMerchant {
		return bitpay.ViewMerchant
	}
	return bitpay.ViewPOS
}

// createInvoice serves POST /invoices for pos and merchant tokens. A guid
// the token already used returns the invoice it created (idempotency).
func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 0)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	req, err := DecodeInvoiceRequest(body)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	c, err := s.authenticate(r, req.Token, body)
	if errors.Is(err, errNoToken) {
		WriteError(w, r, bitpay.MissingParam("token"))
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if err := requireFacade(c, auth.FacadePOS, auth.FacadeMerchant); err != nil {
		WriteError(w, r, err)
		return
	}
	w, endSession, ok := s.beginSession(w, r, c, req.SessionID, req.RequestNumber)
	if !ok {
		return
	}
	defer endSession()
	if !s.allowInvoice(w, r, c.token.StoreID) {
		return
	}
	ni, err := req.ToNewInvoice()
	ni.CreatedBy = c.token.Ref()
	if err == nil {
		err = s.checkNotificationURL(r, ni.Fields.NotificationURL)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if ni.Fields.GUID != "" {
		if inv, err := s.cfg.Store.GetInvoiceByGUID(r.Context(), c.token.StoreID, ni.Fields.GUID); err == nil {
			s.writeInvoice(w, r, c.token.Facade, &inv, facadeView(c.token.Facade))
			return
		}
	}
	inv, err := s.cfg.Invoices.CreateInvoice(r.Context(), c.token.StoreID, ni)
	if errors.Is(err, store.ErrDuplicate) && ni.Fields.GUID != "" {
		// A concurrent request with the same guid won the race.
		existing, gerr := s.cfg.Store.GetInvoiceByGUID(r.Context(), c.token.StoreID, ni.Fields.GUID)
		if gerr == nil {
			inv, err = &existing, nil
		}
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	s.writeInvoice(w, r, c.token.Facade, inv, facadeView(c.token.Facade))
}

// getInvoice serves GET /invoices/:id: unauthenticated (the public view),
// with a pos or merchant token of the invoice's store, or with the
// invoice's own resource token.
func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token := r.URL.Query().Get("token")
	inv, err := s.cfg.Store.GetInvoice(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		WriteError(w, r, err)
		return
	}
	found := err == nil
	if token == "" {
		if !found {
			WriteError(w, r, bitpay.NotFound())
			return
		}
		s.writeInvoice(w, r, "public", &inv, bitpay.ViewPublic)
		return
	}
	if found && inv.Token != "" && (auth.Token{Value: inv.Token}).Matches(token) {
		s.writeInvoice(w, r, "invoice", &inv, bitpay.ViewPOS)
		return
	}
	c, err := s.authenticate(r, token, nil)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if err := requireFacade(c, auth.FacadePOS, auth.FacadeMerchant); err != nil {
		WriteError(w, r, err)
		return
	}
	if !found || inv.StoreID != c.token.StoreID {
		WriteError(w, r, bitpay.NotFound())
		return
	}
	s.writeInvoice(w, r, c.token.Facade, &inv, facadeView(c.token.Facade))
}

// getInvoiceSub serves GET /invoices/guid/:guid and GET /invoices/:id/events.
func (s *Server) getInvoiceSub(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "guid":
		s.getInvoiceByGUID(w, r, b)
	case b == "events":
		s.eventToken(w, r, a)
	case b == "refunds":
		s.listRefunds(w, r, a)
	default:
		WriteError(w, r, bitpay.NotFound())
	}
}

// getInvoiceByGUID serves GET /invoices/guid/:guid for pos and merchant
// tokens.
func (s *Server) getInvoiceByGUID(w http.ResponseWriter, r *http.Request, guid string) {
	c, err := s.authenticate(r, r.URL.Query().Get("token"), nil)
	if errors.Is(err, errNoToken) {
		WriteError(w, r, bitpay.MissingParam("token"))
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if err := requireFacade(c, auth.FacadePOS, auth.FacadeMerchant); err != nil {
		WriteError(w, r, err)
		return
	}
	inv, err := s.cfg.Store.GetInvoiceByGUID(r.Context(), c.token.StoreID, guid)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	s.writeInvoice(w, r, c.token.Facade, &inv, facadeView(c.token.Facade))
}

// writeInvoice answers with one invoice in the envelope ("pos/invoice").
func (s *Server) writeInvoice(w http.ResponseWriter, r *http.Request, facade auth.Facade, inv *invoice.Invoice, view bitpay.View) {
	f := string(facade)
	if !strings.Contains(f, "/") {
		f += "/invoice"
	}
	j := bitpay.RenderInvoice(inv, view, s.cfg.PublicURL, s.cfg.Tip(), s.cfg.Clock())
	if err := s.addRefunds(r.Context(), &j, inv, view); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteData(w, http.StatusOK, f, j)
}

// addRefunds fills an invoice's refund fields for the views that show
// them (not the public one). An invoice that never received money has no
// refunds and costs no query.
func (s *Server) addRefunds(ctx context.Context, j *bitpay.InvoiceJSON, inv *invoice.Invoice, view bitpay.View) error {
	if view == bitpay.ViewPublic || inv.Received() <= 0 {
		return nil
	}
	refs, err := s.cfg.Store.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		return err
	}
	bitpay.AddRefunds(j, refs)
	return nil
}

// checkNotificationURL refuses a notificationURL kassa would not deliver
// IPNs to: not an absolute https URL (http too with IPNAllowPrivate), or
// a host on a loopback, private, link-local or metadata address, now or
// as its name resolves (package netguard).
func (s *Server) checkNotificationURL(r *http.Request, raw string) error {
	if raw == "" {
		return nil
	}
	if err := netguard.CheckTarget(r.Context(), raw, s.cfg.IPNAllowPrivate, nil); err != nil {
		return bitpay.FieldError("notificationURL", err.Error())
	}
	return nil
}
