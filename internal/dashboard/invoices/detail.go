package invoices

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

type detailPage struct {
	Root, Self, CSRF string
	Inv              *invoice.Invoice
	Paid, Remaining  money.Sats
	AddressURL       string
	NotifyTarget     string
	Buyer            []string // the buyer's contact, line by line
	Payments         []paymentRow
	HasTip           bool
	Events           []eventRow
	// Attempts are shown when the Deliveries hook is set.
	ShowAttempts bool
	Attempts     []attemptRow
	AttemptsErr  bool
	// ShowRefunds is set when the Refunds hook is; RefundsErr when they
	// could not be loaded.
	ShowRefunds bool
	Refunds     []refundRow
	RefundsErr  bool
	// CreateRefund is the link to the form that creates a refund of this
	// invoice (Config.RefundForm), for managers and owners of an invoice
	// that can be refunded; "" otherwise.
	CreateRefund string
	CanResend    bool
	CanInvalid   bool
	Flash, Error string
}

type paymentRow struct {
	TxID    string
	Vout    uint32
	URL     string
	Amount  money.Sats
	Height  int32
	Confs   int32
	SeenAt  time.Time
	Late    bool
	Removed bool
}

// refundRow is one of the invoice's refunds; SpendURL links the spend
// that pays it ("" before it has one).
type refundRow struct {
	ID         string
	Status     refund.Status
	Amount     decimal.Decimal
	Currency   string
	Sats       money.Sats
	BuyerFee   bool
	Address    string
	TxID       string
	SpendURL   string
	Requested  time.Time
	FailReason string
}

type eventRow struct {
	At        time.Time
	Code      invoice.Code
	Status    invoice.Status
	Exception invoice.Exception
}

type attemptRow struct {
	At         time.Time
	Event      invoice.Code
	Channel    string
	Target     string
	N          int
	StatusCode int
	Latency    string
	Error      string
}

// The outcomes of the actions, shown on the invoice page after them.
var (
	flashes = map[string]string{
		"resent":  "The last notification was queued again (event 1012, invoice_manuallyNotified).",
		"invalid": "The invoice was marked invalid.",
	}
	failures = map[string]string{
		"resend":        "The notification could not be queued again; try later.",
		"invalid":       "The invoice could not be marked invalid; try later.",
		"invalid-state": "An invoice in this status cannot be marked invalid.",
	}
)

// invoiceOf loads the invoice {invoice} of the viewer's store, answering
// 404 (and returning nil) for a missing one or one of another store.
func (h *Handler) invoiceOf(w http.ResponseWriter, r *http.Request, v Viewer) *invoice.Invoice {
	id := r.PathValue("invoice")
	inv, err := h.cfg.Store.GetInvoice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && inv.StoreID != v.StoreID() {
		if err == nil {
			h.cfg.Log.Warn("dashboard invoices: invoice of another store asked for", "store", v.StoreID(), "invoice", id)
		}
		h.message(w, r, http.StatusNotFound, "This store has no such invoice.")
		return nil
	}
	if err != nil {
		h.serverError(w, r, "load invoice", err)
		return nil
	}
	return &inv
}

// Detail serves an invoice's page: GET …/invoices/{invoice}.
func (h *Handler) Detail(w http.ResponseWriter, r *http.Request, v Viewer) {
	inv := h.invoiceOf(w, r, v)
	if inv == nil {
		return
	}
	ctx := r.Context()
	st, err := h.cfg.Store.GetStore(ctx, v.StoreID())
	if err != nil {
		h.serverError(w, r, "load store", err)
		return
	}
	events, err := h.cfg.Store.Outbox(ctx, inv.ID)
	if err != nil {
		h.serverError(w, r, "load events", err)
		return
	}
	explorer := strings.TrimRight(h.cfg.ExplorerURL(st.Network), "/")
	root := h.root(v.StoreID())
	p := detailPage{Root: root, Self: root + "/invoices/" + url.PathEscape(inv.ID), CSRF: v.CSRFToken(), Inv: inv,
		Paid: inv.Paid(), Remaining: inv.Remaining(), NotifyTarget: RedactURL(inv.Fields.NotificationURL),
		ShowAttempts: h.cfg.Deliveries != nil, Flash: flashes[r.URL.Query().Get("done")],
		Error: failures[r.URL.Query().Get("failed")]}
	b := inv.Fields.Buyer
	for _, line := range []string{b.Name, b.Email, b.Phone, b.Address1, b.Address2,
		strings.TrimSpace(b.PostalCode + " " + b.Locality), strings.TrimSpace(b.Region + " " + b.Country)} {
		if line != "" {
			p.Buyer = append(p.Buyer, line)
		}
	}
	if m := inv.Method(invoice.MethodBTC); m != nil && explorer != "" && plainText(m.Destination) {
		p.AddressURL = explorer + "/address/" + m.Destination
	}
	var tip int32
	if h.cfg.Chain != nil {
		if cs, err := h.cfg.Chain(ctx); err == nil && cs.Height > 0 {
			tip, p.HasTip = cs.Height, true
		}
	}
	for _, pay := range inv.Payments {
		row := paymentRow{TxID: pay.TxID, Vout: pay.Vout, Amount: pay.Amount, Height: pay.Height,
			Confs: pay.Confirmations(tip), SeenAt: pay.SeenAt, Late: pay.Late, Removed: pay.Removed}
		if explorer != "" && isTxID(pay.TxID) {
			row.URL = explorer + "/tx/" + pay.TxID
		}
		p.Payments = append(p.Payments, row)
	}
	for _, e := range events {
		p.Events = append(p.Events, eventRow{At: e.CreatedAt, Code: invoice.Code(e.Code), Status: invoice.Status(e.Status),
			Exception: invoice.Exception(e.Exception)})
	}
	if h.cfg.Refunds != nil {
		p.ShowRefunds = true
		rows, err := h.refundRows(ctx, inv, root)
		if err != nil {
			h.cfg.Log.Error("dashboard invoices: load refunds", "invoice", inv.ID, "err", err)
			p.RefundsErr = true
		}
		p.Refunds = rows
	}
	if h.cfg.Deliveries != nil {
		attempts, err := h.cfg.Deliveries(ctx, inv.ID)
		if err != nil {
			h.cfg.Log.Error("dashboard invoices: load delivery attempts", "invoice", inv.ID, "err", err)
			p.AttemptsErr = true
		}
		for _, a := range attempts {
			target := a.Target
			if a.Channel != "email" {
				target = RedactURL(target)
			}
			p.Attempts = append(p.Attempts, attemptRow{At: a.At, Event: a.Event, Channel: a.Channel, Target: target,
				N: a.N, StatusCode: a.StatusCode, Latency: strconv.FormatInt(a.Latency.Milliseconds(), 10) + " ms",
				Error: a.Error})
		}
	}
	if v.CanManage() {
		if h.cfg.RefundForm && p.ShowRefunds && inv.Received() > 0 && inv.Status != invoice.StatusNew &&
			inv.Status != invoice.StatusPaid {
			p.CreateRefund = p.Self + "/refund"
		}
		p.CanResend = h.cfg.Resend != nil
		p.CanInvalid = h.cfg.MarkInvalid != nil && (inv.Status == invoice.StatusNew ||
			inv.Status == invoice.StatusPaid || inv.Status == invoice.StatusConfirmed)
	}
	h.render(w, r, http.StatusOK, "Invoice "+inv.ID, "detail", p)
}

