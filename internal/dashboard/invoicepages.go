package dashboard

import (
	"net/http"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/dashboard/invoices"
)

// invoiceViewer is a Viewer as the invoice pages see it.
type invoiceViewer struct{ v Viewer }

func (iv invoiceViewer) StoreID() string   { return iv.v.StoreID }
func (iv invoiceViewer) CanManage() bool   { return iv.v.Can(account.RoleManager) }
func (iv invoiceViewer) CSRFToken() string { return iv.v.CSRF }

// HandleInvoicePages mounts the invoice list, detail, CSV export and
// overview (package dashboard/invoices) behind the login: every member of
// a store may view, managers and owners may act and export.
func (s *Server) HandleInvoicePages(pages *invoices.Handler) {
	for _, rt := range pages.Routes() {
		min := account.RoleEmployee
		if rt.Manage {
			min = account.RoleManager
		}
		page := rt.Page
		s.Handle(rt.Pattern, min, func(w http.ResponseWriter, r *http.Request, v Viewer) {
			page(w, r, invoiceViewer{v})
		})
	}
}
