package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitauth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// Store is the storage the API reads and writes; *store.DB implements it.
type Store interface {
	GetToken(ctx context.Context, value string) (auth.Token, error)
	GetTokenByPairingCode(ctx context.Context, code string) (auth.Token, error)
	CreateToken(ctx context.Context, t auth.Token) error
	UpdateToken(ctx context.Context, t auth.Token) error
	TokensBySIN(ctx context.Context, sin string) ([]auth.Token, error)
	ListStores(ctx context.Context) ([]merchant.Store, error)
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	GetInvoiceByGUID(ctx context.Context, storeID, guid string) (invoice.Invoice, error)
	FindInvoices(ctx context.Context, storeID string, f store.InvoiceFilter) ([]invoice.Invoice, error)
	// StoreForAPIKey returns the store of a working legacy API key, or
	// fails with store.ErrNotFound.
	StoreForAPIKey(ctx context.Context, key string) (string, error)
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
	Rates    Rates
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
	// DefaultLimits for every store, and a zero or Disabled Limits none.
	InvoiceLimits func(storeID string) Limits
	// Events tunes the invoice event stream, GET /events (events.go).
	Events EventConfig
	// IPNAllowPrivate accepts notificationURLs on loopback, private and
	// link-local addresses and over plain http (KASSA_IPN_ALLOW_PRIVATE),
	// for development; by default invoice creation refuses them.
	IPNAllowPrivate bool
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
	s := &Server{cfg: cfg, verifier: v, limits: newInvoiceLimiter(cfg.InvoiceLimits), guesses: newGuessLimiter(),
		sessions: newSessionStore(maxSessions)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tokens", s.createToken)
	mux.HandleFunc("GET /tokens", s.listTokens)
	mux.HandleFunc("POST /sessions", s.createSession)
	mux.HandleFunc("POST /invoices", s.createInvoice)
	mux.HandleFunc("GET /invoices/{id}", s.getInvoice)
	// GET /invoices/guid/:guid and GET /invoices/:id/events share a shape,
	// which ServeMux cannot tell apart: one handler dispatches.
	mux.HandleFunc("GET /invoices/{a}/{b}", s.getInvoiceSub)
	mux.HandleFunc("GET /invoices", s.listInvoices)
	mux.HandleFunc("DELETE /invoices/{id}", s.cancelInvoice)
	mux.HandleFunc("DELETE /invoices/guid/{guid}", s.cancelInvoice)
	mux.HandleFunc("POST /invoices/{id}/notifications", s.resendNotification)
	mux.HandleFunc("POST /invoices/{id}/{action}", s.invoiceAction)
	mux.HandleFunc("PUT /invoices/{id}", s.updateInvoice)
	mux.HandleFunc("GET /api-access-request", s.accessRequest)
	mux.HandleFunc("POST /invoiceData/{action}", s.invoiceData)
	mux.HandleFunc("GET /supportedWallets", s.supportedWallets)
	mux.HandleFunc("GET /supportedwallets", s.supportedWallets)
	mux.HandleFunc("GET /rates", s.rates)
	mux.HandleFunc("GET /rates/{base}", s.rates)
	mux.HandleFunc("GET /rates/{base}/{currency}", s.rate)
	mux.HandleFunc("GET /currencies", s.currencies)
	mux.HandleFunc("GET /api/rates", s.legacyRates)
	mux.HandleFunc("GET /api/rates/{code}", s.legacyRates)
	mux.HandleFunc("GET /api/rates/{base}/{code}", s.legacyRates)
	s.bus = newEventBus(s)
	mux.Handle("GET /events", s.bus)
	s.registerLegacy(mux)
	s.handler = Transport(TransportConfig{Log: cfg.Log}, mux)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Register mounts the API's routes on mux for the paths it serves.
func (s *Server) Register(mux *http.ServeMux) {
	for _, p := range []string{"/tokens", "/tokens/", "/sessions", "/sessions/", "/invoices", "/invoices/", "/rates", "/rates/", "/currencies", "/currencies/", "/supportedWallets", "/supportedwallets", "/api/", "/api-access-request", "/invoiceData/", "/events", "/events/"} {
		mux.Handle(p, s)
	}
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
		return caller{}, Unauthorized("Invalid token")
	}
	c := caller{token: t}
	identity, signature := bitauth.FromRequest(r)
	if identity != "" || signature != "" || t.SIN != "" {
		sin, err := s.verifier.Verify(identity, signature, r.RequestURI, body)
		if err != nil {
			return caller{}, Unauthorized("Invalid signature")
		}
		if t.SIN != "" && sin != t.SIN {
			return caller{}, Unauthorized("Invalid token")
		}
		c.sin = sin
	}
	return c, nil
}

// requireFacade checks the caller's token grants one of the facades.
func requireFacade(c caller, facades ...auth.Facade) error {
	for _, f := range facades {
		if c.token.Facade == f {
			return nil
		}
	}
	return Forbidden("This endpoint does not support the `" + string(c.token.Facade) + "` facade")
}
