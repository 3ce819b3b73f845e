// Package invoices serves the invoice side of the merchant dashboard: the
// invoice list (filters, search, keyset pagination that stays fast at a
// million invoices), an invoice's detail (state timeline, on-chain
// payments with block-explorer links, its refunds and the spends that pay
// them, every IPN attempt, "Resend IPN" and "Mark invalid"), the streaming CSV export and the store overview (sales
// per day as SVG charts in fiat and BTC, counts by status, the gap-limit
// governor's unpaid run, chain sync and rate freshness).
//
// The pages know nothing of sign-in: each handler takes a Viewer (the
// signed-in user's store, role and CSRF token) and renders its body into
// Config.Layout, so the dashboard mounts them behind its own login and
// role checks (see Routes). The handlers check the role again for every
// action and answer 404 for an invoice of another store. Templates are
// html/template, embedded and parsed once: every text a buyer or merchant
// set is escaped; pages carry no script or style of their own, so they
// live under the dashboard's Content-Security-Policy, and charts are
// inline SVG drawn on the server. Money is never a float: fiat amounts are
// decimals, BTC amounts satoshis, and chart bars are scaled in integers.
package invoices

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

//go:embed templates/*.html
var files embed.FS

// Viewer is who looks at a page: the dashboard's signed-in user in the
// store of the page.
type Viewer interface {
	// StoreID is the store whose invoices the viewer sees.
	StoreID() string
	// CanManage reports whether the viewer may act on invoices (resend an
	// IPN, mark invalid) and export them: managers and owners.
	CanManage() bool
	// CSRFToken is the session's form token, posted as the field "csrf".
	CSRFToken() string
}

// Attempt is one try to deliver an invoice's notification.
type Attempt struct {
	At         time.Time
	Event      invoice.Code
	Channel    string // "ipn" or "email"
	Target     string // the notificationURL or the address mailed
	N          int    // 1 for the first try of this event
	StatusCode int    // the HTTP status; 0 when there was no response
	Latency    time.Duration
	Error      string // "" for a successful attempt
}

// ChainStatus is the chain backend's sync state, for the overview.
type ChainStatus struct {
	Backend   string // "bitcoind", "btcd", "esplora", …
	Height    int32
	LastBlock time.Time // the tip block's time
	Synced    bool      // caught up with the backend's tip
	Err       string    // the backend's last error, "" when healthy
}

// RateSource is an exchange-rate source's freshness, for the overview.
type RateSource struct {
	Name    string
	Updated time.Time // the last successful fetch
	Err     string    // the last error, "" when healthy
}

// Store is what the invoice pages read; *store.DB implements it.
type Store interface {
	// InvoicePage returns one page of a store's invoices by a query.
	InvoicePage(ctx context.Context, q store.InvoiceQuery) (store.InvoicePage, error)
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// Outbox returns an invoice's events in the order they happened.
	Outbox(ctx context.Context, subjectID string) ([]store.OutboxEvent, error)
	// GetStore loads a merchant store (its name, network, currency).
	GetStore(ctx context.Context, id string) (merchant.Store, error)
	// CountByStatus counts a store's invoices created in [from, to) by status.
	CountByStatus(ctx context.Context, storeID string, from, to time.Time) (map[invoice.Status]int, error)
	// SalesPerDay sums a store's sales per day over [from, to).
	SalesPerDay(ctx context.Context, storeID string, from, to time.Time) ([]store.DaySales, error)
	// GapRun is the store's run of unpaid addresses, for the gap-limit warning.
	GapRun(ctx context.Context, storeID string) (int, error)
	invoiceSource
}

// Refunds reads an invoice's refunds and the spends that pay them;
// *store.DB implements it.
type Refunds interface {
	// InvoiceRefunds returns an invoice's refunds, oldest first.
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.Refund, error)
	// SpendsOf returns the spends a store made for some of its refunds
	// (kind spend.KindRefund), in every status.
	SpendsOf(ctx context.Context, storeID string, kind spend.Kind, subjectIDs ...string) ([]spend.Spend, error)
}

