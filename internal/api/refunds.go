package api

// This file serves BitPay's refunds (spec §5): the v2 endpoints under
// /refunds for merchant tokens, signed (what the official SDKs'
// RefundClient sends), and the 2014 and PHP-era shapes under an invoice's
// refunds with its resource token. The rules are the refund service's.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/refund"
)

// refundRequest is a refund request body in any of its shapes: v2's
// {invoiceId, amount, currency, preview, immediate, buyerPaysRefundFee,
// guid, reference}, 2014's {bitcoinAddress, amount, currency}, PHP's
// {guid, refundEmail, amount, currency}, and PUT's {status}.
type refundRequest struct {
	Token  string
	Status string
	NewRef gateway.NewRefund
}

// decodeRefundRequest reads a refund request leniently (numbers as
// strings, booleans as text, as the invoice decoder does).
func decodeRefundRequest(body []byte) (refundRequest, error) {
	var q refundRequest
	err := eachMember(body, func(key string, val json.RawMessage) error {
		var err error
		switch key {
		case "token":
			q.Token, err = stringish(val)
		case "status":
			q.Status, err = stringish(val)
		case "invoiceId":
			q.NewRef.InvoiceID, err = stringish(val)
		case "amount":
			var n json.Number
			n, err = numberish(val)
			q.NewRef.Amount = string(n)
		case "currency":
			q.NewRef.Currency, err = stringish(val)
		case "preview":
			q.NewRef.Preview, err = boolish(val)
		case "immediate":
			q.NewRef.Immediate, err = boolish(val)
		case "buyerPaysRefundFee":
			q.NewRef.BuyerPaysFee, err = boolish(val)
		case "guid":
			q.NewRef.GUID, err = stringish(val)
		case "reference":
			q.NewRef.Reference, err = stringish(val)
		case "bitcoinAddress", "refundAddress":
			q.NewRef.Address, err = stringish(val)
		case "refundEmail":
			q.NewRef.Email, err = stringish(val)
		default:
			return nil
		}
		if err != nil {
			return bitpay.FieldError(key, key+" "+err.Error())
		}
		return nil
	})
	if err != nil {
		return q, objectError(err)
	}
	switch {
	case len(q.NewRef.GUID) > 100:
		return q, bitpay.FieldError("guid", "guid must be at most 100 characters")
	case len(q.NewRef.Reference) > 100:
		return q, bitpay.FieldError("reference", "reference must be at most 100 characters")
	case len(q.NewRef.Email) > 254:
		return q, bitpay.FieldError("refundEmail", "refundEmail must be at most 254 characters")
	}
	return q, nil
}

// refundsOn answers that this kassa makes no refunds when it has no
// refund service.
func (s *Server) refundsOn(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Refunds == nil {
		WriteError(w, r, &bitpay.Error{Status: http.StatusNotImplemented, Code: bitpay.CodeRefundGeneric,
			Msg: "refunds are not enabled on this kassa"})
		return false
	}
	return true
}

// refundMerchant authenticates a refund call without a body (GET): the
// refunds must be on and the caller a merchant token of the store.
func (s *Server) refundMerchant(w http.ResponseWriter, r *http.Request) (caller, bool) {
	if !s.refundsOn(w, r) {
		return caller{}, false
	}
	return s.merchant(w, r)
}

// refundBody reads a refund request whose body carries a merchant token
// and authenticates it, signature included.
func (s *Server) refundBody(w http.ResponseWriter, r *http.Request) (refundRequest, caller, bool) {
	if !s.refundsOn(w, r) {
		return refundRequest{}, caller{}, false
	}
	body, err := ReadBody(w, r, 16<<10)
	if err == nil {
		var q refundRequest
		if q, err = decodeRefundRequest(body); err == nil {
			c, ok := s.signedMerchant(w, r, q.Token, body)
			return q, c, ok
		}
	}
	WriteError(w, r, err)
	return refundRequest{}, caller{}, false
}

