package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitauth"
	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// Store is the storage the API reads and writes; *store.DB implements it.
type Store interface {
	GetToken(ctx context.Context, value string) (auth.Token, error)
	GetTokenByPairingCode(ctx context.Context, code string) (auth.Token, error)
	CreateToken(ctx context.Context, t auth.Token) error
	// ParkToken stores a client-requested token that names no store yet,
	// until a merchant approves it for one of theirs.
	ParkToken(ctx context.Context, t auth.Token) error
	UpdateToken(ctx context.Context, t auth.Token) error
	// TouchToken records a token's last use (shown on the dashboard).
	TouchToken(ctx context.Context, value string, at time.Time) error
	TokensBySIN(ctx context.Context, sin string) ([]auth.Token, error)
	ListStores(ctx context.Context) ([]merchant.Store, error)
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	GetInvoiceByGUID(ctx context.Context, storeID, guid string) (invoice.Invoice, error)
	FindInvoices(ctx context.Context, storeID string, f store.InvoiceFilter) ([]invoice.Invoice, error)
	// StoreForAPIKey returns the store of a working legacy API key, or
	// fails with store.ErrNotFound.
	StoreForAPIKey(ctx context.Context, key string) (string, error)
	// GetRefund loads a refund or fails with store.ErrNotFound.
	GetRefund(ctx context.Context, id string) (refund.Refund, error)
	// InvoiceRefunds returns an invoice's refunds, oldest first, for the
	// invoice's refund fields.
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.Refund, error)
}

// Refunds is the refund service the API drives; *gateway.Refunds
// implements it. Every method but Resend is scoped to a store: another
// store's refund or invoice is not found.
type Refunds interface {
	Create(ctx context.Context, storeID string, req gateway.NewRefund) (*refund.Refund, error)
	Get(ctx context.Context, storeID, id string) (*refund.Refund, error)
	GetByGUID(ctx context.Context, storeID, guid string) (*refund.Refund, error)
	List(ctx context.Context, storeID, invoiceID string) ([]refund.Refund, error)
	// Confirm turns a preview into a refund.
	Confirm(ctx context.Context, storeID, id string) (*refund.Refund, error)
	Cancel(ctx context.Context, storeID, id string) (*refund.Refund, error)
	// Resend queues the refund's latest event again.
	Resend(ctx context.Context, id string) (*refund.Refund, error)
}

// Invoices is the payment path the API drives; *gateway.Gateway implements it.
type Invoices interface {
	CreateInvoice(ctx context.Context, storeID string, req gateway.NewInvoice) (*invoice.Invoice, error)
	// Act applies a merchant action (cancel, resend) through the state
	// machine and the outbox.
	Act(ctx context.Context, id string, ev invoice.Event) (*invoice.Invoice, error)
	// Preview shows what Act would do without committing.
	Preview(ctx context.Context, id string, ev invoice.Event) (*invoice.Invoice, error)
	// UpdateFields changes an invoice's echoed fields.
	UpdateFields(ctx context.Context, id string, update func(*invoice.Fields) error) (*invoice.Invoice, error)
}

// Rates serves exchange rates from memory; *rates.Rates implements it.
type Rates interface {
	All() map[string]decimal.Decimal
}

// Config wires the API.
type Config struct {
	Store    Store
	Invoices Invoices
	// Refunds serves the refund endpoints (refunds.go); nil answers them
	// that refunds are not enabled.
	Refunds Refunds
	Rates   Rates
	// PublicURL is the base URL clients reach kassa at; invoice URLs and
	// BitAuth's signed URLs are built on it.
	PublicURL string
	// ExtraOrigins are further origins signatures may be made for, such as
	// https://bitpay.com for clients that cannot change their host.
	ExtraOrigins []string
	// Tip returns the processed chain height, for confirmations.
	Tip   func() int32
	Clock func() time.Time
	Log   *slog.Logger
	// InvoiceLimits returns a store's invoice-creation limits; nil means
	// merchant.DefaultLimits for every store.
	InvoiceLimits func(storeID string) merchant.Limits
	// Budgets, when set, holds the stores' invoice budgets for every
	// node (PostgreSQL); nil keeps them in this process's memory.
	Budgets Budgets
	// Hub follows the outbox for the invoice event stream, GET /events
	// (events.go); without one the stream answers an error.
	Hub EventHub
	// Events tunes the invoice event stream.
	Events EventConfig
	// IPNAllowPrivate accepts notificationURLs on loopback, private and
	// link-local addresses and over plain http (KASSA_IPN_ALLOW_PRIVATE),
	// for development; by default invoice creation refuses them.
	IPNAllowPrivate bool
	// Applications records seed 002's merchant applications, POST
	// /applications (applications.go); nil closes it, as kassa serve
	// does unless merchant sign-up is open (KASSA_SIGNUP).
	Applications Applications
}

