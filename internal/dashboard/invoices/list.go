package invoices

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// statuses are the status filter's choices.
var statuses = []invoice.Status{invoice.StatusNew, invoice.StatusPaid, invoice.StatusConfirmed,
	invoice.StatusComplete, invoice.StatusExpired, invoice.StatusInvalid, invoice.StatusDeclined}

// maxFilterLen bounds the text filters.
const maxFilterLen = 200

// filter is the invoice list's filter form as typed, and its meaning.
type filter struct {
	Q, Status, From, To, OrderID string

	status   invoice.Status
	from, to time.Time // to is the day after the last day asked for
}

// parseFilter reads the filter form. Values it cannot use are reported
// and left out.
func parseFilter(v url.Values) (filter, []string) {
	f := filter{Q: strings.TrimSpace(v.Get("q")), Status: v.Get("status"), From: v.Get("from"), To: v.Get("to"),
		OrderID: strings.TrimSpace(v.Get("order"))}
	var errs []string
	if len(f.Q) > maxFilterLen || len(f.OrderID) > maxFilterLen {
		errs = append(errs, "Search terms are at most 200 characters.")
		f.Q, f.OrderID = "", ""
	}
	if f.Status != "" {
		if s := invoice.Status(f.Status); s.Valid() {
			f.status = s
		} else {
			errs = append(errs, "Unknown status.")
			f.Status = ""
		}
	}
	var bad string
	if f.from, f.to, bad = parseRange(f.From, f.To); bad != "" {
		errs = append(errs, bad)
		f.From, f.To = "", ""
	}
	return f, errs
}

// parseRange reads a date range of YYYY-MM-DD days (UTC), either end
// optional, into [from, day after to); bad is what is wrong with it, for
// the merchant.
func parseRange(fromText, toText string) (from, to time.Time, bad string) {
	var err error
	if fromText != "" {
		if from, err = time.Parse(time.DateOnly, fromText); err != nil {
			return time.Time{}, time.Time{}, "Dates are written YYYY-MM-DD."
		}
	}
	if toText != "" {
		if to, err = time.Parse(time.DateOnly, toText); err != nil {
			return time.Time{}, time.Time{}, "Dates are written YYYY-MM-DD."
		}
		to = to.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return time.Time{}, time.Time{}, "The first day comes after the last."
	}
	return from, to, ""
}

// values returns the filter as query parameters for links.
func (f filter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "status": f.Status, "from": f.From, "to": f.To, "order": f.OrderID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// listRow is one invoice in the list.
type listRow struct {
	ID, URL   string
	Created   time.Time
	Status    invoice.Status
	Exception invoice.Exception
	Price     decimal.Decimal
	Currency  string
	Due       money.Sats
	OrderID   string
	Item      string
	Email     string
}

type listPage struct {
	Root     string
	F        filter
	Statuses []invoice.Status
	Errors   []string
	Rows     []listRow
	// The page links; "" when there is no such page.
	Newest, Newer, Older, Oldest string
	CSV                          string
}

// List serves the invoice list: GET …/invoices?q=&status=&from=&to=&order=
// with after=, before= (cursors) or last=1 for the other pages.
func (h *Handler) List(w http.ResponseWriter, r *http.Request, v Viewer) {
	query := r.URL.Query()
	f, errs := parseFilter(query)
	root := h.root(v.StoreID())
	p := listPage{Root: root, F: f, Statuses: statuses, Errors: errs}
	q := store.InvoiceQuery{StoreID: v.StoreID(), Status: f.status, From: f.from, To: f.to, OrderID: f.OrderID,
		Search: f.Q, Limit: h.cfg.PageSize, Last: query.Get("last") == "1"}
	for name, dst := range map[string]*store.Cursor{"after": &q.After, "before": &q.Before} {
		if s := query.Get(name); s != "" {
			c, err := store.ParseCursor(s)
			if err != nil {
				p.Errors = append(p.Errors, "That page link is broken; showing the newest invoices.")
				q.After, q.Before, q.Last = store.Cursor{}, store.Cursor{}, false
				break
			}
			*dst = c
		}
	}
	page, err := h.cfg.Store.InvoicePage(r.Context(), q)
	if err != nil {
		h.serverError(w, r, "invoice page", err)
		return
	}
	for i := range page.Invoices {
		inv := &page.Invoices[i]
		p.Rows = append(p.Rows, listRow{ID: inv.ID, URL: root + "/invoices/" + url.PathEscape(inv.ID),
			Created: inv.CreatedAt, Status: inv.Status, Exception: inv.Exception, Price: inv.Price,
			Currency: inv.Currency, Due: inv.Due(), OrderID: inv.Fields.OrderID,
			Item: shorten(inv.Fields.ItemDesc, 80), Email: inv.Fields.Buyer.Email})
	}
	link := func(k, val string) string {
		vals := f.values()
		if k != "" {
			vals.Set(k, val)
		}
		if len(vals) == 0 {
			return root + "/invoices"
		}
		return root + "/invoices?" + vals.Encode()
	}
	if page.HasNewer {
		p.Newest, p.Newer = link("", ""), link("before", page.Cursors[0].String())
	}
	if page.HasOlder {
		p.Older, p.Oldest = link("after", page.Cursors[len(page.Cursors)-1].String()), link("last", "1")
	}
	if v.CanManage() {
		vals := url.Values{}
		if f.From != "" {
			vals.Set("from", f.From)
		}
		if f.To != "" {
			vals.Set("to", f.To)
		}
		p.CSV = root + "/invoices.csv"
		if len(vals) > 0 {
			p.CSV += "?" + vals.Encode()
		}
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusBadRequest
	}
	h.render(w, r, status, "Invoices", "list", p)
}

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Export serves GET …/invoices.csv?from=&to=: the store's invoices created
// in the date range (all of them without one) as a CSV download, streamed
// as the database is read; managers and owners only.
func (h *Handler) Export(w http.ResponseWriter, r *http.Request, v Viewer) {
	if !v.CanManage() {
		h.cfg.Log.Warn("dashboard invoices: export refused, not a manager", "path", r.URL.Path)
		h.message(w, r, http.StatusForbidden, "Only managers and owners may export invoices.")
		return
	}
	fromText, toText := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	from, to, bad := parseRange(fromText, toText)
	if bad != "" {
		h.message(w, r, http.StatusBadRequest, bad)
		return
	}
	name := "invoices-" + v.StoreID()
	if fromText != "" {
		name += "-from-" + fromText
	}
	if toText != "" {
		name += "-to-" + toText
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="`+safeFileName(name)+`.csv"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	n, err := writeCSV(r.Context(), fw, h.cfg.Store, v.StoreID(), from, to)
	if err != nil {
		if fw.wrote == 0 {
			h.serverError(w, r, "export", err)
			return
		}
		// Half a file must not pass for a whole one: break the response.
		h.cfg.Log.Error("dashboard invoices: export failed midway", "store", v.StoreID(), "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	h.cfg.Log.Info("dashboard invoices: exported", "store", v.StoreID(), "rows", n, "from", fromText, "to", toText)
}

// safeFileName keeps letters, digits and dashes.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// flushWriter sends every write on at once, so a long export reaches the
// browser as it is read.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote int64
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	f.wrote += int64(n)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, err
	}
	return n, nil
}
