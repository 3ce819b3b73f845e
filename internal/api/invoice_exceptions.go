package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
)

// invoiceAuth authorizes an action on one invoice: its own resource token,
// or a token of the given facades for the invoice's store.
func (s *Server) invoiceAuth(r *http.Request, id, token string, body []byte, facades ...auth.Facade) (invoice.Invoice, error) {
	if token == "" {
		return invoice.Invoice{}, bitpay.MissingParam("token")
	}
	inv, err := s.cfg.Store.GetInvoice(r.Context(), id)
	if err != nil {
		return invoice.Invoice{}, bitpay.NotFound()
	}
	if (auth.Token{Value: inv.Token}).Matches(token) {
		return inv, nil
	}
	c, err := s.authenticate(r, token, body)
	if err != nil {
		return invoice.Invoice{}, err
	}
	if err := requireFacade(c, facades...); err != nil {
		return invoice.Invoice{}, err
	}
	if c.token.StoreID != inv.StoreID {
		return invoice.Invoice{}, bitpay.NotFound()
	}
	return inv, nil
}

// invoiceAction serves seed 002's invoice-resource actions:
// POST /invoices/:id/creditPartialPayment and /creditOverpayment with
// {commit} (false previews), and the 2014 API's refunds (refunds.go).
func (s *Server) invoiceAction(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if r.PathValue("action") == "refunds" {
		s.createInvoiceRefund(w, r, body)
		return
	}
	var req struct {
		Token  string          `json:"token"`
		Commit json.RawMessage `json:"commit"`
	}
	if len(body) > 0 && json.Unmarshal(body, &req) != nil {
		WriteError(w, r, bitpay.BadRequest("request body is not a JSON object"))
		return
	}
	if req.Token == "" {
		req.Token = r.URL.Query().Get("token")
	}
	var ev invoice.Event
	var what string
	switch r.PathValue("action") {
	case "creditPartialPayment", "acceptPartialPayment":
		ev, what = invoice.AcceptPartial{}, "partial payment"
	case "creditOverpayment", "acceptOverpayment":
		ev, what = invoice.AcceptOverpayment{}, "over payment"
	default:
		WriteError(w, r, bitpay.NotFound())
		return
	}
	inv, err := s.invoiceAuth(r, r.PathValue("id"), req.Token, body, auth.FacadeMerchant)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if len(req.Commit) == 0 {
		WriteError(w, r, bitpay.MissingParam("commit"))
		return
	}
	commit, err := boolish(req.Commit)
	if err != nil {
		WriteError(w, r, bitpay.FieldError("commit", "commit must be true or false"))
		return
	}
	var out *invoice.Invoice
	if commit {
		out, err = s.cfg.Invoices.Act(r.Context(), inv.ID, ev)
	} else {
		out, err = s.cfg.Invoices.Preview(r.Context(), inv.ID, ev)
	}
	if errors.Is(err, invoice.ErrNotConfirmed) {
		WriteError(w, r, bitpay.Conflict(bitpay.CodeInvoiceInvalidState, "the payment needs six confirmations first"))
		return
	}
	if errors.Is(err, invoice.ErrIllegalTransition) {
		WriteError(w, r, bitpay.Conflict(bitpay.CodeInvoiceInvalidState, "the invoice has no "+what+" to accept"))
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	s.writeInvoice(w, r, "invoice", out, bitpay.ViewMerchant)
}

// updateInvoice serves PUT /invoices/:id: the buyer's contact for exception
// handling ({buyerEmail} or {buyerSms}).
func (s *Server) updateInvoice(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var req struct {
		Token      string `json:"token"`
		BuyerEmail string `json:"buyerEmail"`
		BuyerSms   string `json:"buyerSms"`
	}
	if json.Unmarshal(body, &req) != nil {
		WriteError(w, r, bitpay.BadRequest("request body is not a JSON object"))
		return
	}
	inv, err := s.invoiceAuth(r, r.PathValue("id"), req.Token, body, auth.FacadePOS, auth.FacadeMerchant)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	switch {
	case req.BuyerEmail != "":
		if _, err := mail.ParseAddress(req.BuyerEmail); err != nil || len(req.BuyerEmail) > 254 {
			WriteError(w, r, bitpay.FieldError("buyerEmail", "buyerEmail is not an email address"))
			return
		}
	case req.BuyerSms != "":
		if len(req.BuyerSms) > 20 || strings.Trim(req.BuyerSms, "+0123456789 -") != "" {
			WriteError(w, r, bitpay.FieldError("buyerSms", "buyerSms is not a phone number"))
			return
		}
	default:
		WriteError(w, r, bitpay.MissingParam("buyerEmail"))
		return
	}
	out, err := s.cfg.Invoices.UpdateFields(r.Context(), inv.ID, func(f *invoice.Fields) error {
		if req.BuyerEmail != "" {
			f.Buyer.Email = req.BuyerEmail
		}
		if req.BuyerSms != "" {
			f.Buyer.Phone = req.BuyerSms
		}
		return nil
	})
	if err != nil {
		WriteError(w, r, err)
		return
	}
	s.writeInvoice(w, r, "invoice", out, bitpay.ViewPOS)
}

// accessRequest serves GET /api-access-request?pairingCode=: the link a
// client gives the merchant to approve its pairing code (spec §2.3). It
// sends the browser to the dashboard's approval page, which signs the
// merchant in first and checks the code.
func (s *Server) accessRequest(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("pairingCode")
	if len(code) != 7 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		WriteError(w, r, bitpay.FieldError("pairingCode", "pairingCode must be 7 letters and digits"))
		return
	}
	base := ""
	if u, err := url.Parse(s.cfg.PublicURL); err == nil {
		base = strings.TrimRight(u.Path, "/")
	}
	http.Redirect(w, r, base+"/dashboard/pairing?pairingCode="+url.QueryEscape(code), http.StatusSeeOther)
}

// invoiceData serves the calls old WooCommerce plugins make while the buyer
// picks a currency or gives an email (spec §3.1): accepted, nothing to do.
func (s *Server) invoiceData(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var req struct {
		Token     string `json:"token"`
		InvoiceID string `json:"invoiceId"`
	}
	if json.Unmarshal(body, &req) != nil || req.InvoiceID == "" {
		WriteError(w, r, bitpay.MissingParam("invoiceId"))
		return
	}
	switch r.PathValue("action") {
	case "setBuyerSelectedTransactionCurrency", "setBuyerProvidedEmail":
	default:
		WriteError(w, r, bitpay.NotFound())
		return
	}
	if _, err := s.invoiceAuth(r, req.InvoiceID, req.Token, body, auth.FacadePOS, auth.FacadeMerchant); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", "Success")
}
