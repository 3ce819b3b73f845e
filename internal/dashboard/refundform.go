package dashboard

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// guidPrefix starts the guid of a refund made through the form: each
// rendering of the form carries a new one, so that a form sent twice (a
// double click, a reload) makes one refund.
const guidPrefix = "dashboard:"

// refundFormData is the create-refund form of an invoice.
type refundFormData struct {
	InvoiceID, InvoiceURL, Action string
	Price                         string
	Currencies                    []string
	// Left is what the invoice can still refund; Closed says why it
	// cannot be refunded (the form is not shown).
	Left       string
	Closed     string
	BuyerEmail string
	// The form's fields.
	Amount, Currency, Address, Email string
	BuyerFee, Preview                bool
	GUID                             string
}

// invoiceOf loads the invoice {invoice} of the viewer's store; it answers
// 404 (and returns false) for a missing one or one of another store.
func (s *Server) invoiceOf(w http.ResponseWriter, r *http.Request, v Viewer) (invoice.Invoice, bool) {
	id := r.PathValue("invoice")
	inv, err := s.cfg.InvoiceLookup.GetInvoice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && inv.StoreID != v.StoreID {
		s.message(w, r, http.StatusNotFound, "Not found", "This store has no such invoice.")
		return invoice.Invoice{}, false
	}
	if err != nil {
		s.serverError(w, r, "load invoice", err)
		return invoice.Invoice{}, false
	}
	return inv, true
}

// refundFormPage shows the form that creates a refund of an invoice: GET
// …/invoices/{invoice}/refund. It is a preview first unless unticked.
func (s *Server) refundFormPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	inv, ok := s.invoiceOf(w, r, v)
	if !ok {
		return
	}
	f := refundFormData{Currency: inv.Currency, Preview: true}
	s.renderRefundForm(w, r, v, http.StatusOK, &inv, f, "")
}

func (s *Server) renderRefundForm(w http.ResponseWriter, r *http.Request, v Viewer, status int, inv *invoice.Invoice,
	f refundFormData, errMsg string) {
	f.InvoiceID = inv.ID
	f.InvoiceURL = s.base + storePath(v.StoreID, "/invoices/"+url.PathEscape(inv.ID))
	f.Action = f.InvoiceURL + "/refund"
	f.Price = amountText(inv.Price, inv.Currency)
	f.Currencies = []string{inv.Currency}
	if inv.Currency != "BTC" {
		f.Currencies = append(f.Currencies, "BTC")
	}
	f.BuyerEmail = inv.Fields.Buyer.Email
	f.GUID = guidPrefix + auth.NewID()
	refunds, err := s.cfg.RefundLookup.InvoiceRefunds(r.Context(), inv.ID)
	if err != nil {
		s.serverError(w, r, "load the invoice's refunds", err)
		return
	}
	left, err := refund.Refundable(inv, refunds)
	switch {
	case err != nil:
		f.Closed = refundProblem(err)
	case left <= 0:
		f.Closed = "Everything this invoice received is refunded already (or in refunds under way)."
	default:
		f.Left = left.BTC() + " BTC"
	}
	s.render(w, r, status, "Refund invoice "+inv.ID, "refundNew", view{D: f, Error: errMsg})
}

// refundCreate creates a refund of an invoice through the refund service:
// POST …/invoices/{invoice}/refund. A refusal shows the form again with
// the reason in plain words, and nothing is recorded; a refund goes to
// its page (a preview waits there for its confirmation).
func (s *Server) refundCreate(w http.ResponseWriter, r *http.Request, v Viewer) {
	inv, ok := s.invoiceOf(w, r, v)
	if !ok {
		return
	}
	f := refundFormData{Amount: strings.TrimSpace(r.PostFormValue("amount")),
		Currency: strings.TrimSpace(r.PostFormValue("currency")), Address: strings.TrimSpace(r.PostFormValue("address")),
		Email: strings.TrimSpace(r.PostFormValue("email")), BuyerFee: r.PostFormValue("buyer_fee") == "on",
		Preview: r.PostFormValue("preview") == "on"}
	refuse := func(status int, problem string) {
		s.cfg.Log.Info("dashboard: refund refused", "user", v.User.ID, "invoice", inv.ID, "why", problem)
		s.renderRefundForm(w, r, v, status, &inv, f, problem)
	}
	if f.Amount == "" {
		refuse(http.StatusUnprocessableEntity, "Enter the amount to refund.")
		return
	}
	if len(f.Amount) > 40 || len(f.Address) > 200 || len(f.Email) > 254 || len(f.Currency) > 8 {
		refuse(http.StatusUnprocessableEntity, "A field is longer than any amount, address or email address.")
		return
	}
	if f.Email != "" {
		a, err := mail.ParseAddress(f.Email)
		if err != nil || a.Name != "" {
			refuse(http.StatusUnprocessableEntity, "The buyer's email address is not an email address.")
			return
		}
		f.Email = a.Address
	}
	if f.Address == "" && f.Email == "" && inv.Fields.Buyer.Email == "" {
		refuse(http.StatusUnprocessableEntity, "Give the buyer's refund address, or an email address where the buyer can be asked for one.")
		return
	}
	guid := r.PostFormValue("guid")
	if !strings.HasPrefix(guid, guidPrefix) || len(guid) > 64 {
		guid = ""
	}
	rf, err := s.cfg.Refunds.Create(r.Context(), v.StoreID, gateway.NewRefund{InvoiceID: inv.ID, Amount: f.Amount,
		Currency: f.Currency, Preview: f.Preview, BuyerPaysFee: f.BuyerFee, GUID: guid, Address: f.Address, Email: f.Email})
	if err != nil {
		problem := refundProblem(err)
		if problem == "" {
			s.serverError(w, r, "create refund", err)
			return
		}
		refuse(http.StatusUnprocessableEntity, problem)
		return
	}
	s.cfg.Log.Info("dashboard: refund created", "user", v.User.ID, "store", v.StoreID, "invoice", inv.ID,
		"refund", rf.ID, "status", rf.Status, "sats", int64(rf.Sats))
	done := "created"
	if rf.Status == refund.StatusPreview {
		done = "preview"
	}
	s.prepare(r.Context(), *rf)
	s.redirect(w, r, storePath(v.StoreID, "/refunds/"+url.PathEscape(rf.ID))+"?done="+done)
}
