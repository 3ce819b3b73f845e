package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/dashboard/invoices"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// Refunds is the refund service (*gateway.Refunds): the refund pages'
// actions go through its rules, as the API's do.
type Refunds interface {
	// Create prices a refund of one of a store's invoices and records it
	// (refund_created, none for a preview); a refund the invoice cannot
	// make fails with a *gateway.InputError, refund.ErrInvoiceState or
	// gateway.ErrNoRate and records nothing.
	Create(ctx context.Context, storeID string, req gateway.NewRefund) (*refund.Refund, error)
	// Confirm turns a store's preview into a refund, checked again.
	Confirm(ctx context.Context, storeID, id string) (*refund.Refund, error)
	// Cancel cancels a store's refund not paid yet, or fails with
	// refund.ErrNotCancellable.
	Cancel(ctx context.Context, storeID, id string) (*refund.Refund, error)
}

// RefundLookup reads a store's refunds, the spends that pay them, their
// events and webhook attempts; *store.DB implements it.
type RefundLookup interface {
	// StoreRefunds returns a store's latest refunds, newest first, at
	// most limit, in status when it is not "".
	StoreRefunds(ctx context.Context, storeID string, status refund.Status, limit int) ([]refund.Refund, error)
	// InvoiceRefunds returns an invoice's refunds, oldest first.
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.Refund, error)
	// SpendsOf returns the spends a store made for some subjects of one
	// kind, in every status, oldest first.
	SpendsOf(ctx context.Context, storeID string, kind spend.Kind, subjectIDs ...string) ([]spend.Spend, error)
	// Outbox returns a subject's events in the order they happened.
	Outbox(ctx context.Context, subjectID string) ([]store.OutboxEvent, error)
	// DeliveryAttempts returns every attempt to deliver a subject's
	// events.
	DeliveryAttempts(ctx context.Context, subjectID string) ([]store.DeliveryAttempt, error)
}

// refundListLimit bounds the refunds list: the newest ones.
const refundListLimit = 200

// refundStatuses are the list's filter choices.
var refundStatuses = []refund.Status{refund.StatusPreview, refund.StatusCreated, refund.StatusPending,
	refund.StatusSuccess, refund.StatusFailure, refund.StatusCancelled}

// refundView is a refund as the refund pages show it.
type refundView struct {
	ID, URL    string
	Status     refund.Status
	Amount     string // in its currency, at the currency's precision
	Sats       money.Sats
	BuyerFee   bool
	Address    string
	Email      string
	InvoiceID  string
	InvoiceURL string
	// SpendURL links the spend that pays it: the one that made its
	// transaction, else its latest; "" before it has one.
	SpendURL, SpendID string
	SpendStatus       spend.Status
	TxID              string
	Fee               money.Sats
	Rate              string
	Immediate         bool
	Cancellable       bool
	Auto              bool
	Requested         time.Time
	Updated           time.Time
	FailReason        string
}

func (s *Server) refundView(v Viewer, r refund.Refund, sp *spend.Spend) refundView {
	out := refundView{ID: r.ID, URL: s.base + storePath(v.StoreID, "/refunds/"+url.PathEscape(r.ID)), Status: r.Status,
		Amount: amountText(r.Amount, r.Currency), Sats: r.Sats, BuyerFee: r.BuyerPaysFee, Address: r.Address,
		Email: r.Email, InvoiceID: r.InvoiceID, InvoiceURL: s.base + storePath(v.StoreID, "/invoices/"+url.PathEscape(r.InvoiceID)),
		TxID: r.TxID, Fee: r.Fee, Immediate: r.Immediate, Cancellable: r.Cancellable,
		Auto:      strings.HasPrefix(r.GUID, refund.AutoPrefix),
		Requested: r.RequestedAt, Updated: r.UpdatedAt, FailReason: r.FailReason}
	if r.Currency != "BTC" {
		out.Rate = amountText(r.Rate, r.Currency) + " per BTC"
	}
	if sp != nil {
		out.SpendID, out.SpendStatus = sp.ID, sp.Status
		out.SpendURL = s.base + storePath(v.StoreID, "/spends/"+url.PathEscape(sp.ID))
	}
	return out
}

// amountText renders an amount at its currency's precision.
func amountText(d decimal.Decimal, currency string) string {
	if c, ok := money.LookupCurrency(currency); ok {
		return d.StringFixed(c.Precision) + " " + c.Code
	}
	return d.String() + " " + currency
}

// payingSpends returns, per refund, the spend that pays it: the one that
// made its transaction, else its latest.
func (s *Server) payingSpends(ctx context.Context, storeID string, refunds []refund.Refund) (map[string]*spend.Spend, error) {
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		ids[i] = r.ID
	}
	spends, err := s.cfg.RefundLookup.SpendsOf(ctx, storeID, spend.KindRefund, ids...)
	if err != nil {
		return nil, err
	}
	txids := make(map[string]string, len(refunds))
	for _, r := range refunds {
		txids[r.ID] = r.TxID
	}
	out := map[string]*spend.Spend{}
	for i := range spends { // oldest first: the latest wins, unless one made the refund's transaction
		sp := &spends[i]
		if cur, ok := out[sp.SubjectID]; ok && txids[sp.SubjectID] != "" && cur.Mine(txids[sp.SubjectID]) {
			continue
		}
		out[sp.SubjectID] = sp
	}
	return out, nil
}

