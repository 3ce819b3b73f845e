package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
)

// Invoices creates the point of sale's invoices; *gateway.Gateway
// implements it.
type Invoices interface {
	CreateInvoice(ctx context.Context, storeID string, req gateway.NewInvoice) (*invoice.Invoice, error)
}

// InvoiceLookup loads the invoice the point of sale just made, to show
// it; *store.DB implements it.
type InvoiceLookup interface {
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
}

// posData is the point-of-sale page's data.
type posData struct {
	Price, Currency, Description string
	Currencies                   []string
	// Created is the invoice just made.
	Created *posInvoice
}

type posInvoice struct {
	ID, Price, Description, BTCDue, URL string
}

// posPage is the point of sale: price, currency and description make an
// invoice; the page then shows its checkout link. ?invoice=ID shows an
// invoice of this store after the redirect.
func (s *Server) posPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	d := posData{Currency: v.Store.DefaultCurrency, Currencies: currencyCodes()}
	if id := r.URL.Query().Get("invoice"); id != "" {
		inv, err := s.cfg.InvoiceLookup.GetInvoice(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && inv.StoreID != v.StoreID) {
			s.render(w, r, http.StatusNotFound, "Point of sale", "pos", view{D: d, Error: "No such invoice in this store."})
			return
		}
		if err != nil {
			s.serverError(w, r, "load invoice", err)
			return
		}
		d.Created = s.posInvoice(&inv)
	}
	s.render(w, r, http.StatusOK, "Point of sale", "pos", view{D: d})
}

func (s *Server) posInvoice(inv *invoice.Invoice) *posInvoice {
	price := inv.Price.String()
	if c, ok := money.LookupCurrency(inv.Currency); ok {
		price = inv.Price.StringFixed(c.Precision)
	}
	return &posInvoice{ID: inv.ID, Price: price + " " + inv.Currency, Description: inv.Fields.ItemDesc,
		BTCDue: inv.Due().BTC(), URL: strings.TrimRight(s.cfg.PublicURL, "/") + "/invoice?id=" + url.QueryEscape(inv.ID)}
}

func (s *Server) posPost(w http.ResponseWriter, r *http.Request, v Viewer) {
	d := posData{Price: strings.TrimSpace(r.PostFormValue("price")),
		Currency:    strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))),
		Description: strings.TrimSpace(r.PostFormValue("description")), Currencies: currencyCodes()}
	fail := func(status int, msg string) {
		s.render(w, r, status, "Point of sale", "pos", view{D: d, Error: msg})
	}
	if d.Price == "" {
		fail(http.StatusUnprocessableEntity, "Enter a price.")
		return
	}
	if len(d.Description) > 200 || strings.IndexFunc(d.Description, unicode.IsControl) >= 0 {
		fail(http.StatusUnprocessableEntity, "The description may have at most 200 characters, without control characters.")
		return
	}
	if s.cfg.Invoices == nil {
		fail(http.StatusServiceUnavailable, "This kassa cannot create invoices right now.")
		return
	}
	inv, err := s.cfg.Invoices.CreateInvoice(r.Context(), v.StoreID, gateway.NewInvoice{Price: d.Price, Currency: d.Currency,
		Fields: invoice.Fields{ItemDesc: d.Description}})
	var in *gateway.InputError
	switch {
	case errors.As(err, &in):
		s.cfg.Log.Info("dashboard: point-of-sale invoice refused", "user", v.User.ID, "store", v.StoreID, "field", in.Field)
		fail(http.StatusUnprocessableEntity, "The "+in.Field+" was refused: "+in.Msg+".")
		return
	case errors.Is(err, gateway.ErrInvalid):
		fail(http.StatusUnprocessableEntity, "The invoice was refused: "+err.Error()+".")
		return
	case err != nil:
		s.serverError(w, r, "create point-of-sale invoice", err)
		return
	}
	s.cfg.Log.Info("dashboard: point-of-sale invoice", "user", v.User.ID, "store", v.StoreID, "invoice", inv.ID)
	s.redirect(w, r, storePath(v.StoreID, "/pos?invoice="+url.QueryEscape(inv.ID)))
}