// createRefund serves POST /refunds.
func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	q, c, ok := s.refundBody(w, r)
	if !ok {
		return
	}
	switch {
	case q.NewRef.InvoiceID == "":
		WriteError(w, r, bitpay.MissingParam("invoiceId"))
		return
	case q.NewRef.Amount == "":
		WriteError(w, r, bitpay.MissingParam("amount"))
		return
	}
	ref, err := s.cfg.Refunds.Create(r.Context(), c.token.StoreID, q.NewRef)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	writeRefund(w, ref)
}

// writeRefund answers with one refund, its own token included: only the
// merchant's calls answer with a refund.
func writeRefund(w http.ResponseWriter, ref *refund.Refund) {
	bitpay.WriteData(w, http.StatusOK, "merchant/refund", bitpay.RenderRefund(ref, true))
}

// getRefund serves GET /refunds/:id and GET /refunds/guid/:guid.
func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	c, ok := s.refundMerchant(w, r)
	if !ok {
		return
	}
	ref, err := s.findRefund(r, c)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	writeRefund(w, ref)
}

// findRefund loads the caller's refund the path names, by id or guid.
func (s *Server) findRefund(r *http.Request, c caller) (*refund.Refund, error) {
	if guid := r.PathValue("guid"); guid != "" {
		return s.cfg.Refunds.GetByGUID(r.Context(), c.token.StoreID, guid)
	}
	return s.cfg.Refunds.Get(r.Context(), c.token.StoreID, r.PathValue("id"))
}