// refundsData is the refunds list.
type refundsData struct {
	Status   string
	Statuses []refund.Status
	Rows     []refundView
	Limited  bool
}

// refundsPage lists a store's latest refunds: GET …/refunds?status=.
func (s *Server) refundsPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	d := refundsData{Statuses: refundStatuses}
	status, errMsg := refund.Status(""), ""
	if q := r.URL.Query().Get("status"); q != "" {
		if st, ok := refund.ParseStatus(q); ok {
			status, d.Status = st, string(st)
		} else {
			errMsg = "Unknown status: showing every refund."
		}
	}
	refunds, err := s.cfg.RefundLookup.StoreRefunds(ctx, v.StoreID, status, refundListLimit)
	if err != nil {
		s.serverError(w, r, "list refunds", err)
		return
	}
	spends, err := s.payingSpends(ctx, v.StoreID, refunds)
	if err != nil {
		s.serverError(w, r, "list the refunds' spends", err)
		return
	}
	for _, rf := range refunds {
		d.Rows = append(d.Rows, s.refundView(v, rf, spends[rf.ID]))
	}
	d.Limited = len(refunds) == refundListLimit
	code := http.StatusOK
	if errMsg != "" {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "Refunds", "refunds", view{D: d, Error: errMsg})
}

// refundData is a refund's page.
type refundData struct {
	R refundView
	// CanAct: the viewer may confirm and cancel (an owner or manager).
	CanAct                bool
	CanConfirm, CanCancel bool
	Events                []refundEvent
	Attempts              []refundAttempt
	LoadErr               bool
	Cancel, Confirm       string
}

type refundEvent struct {
	At     time.Time
	Name   string
	Status string
}

type refundAttempt struct {
	At         time.Time
	Event      string
	Channel    string
	Target     string
	N          int
	StatusCode int
	Latency    string
	Error      string
}

var refundFlashes = map[string]string{
	"created":   "Refund created.",
	"preview":   "This is a preview: nothing is paid until you confirm it.",
	"confirmed": "Refund confirmed.",
	"cancelled": "Refund cancelled.",
}

// refundOf loads the refund {refund} of the viewer's store; it answers
// 404 (and returns false) for a missing one or one of another store.
func (s *Server) refundOf(w http.ResponseWriter, r *http.Request, v Viewer) (refund.Refund, bool) {
	id := r.PathValue("refund")
	rf, err := s.cfg.SpendLookup.GetRefund(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && rf.StoreID != v.StoreID {
		if err == nil {
			s.cfg.Log.Warn("dashboard: refund of another store asked for", "store", v.StoreID, "refund", id)
		}
		s.message(w, r, http.StatusNotFound, "Not found", "This store has no such refund.")
		return refund.Refund{}, false
	}
	if err != nil {
		s.serverError(w, r, "load refund", err)
		return refund.Refund{}, false
	}
	return rf, true
}

// refundPage shows a refund: GET …/refunds/{refund}.
func (s *Server) refundPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	rf, ok := s.refundOf(w, r, v)
	if !ok {
		return
	}
	s.renderRefund(w, r, v, http.StatusOK, rf, refundFlashes[r.URL.Query().Get("done")], "")
}

func (s *Server) renderRefund(w http.ResponseWriter, r *http.Request, v Viewer, status int, rf refund.Refund, flash, errMsg string) {
	ctx := r.Context()
	spends, err := s.payingSpends(ctx, v.StoreID, []refund.Refund{rf})
	if err != nil {
		s.serverError(w, r, "load the refund's spend", err)
		return
	}
	d := refundData{R: s.refundView(v, rf, spends[rf.ID]), CanAct: v.Can(roleSigner)}
	d.Cancel, d.Confirm = d.R.URL+"/cancel", d.R.URL+"/confirm"
	d.CanConfirm = d.CanAct && rf.Status == refund.StatusPreview
	d.CanCancel = d.CanAct && rf.Cancellable && (rf.Status == refund.StatusPreview || rf.Status == refund.StatusCreated)
	events, err := s.cfg.RefundLookup.Outbox(ctx, rf.ID)
	if err != nil {
		s.cfg.Log.Error("dashboard: load a refund's events", "refund", rf.ID, "err", err)
		d.LoadErr = true
	}
	for _, e := range events {
		d.Events = append(d.Events, refundEvent{At: e.CreatedAt, Name: e.Name, Status: e.Status})
	}
	attempts, err := s.cfg.RefundLookup.DeliveryAttempts(ctx, rf.ID)
	if err != nil {
		s.cfg.Log.Error("dashboard: load a refund's webhook attempts", "refund", rf.ID, "err", err)
		d.LoadErr = true
	}
	for _, a := range attempts {
		target := a.Target
		if a.Channel != "email" {
			target = invoices.RedactURL(target)
		}
		d.Attempts = append(d.Attempts, refundAttempt{At: a.At, Event: refund.Code(a.Code).Name(), Channel: a.Channel,
			Target: target, N: a.N, StatusCode: a.StatusCode, Latency: strconv.FormatInt(a.Latency.Milliseconds(), 10) + " ms",
			Error: a.Error})
	}
	s.render(w, r, status, "Refund "+rf.ID, "refund", view{D: d, Flash: flash, Error: errMsg})
}