// Config wires the pages. Store and Layout are required; every hook is
// optional and its part of a page is left out without it.
type Config struct {
	Store Store
	// Layout renders a page body inside the dashboard's chrome with status
	// 200; LayoutStatus with another status (default: Layout through a
	// writer that sets the status).
	Layout       func(w http.ResponseWriter, r *http.Request, title string, body template.HTML)
	LayoutStatus func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML)
	// BasePath is the path kassa is served under (PublicURL's path), the
	// prefix of every link; the pages are at BasePath/dashboard/stores/ID.
	BasePath string
	// ExplorerURL returns the block explorer's base URL for a network ("" for
	// none); links are BASE/tx/TXID and BASE/address/ADDRESS. Default
	// DefaultExplorer.
	ExplorerURL func(network string) string
	// Refunds, when set, lists an invoice's refunds on its page, each
	// linked to the spend that pays it (the dashboard's spend page).
	Refunds Refunds
	// RefundForm shows managers and owners a "Create refund" button on
	// the page of an invoice that received money and is no longer open,
	// linking …/invoices/{invoice}/refund (the dashboard's form).
	RefundForm bool
	// Resend asks for an invoice's last notification again (event 1012).
	Resend func(ctx context.Context, invoiceID string) error
	// MarkInvalid marks an invoice invalid by hand; it should fail with
	// invoice.ErrIllegalTransition where the state machine refuses.
	MarkInvalid func(ctx context.Context, invoiceID string) error
	// Deliveries lists every attempt to notify about an invoice.
	Deliveries func(ctx context.Context, invoiceID string) ([]Attempt, error)
	// Chain reports the chain backend's sync state; its height also counts
	// payments' confirmations.
	Chain func(ctx context.Context) (ChainStatus, error)
	// Rates reports the exchange-rate sources' freshness; a source not
	// updated for RateMaxAge (default 10 minutes) is shown stale.
	Rates      func(ctx context.Context) []RateSource
	RateMaxAge time.Duration
	// PageSize is the invoice list's page size (default 50).
	PageSize int
	Clock    func() time.Time
	Log      *slog.Logger
}

// DefaultExplorer is mempool.space for mainnet, testnet, testnet4 and
// signet, and no explorer for regtest.
func DefaultExplorer(network string) string {
	switch network {
	case "mainnet":
		return "https://mempool.space"
	case "testnet", "testnet4", "signet":
		return "https://mempool.space/" + network
	}
	return ""
}

// Handler serves the pages.
type Handler struct {
	cfg  Config
	tmpl *template.Template
}

// New parses the templates.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("dashboard invoices: no store")
	}
	if cfg.Layout == nil {
		return nil, errors.New("dashboard invoices: no layout")
	}
	if cfg.LayoutStatus == nil {
		layout := cfg.Layout
		cfg.LayoutStatus = func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
			layout(&statusWriter{ResponseWriter: w, status: status}, r, title, body)
		}
	}
	if cfg.ExplorerURL == nil {
		cfg.ExplorerURL = DefaultExplorer
	}
	if cfg.RateMaxAge <= 0 {
		cfg.RateMaxAge = 10 * time.Minute
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.BasePath = strings.TrimRight(cfg.BasePath, "/")
	h := &Handler{cfg: cfg}
	var err error
	h.tmpl, err = template.New("").Funcs(template.FuncMap{
		"btc":         func(s money.Sats) string { return s.BTC() },
		"time":        formatTime,
		"minute":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
		"day":         func(t time.Time) string { return t.Format(time.DateOnly) },
		"badge":       badgeClass,
		"refundBadge": refundBadge,
		"fiat":        formatFiat,
		"eventName": func(c invoice.Code) string {
			if n := c.Name(); n != "" {
				return n
			}
			return fmt.Sprintf("event %d", int(c))
		},
	}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard invoices: parse templates: %w", err)
	}
	return h, nil
}