// Server is the BitPay-compatible HTTP API.
type Server struct {
	cfg      Config
	verifier *bitauth.Verifier
	handler  http.Handler
	limits   *invoiceLimiter
	guesses  *guessLimiter
	sessions *sessionStore
	bus      *eventBus
	// touching holds the tokens whose last use is being written.
	touching sync.Map
}

// New returns the API server.
func New(cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Tip == nil {
		cfg.Tip = func() int32 { return 0 }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	v, err := bitauth.NewVerifier(append([]string{cfg.PublicURL}, cfg.ExtraOrigins...))
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, verifier: v, limits: newInvoiceLimiter(cfg.InvoiceLimits, cfg.Budgets), guesses: newGuessLimiter(),
		sessions: newSessionStore(maxSessions)}
	s.bus = newEventBus(s)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.Handle("/", notServed(mux))
	s.handler = Transport(TransportConfig{Log: cfg.Log}, mux)
	return s, nil
}

// route is one of the API's endpoints: a ServeMux pattern and its handler.
type route struct {
	pattern string
	handler http.Handler
}

// routes is every endpoint the API serves, BitPay v2, the 2014 API and
// v0.3 alike: a route added here is served, slash-insensitive, with no
// other list to update.
func (s *Server) routes() []route {
	f := func(pattern string, h http.HandlerFunc) route { return route{pattern, h} }
	return []route{
		f("POST /tokens", s.createToken),
		f("GET /tokens", s.listTokens),
		f("POST /sessions", s.createSession),
		f("POST /applications", s.createApplication),
		f("POST /invoices", s.createInvoice),
		f("GET /invoices/{id}", s.getInvoice),
		// GET /invoices/guid/:guid and GET /invoices/:id/events share a
		// shape, which ServeMux cannot tell apart: one handler dispatches.
		f("GET /invoices/{a}/{b}", s.getInvoiceSub),
		f("GET /invoices", s.listInvoices),
		f("DELETE /invoices/{id}", s.cancelInvoice),
		f("DELETE /invoices/guid/{guid}", s.cancelInvoice),
		f("POST /invoices/{id}/notifications", s.resendNotification),
		f("POST /invoices/{id}/{action}", s.invoiceAction),
		f("PUT /invoices/{id}", s.updateInvoice),
		// The PHP client's refunds of an invoice (refunds.go); its
		// creation and list share the routes above.
		f("GET /invoices/{id}/refunds/{rid}", s.invoiceRefund),
		f("DELETE /invoices/{id}/refunds/{rid}", s.invoiceRefund),
		// BitPay v2 refunds (refunds.go).
		f("POST /refunds", s.createRefund),
		f("GET /refunds", s.listRefundsV2),
		f("GET /refunds/{id}", s.getRefund),
		f("GET /refunds/guid/{guid}", s.getRefund),
		f("PUT /refunds/{id}", s.updateRefund),
		f("PUT /refunds/guid/{guid}", s.updateRefund),
		f("DELETE /refunds/{id}", s.cancelRefund),
		f("DELETE /refunds/guid/{guid}", s.cancelRefund),
		f("POST /refunds/{id}/notifications", s.resendRefundNotification),
		f("GET /api-access-request", s.accessRequest),
		f("POST /invoiceData/{action}", s.invoiceData),
		f("GET /supportedWallets", s.supportedWallets),
		f("GET /supportedwallets", s.supportedWallets),
		f("GET /rates", s.rates),
		f("GET /rates/{base}", s.rates),
		f("GET /rates/{base}/{currency}", s.rate),
		f("GET /currencies", s.currencies),
		f("GET /api/rates", s.legacyRates),
		f("GET /api/rates/{code}", s.legacyRates),
		f("GET /api/rates/{base}/{code}", s.legacyRates),
		// BitPay's 2012 API (v0.3, legacy.go).
		f("POST /api/invoice", s.legacyCreateInvoice),
		f("GET /api/invoice/{id}", s.legacyGetInvoice),
		{"GET /events", s.bus},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Register mounts the API on mux as the handler of every path no other
// handler serves ("/"): the API's own routes, and BitPay's error envelope
// for everything else. Serve mux through SlashInsensitive so that a
// trailing slash on any other handler's path is forgiven the same way.
func (s *Server) Register(mux *http.ServeMux) { mux.Handle("/", s) }

// SlashInsensitive serves mux with a trailing slash forgiven on every
// path (spec §0.4): a path with one that only the catch-all "/" matches is
// served as the path without it. The raw request-target, which BitAuth
// verifies, is left as sent.
func SlashInsensitive(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && p[len(p)-1] == '/' {
			if _, pattern := mux.Handler(r); pattern == "/" || pattern == "" {
				r = withoutSlash(r)
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// notServed answers, as mux's catch-all "/", every request none of mux's
// routes matches, in BitPay's error envelope (v0.3's shape under /api/):
// a 405 naming the allowed methods when the path is served with another,
// a 404 naming what kassa does not serve otherwise. ServeMux's own
// answers to both are plain text, which BitPay clients fail to parse.
func notServed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		e := &bitpay.Error{Status: http.StatusNotFound, Code: bitpay.CodeNotFound,
			Msg: "kassa does not serve " + r.Method + " " + r.URL.Path}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			e = &bitpay.Error{Status: http.StatusMethodNotAllowed, Code: bitpay.CodeGeneric,
				Msg: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allowed, ", ")}
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeLegacyError(w, r, e)
			return
		}
		WriteError(w, r, e)
	})
}