// refundCancel cancels a refund not paid yet: POST …/refunds/{refund}/cancel.
func (s *Server) refundCancel(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.refundAct(w, r, v, "cancel", s.cfg.Refunds.Cancel, "cancelled")
}

// refundConfirm turns a preview into a refund: POST …/refunds/{refund}/confirm.
func (s *Server) refundConfirm(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.refundAct(w, r, v, "confirm", s.cfg.Refunds.Confirm, "confirmed")
}

// refundAct runs an action of the refund service on the refund and sends
// the browser back to its page; a refusal shows in plain words and
// changes nothing.
func (s *Server) refundAct(w http.ResponseWriter, r *http.Request, v Viewer, name string,
	act func(ctx context.Context, storeID, id string) (*refund.Refund, error), done string) {
	rf, ok := s.refundOf(w, r, v)
	if !ok {
		return
	}
	next, err := act(r.Context(), v.StoreID, rf.ID)
	if err != nil {
		problem := refundProblem(err)
		if problem == "" {
			s.serverError(w, r, name+" refund", err)
			return
		}
		s.cfg.Log.Info("dashboard: refund action refused", "action", name, "user", v.User.ID, "refund", rf.ID, "err", err)
		if cur, err := s.cfg.SpendLookup.GetRefund(r.Context(), rf.ID); err == nil {
			rf = cur
		}
		s.renderRefund(w, r, v, http.StatusConflict, rf, "", problem)
		return
	}
	s.cfg.Log.Info("dashboard: refund "+done, "user", v.User.ID, "store", v.StoreID, "refund", rf.ID)
	if name == "confirm" {
		s.prepare(r.Context(), *next)
	}
	s.redirect(w, r, storePath(v.StoreID, "/refunds/"+url.PathEscape(rf.ID))+"?done="+done)
}

// prepare makes the spend of a refund ready to pay at once, so that its
// page links it; the spend engine's next round does it anyway, so a
// failure is only logged.
func (s *Server) prepare(ctx context.Context, rf refund.Refund) {
	if s.cfg.Spends == nil || rf.Status != refund.StatusCreated || rf.Address == "" {
		return
	}
	if _, err := s.cfg.Spends.PrepareRefund(ctx, rf.ID); err != nil {
		s.cfg.Log.Info("dashboard: the refund's spend is left to the spend engine", "refund", rf.ID, "err", err)
	}
}

// refundBadge is the badge class for a refund's status.
func refundBadge(st refund.Status) string {
	switch st {
	case refund.StatusSuccess:
		return "badge ok"
	case refund.StatusPreview, refund.StatusCreated, refund.StatusPending:
		return "badge wait"
	case refund.StatusFailure, refund.StatusCancelled:
		return "badge off"
	}
	return "badge"
}

// refundProblem says in plain words why the refund service refused a
// request, or "" for an error that is kassa's, not the request's.
func refundProblem(err error) string {
	var in *gateway.InputError
	switch {
	case errors.As(err, &in):
		return inputProblem(in)
	case errors.Is(err, refund.ErrInvoiceState):
		return "This invoice cannot be refunded now: it is still open (new, or paid and not yet confirmed, so its payment " +
			"could still be double-spent) or it was never paid."
	case errors.Is(err, gateway.ErrNoRate):
		return "kassa has no current exchange rate for this currency: refund in BTC, or try again in a minute."
	case errors.Is(err, refund.ErrNotCancellable):
		return "This refund can no longer be cancelled: its transaction is out, or it refunded a confirmed invoice in full."
	case errors.Is(err, refund.ErrIllegalTransition):
		return "This refund is not in a status that allows this."
	case errors.Is(err, gateway.ErrGUIDReused):
		return "This form was already used for another refund: open the invoice again and fill in a new one."
	}
	return ""
}

// inputProblem words an input error of the refund service for the form.
func inputProblem(in *gateway.InputError) string {
	switch in.Field {
	case "amount":
		return "Amount: " + in.Msg + "."
	case "currency":
		return "Currency: " + in.Msg + "."
	case "bitcoinAddress", "refundAddress":
		return "Refund address: " + in.Msg + "."
	}
	return in.Msg + "."
}