// Route is a page and the pattern it belongs at.
type Route struct {
	// Pattern is a net/http ServeMux pattern under /dashboard/stores/{id}
	// ({id} is the store, {invoice} an invoice id).
	Pattern string
	// Manage marks the routes only managers and owners may use; the others
	// are for every member of the store.
	Manage bool
	Page   func(w http.ResponseWriter, r *http.Request, v Viewer)
}

// Routes lists the pages for the dashboard to mount behind its login.
func (h *Handler) Routes() []Route {
	return []Route{
		{Pattern: "GET /dashboard/stores/{id}", Page: h.Overview},
		{Pattern: "GET /dashboard/stores/{id}/invoices", Page: h.List},
		{Pattern: "GET /dashboard/stores/{id}/invoices.csv", Manage: true, Page: h.Export},
		{Pattern: "GET /dashboard/stores/{id}/invoices/{invoice}", Page: h.Detail},
		{Pattern: "POST /dashboard/stores/{id}/invoices/{invoice}/resend", Manage: true, Page: h.ResendIPN},
		{Pattern: "POST /dashboard/stores/{id}/invoices/{invoice}/invalid", Manage: true, Page: h.MarkInvalid},
	}
}

// root returns the URL path of a store's dashboard pages.
func (h *Handler) root(storeID string) string {
	return h.cfg.BasePath + "/dashboard/stores/" + url.PathEscape(storeID)
}

// render executes template name with data and sends it in the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.serverError(w, r, "render "+name, err)
		return
	}
	// The templates escape everything they print.
	body := template.HTML(buf.String())
	if status == http.StatusOK {
		h.cfg.Layout(w, r, title, body)
		return
	}
	h.cfg.LayoutStatus(w, r, status, title, body)
}

// message sends a short page with a status.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, text string) {
	h.render(w, r, status, http.StatusText(status), "message", struct{ Title, Text string }{http.StatusText(status), text})
}

// serverError logs an internal failure once and answers 500 without
// details.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.cfg.Log.Error("dashboard invoices: "+what, "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// maxFormBytes bounds an action's form: it holds the CSRF token only.
const maxFormBytes = 4 << 10

// checkAction guards a POST: a manager, the session's CSRF token (the
// dashboard checks it too; this keeps the handler safe wherever it is
// mounted). It answers the request and returns false when refused.
func (h *Handler) checkAction(w http.ResponseWriter, r *http.Request, v Viewer) bool {
	if !v.CanManage() {
		h.cfg.Log.Warn("dashboard invoices: action refused, not a manager", "path", r.URL.Path)
		h.message(w, r, http.StatusForbidden, "Only managers and owners may do this.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	token, want := r.PostFormValue("csrf"), v.CSRFToken()
	if want == "" || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		h.cfg.Log.Warn("dashboard invoices: action refused, bad CSRF token", "path", r.URL.Path)
		h.message(w, r, http.StatusForbidden, "This form has expired; reload the page and try again.")
		return false
	}
	return true
}

// statusWriter replaces the status a layout writes.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(int) {
	if !s.wrote {
		s.wrote = true
		s.ResponseWriter.WriteHeader(s.status)
	}
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.WriteHeader(0)
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// badgeClass is the dashboard's badge class for a status.
func badgeClass(s invoice.Status) string {
	switch s {
	case invoice.StatusConfirmed, invoice.StatusComplete:
		return "badge ok"
	case invoice.StatusNew, invoice.StatusPaid:
		return "badge wait"
	case invoice.StatusInvalid, invoice.StatusDeclined:
		return "badge off"
	}
	return "badge"
}

// refundBadge is the dashboard's badge class for a refund's status.
func refundBadge(s refund.Status) string {
	switch s {
	case refund.StatusSuccess:
		return "badge ok"
	case refund.StatusCreated, refund.StatusPending:
		return "badge wait"
	case refund.StatusFailure, refund.StatusCancelled:
		return "badge off"
	}
	return "badge"
}

// formatFiat renders an amount at its currency's precision.
func formatFiat(d decimal.Decimal, currency string) string {
	if c, ok := money.LookupCurrency(currency); ok {
		return d.StringFixed(c.Precision) + " " + c.Code
	}
	return d.String() + " " + currency
}