// refundRows lists an invoice's refunds, each with the spend that pays
// it: the one that made its transaction, else its latest.
func (h *Handler) refundRows(ctx context.Context, inv *invoice.Invoice, root string) ([]refundRow, error) {
	refunds, err := h.cfg.Refunds.InvoiceRefunds(ctx, inv.ID)
	if err != nil || len(refunds) == 0 {
		return nil, err
	}
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		ids[i] = r.ID
	}
	spends, err := h.cfg.Refunds.SpendsOf(ctx, inv.StoreID, spend.KindRefund, ids...)
	if err != nil {
		return nil, err
	}
	latest, byTx := map[string]spend.Spend{}, map[string]spend.Spend{}
	for _, s := range spends { // oldest first
		latest[s.SubjectID] = s
		if s.TxID != "" {
			byTx[s.TxID] = s
		}
	}
	rows := make([]refundRow, len(refunds))
	for i, r := range refunds {
		rows[i] = refundRow{ID: r.ID, Status: r.Status, Amount: r.Amount, Currency: r.Currency, Sats: r.Sats,
			BuyerFee: r.BuyerPaysFee, Address: r.Address, TxID: r.TxID, Requested: r.RequestedAt, FailReason: r.FailReason}
		s, ok := byTx[r.TxID]
		if !ok || r.TxID == "" || s.SubjectID != r.ID {
			s, ok = latest[r.ID]
		}
		if ok {
			rows[i].SpendURL = root + "/spends/" + url.PathEscape(s.ID)
		}
	}
	return rows, nil
}

// ResendIPN serves POST …/invoices/{invoice}/resend.
func (h *Handler) ResendIPN(w http.ResponseWriter, r *http.Request, v Viewer) {
	h.act(w, r, v, h.cfg.Resend, "resend", "resent")
}

// MarkInvalid serves POST …/invoices/{invoice}/invalid.
func (h *Handler) MarkInvalid(w http.ResponseWriter, r *http.Request, v Viewer) {
	h.act(w, r, v, h.cfg.MarkInvalid, "invalid", "invalid")
}

// act runs an action on the invoice and sends the browser back to its
// page with the outcome.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, v Viewer, hook func(ctx context.Context, id string) error, name, done string) {
	if !h.checkAction(w, r, v) {
		return
	}
	inv := h.invoiceOf(w, r, v)
	if inv == nil {
		return
	}
	if hook == nil {
		h.message(w, r, http.StatusNotFound, "This action is not available.")
		return
	}
	self := h.root(v.StoreID()) + "/invoices/" + url.PathEscape(inv.ID)
	if err := hook(r.Context(), inv.ID); err != nil {
		failed := name
		if errors.Is(err, invoice.ErrIllegalTransition) {
			failed = name + "-state"
			h.cfg.Log.Info("dashboard invoices: action refused by the state machine", "action", name, "invoice", inv.ID, "err", err)
		} else {
			h.cfg.Log.Error("dashboard invoices: action failed", "action", name, "invoice", inv.ID, "err", err)
		}
		http.Redirect(w, r, self+"?failed="+failed, http.StatusSeeOther)
		return
	}
	h.cfg.Log.Info("dashboard invoices: action", "action", name, "invoice", inv.ID, "store", v.StoreID())
	http.Redirect(w, r, self+"?done="+done, http.StatusSeeOther)
}

// RedactURL shows a notification or webhook URL without its query and user info,
// where shops often put a shared secret.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.User != nil {
		out += " (query hidden)"
	}
	return out
}

// isTxID reports whether s is 64 hex digits.
func isTxID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// plainText reports whether s holds only letters and digits, as an
// address does.
func plainText(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