// caller is who a request comes from, once authenticated.
type caller struct {
	token auth.Token
	// sin is the verified client id, "" for an unsigned request.
	sin string
}

var errNoToken = errors.New("no token")

// authenticate resolves the request's token (from the query or the body)
// and checks its signature: a token bound to a client id needs a valid
// signature from that id; a bearer token works unsigned.
func (s *Server) authenticate(r *http.Request, token string, body []byte) (caller, error) {
	if token == "" {
		return caller{}, errNoToken
	}
	t, err := s.cfg.Store.GetToken(r.Context(), token)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// A database that cannot answer is a 5xx the client retries,
		// never "Invalid token": plugins drop their pairing on that.
		return caller{}, fmt.Errorf("authenticate: %w", err)
	}
	if err != nil || !t.Usable() || !t.Matches(token) {
		return caller{}, bitpay.Unauthorized("Invalid token")
	}
	c := caller{token: t}
	identity, signature := bitauth.FromRequest(r)
	if identity != "" || signature != "" || t.SIN != "" {
		sin, err := s.verifier.Verify(identity, signature, r.RequestURI, body)
		if err != nil {
			return caller{}, bitpay.Unauthorized("Invalid signature")
		}
		if t.SIN != "" && sin != t.SIN {
			return caller{}, bitpay.Unauthorized("Invalid token")
		}
		c.sin = sin
	}
	s.touch(t)
	return c, nil
}

// touchEvery is how stale a token's recorded last use may get: a token
// in steady use costs one write a minute, not one a request.
const touchEvery = time.Minute

// touch records t's use when the recorded one is older than touchEvery,
// off the request's path and at most one write per token at a time.
func (s *Server) touch(t auth.Token) {
	now := s.cfg.Clock()
	if now.Sub(t.LastUsedAt) < touchEvery {
		return
	}
	if _, busy := s.touching.LoadOrStore(t.Value, struct{}{}); busy {
		return
	}
	go func() {
		defer s.touching.Delete(t.Value)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Store.TouchToken(ctx, t.Value, now); err != nil {
			s.cfg.Log.Debug("token use not recorded", "store", t.StoreID, "err", err)
		}
	}()
}

// requireFacade checks the caller's token grants one of the facades.
func requireFacade(c caller, facades ...auth.Facade) error {
	for _, f := range facades {
		if c.token.Facade == f {
			return nil
		}
	}
	return bitpay.Forbidden("This endpoint does not support the `" + string(c.token.Facade) + "` facade")
}