// listRefundsV2 serves GET /refunds?invoiceId=.
func (s *Server) listRefundsV2(w http.ResponseWriter, r *http.Request) {
	c, ok := s.refundMerchant(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("invoiceId")
	if id == "" {
		WriteError(w, r, bitpay.MissingParam("invoiceId"))
		return
	}
	refs, err := s.cfg.Refunds.List(r.Context(), c.token.StoreID, id)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out := make([]bitpay.RefundJSON, 0, len(refs))
	for i := range refs {
		out = append(out, bitpay.RenderRefund(&refs[i], true))
	}
	bitpay.WriteData(w, http.StatusOK, "merchant/refund", out)
}

// updateRefund serves PUT /refunds/:id and /refunds/guid/:guid: status
// "created" confirms a preview; no other change is made this way.
func (s *Server) updateRefund(w http.ResponseWriter, r *http.Request) {
	q, c, ok := s.refundBody(w, r)
	if !ok {
		return
	}
	if q.Status == "" {
		WriteError(w, r, bitpay.MissingParam("status"))
		return
	}
	if st, _ := refund.ParseStatus(strings.ToLower(q.Status)); st != refund.StatusCreated {
		WriteError(w, r, bitpay.FieldError("status", `status can only be set to "created" (confirming a preview); cancel with DELETE`))
		return
	}
	s.actOnRefund(w, r, c, s.cfg.Refunds.Confirm)
}

// cancelRefund serves DELETE /refunds/:id and /refunds/guid/:guid: the
// cancelled refund, as BitPay answers (the SDK's cancelRefund returns it).
func (s *Server) cancelRefund(w http.ResponseWriter, r *http.Request) {
	c, ok := s.refundMerchant(w, r)
	if !ok {
		return
	}
	s.actOnRefund(w, r, c, s.cfg.Refunds.Cancel)
}

// actOnRefund applies a change to the caller's refund the path names and
// answers with the refund after it.
func (s *Server) actOnRefund(w http.ResponseWriter, r *http.Request, c caller,
	act func(ctx context.Context, storeID, id string) (*refund.Refund, error)) {
	ref, err := s.findRefund(r, c)
	if err == nil {
		ref, err = act(r.Context(), c.token.StoreID, ref.ID)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	writeRefund(w, ref)
}

// resendRefundNotification serves POST /refunds/:id/notifications with
// the refund's own token (what the SDK sends) or a merchant token of its
// store: its latest event goes out again. The answer is the newer ack,
// {"status":"success","data":{}}, which the SDK reads as true.
func (s *Server) resendRefundNotification(w http.ResponseWriter, r *http.Request) {
	if !s.refundsOn(w, r) {
		return
	}
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
	ref, err := s.cfg.Store.GetRefund(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if !(auth.Token{Value: ref.Token}).Matches(token) {
		c, ok := s.signedMerchant(w, r, token, body)
		if !ok {
			return
		}
		if c.token.StoreID != ref.StoreID {
			WriteError(w, r, bitpay.NotFound())
			return
		}
	}
	if _, err := s.cfg.Refunds.Resend(r.Context(), ref.ID); err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteAck(w)
}

// createInvoiceRefund serves the 2014 API's POST /invoices/:id/refunds
// ({bitcoinAddress, amount, currency}, answered {id, requestDate, status,
// token}) and the PHP client's ({guid, refundEmail, amount, currency},
// answered with success too), with the invoice's resource token or a
// merchant token of its store.
func (s *Server) createInvoiceRefund(w http.ResponseWriter, r *http.Request, body []byte) {
	if !s.refundsOn(w, r) {
		return
	}
	q, err := decodeRefundRequest(body)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if q.Token == "" {
		q.Token = r.URL.Query().Get("token")
	}
	inv, err := s.invoiceAuth(r, r.PathValue("id"), q.Token, body, auth.FacadeMerchant)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if q.NewRef.Amount == "" {
		WriteError(w, r, bitpay.MissingParam("amount"))
		return
	}
	q.NewRef.InvoiceID = inv.ID
	ref, err := s.cfg.Refunds.Create(r.Context(), inv.StoreID, q.NewRef)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out := map[string]any{"data": bitpay.RenderLegacyRefund(ref)}
	if q.NewRef.Email != "" && q.NewRef.Address == "" {
		out["success"] = true // the PHP client reads success
	}
	b, err := bitpay.Marshal(out)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	bitpay.WriteRaw(w, http.StatusOK, b)
}

// listRefunds serves GET /invoices/:id/refunds with the invoice's
// resource token or a merchant token: its refunds, statuses in the 2014
// API's words.
func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request, id string) {
	inv, err := s.invoiceAuth(r, id, r.URL.Query().Get("token"), nil, auth.FacadeMerchant)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	refs, err := s.cfg.Store.InvoiceRefunds(r.Context(), inv.ID)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out := make([]bitpay.RefundJSON, 0, len(refs))
	for i := range refs {
		j := bitpay.RenderRefund(&refs[i], true)
		j.Status = bitpay.LegacyStatus(refs[i].Status)
		out = append(out, j)
	}
	bitpay.WriteData(w, http.StatusOK, "", out)
}

// invoiceRefund serves the PHP client's GET and DELETE
// /invoices/:id/refunds/:rid with the invoice's resource token or a
// merchant token.
func (s *Server) invoiceRefund(w http.ResponseWriter, r *http.Request) {
	if !s.refundsOn(w, r) {
		return
	}
	inv, err := s.invoiceAuth(r, r.PathValue("id"), r.URL.Query().Get("token"), nil, auth.FacadeMerchant)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ref, err := s.cfg.Refunds.Get(r.Context(), inv.StoreID, r.PathValue("rid"))
	if err == nil && ref.InvoiceID != inv.ID {
		err = bitpay.NotFound()
	}
	if err == nil && r.Method == http.MethodDelete {
		ref, err = s.cfg.Refunds.Cancel(r.Context(), inv.StoreID, ref.ID)
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	j := bitpay.RenderRefund(ref, true)
	j.Status = bitpay.LegacyStatus(ref.Status)
	bitpay.WriteData(w, http.StatusOK, "", j)
}
