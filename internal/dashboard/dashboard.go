package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/account"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/web"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Config wires the dashboard. Its storage comes as one small interface
// per group of pages, each declared beside the pages that use it;
// *store.DB implements them all, and lookups of missing records fail
// with store.ErrNotFound. Every one of them is required.
type Config struct {
	// Users are the accounts: the setup, sign-up, sign-in and account
	// pages, and every signed-in page's session.
	Users Users
	// SecondFactor holds the TOTP secrets and recovery codes.
	SecondFactor SecondFactor
	// Sessions are the signed-in browsers.
	Sessions Sessions
	// Attempts are the sign-in and sign-up throttle's counters.
	Attempts Attempts
	// Stores are the merchant stores and their settings.
	Stores Stores
	// Members are the users' roles in stores; Invites the links that
	// grant them.
	Members Members
	Invites Invites
	// Tokens are the stores' API tokens and pairing requests; APIKeys
	// their legacy (v0.3) API keys.
	Tokens  Tokens
	APIKeys APIKeys
	// InvoiceLookup shows the point of sale's invoices.
	InvoiceLookup InvoiceLookup
	// Invoices creates invoices from the point-of-sale page.
	Invoices Invoices
	// Coins are the stores' coins (the coins page); SpendLookup their
	// spends and the refunds these pay (the spend pages).
	Coins       Coins
	SpendLookup SpendLookup
	// Spends gives spends' PSBTs to sign and takes them back signed,
	// bumps their fees and signs with the hot signer (*spender.Engine).
	// It may be nil when kassa cannot send transactions: the spend pages
	// say spending needs a chain backend.
	Spends Spends
	// Refunds is the refund service (*gateway.Refunds) behind the create,
	// confirm and cancel forms; RefundLookup reads the refund pages.
	Refunds      Refunds
	RefundLookup RefundLookup
	// Network is the chain kassa runs on; store keys must be for it.
	Network string
	// PublicURL is the base URL merchants reach kassa at: its path
	// prefixes every link, an https scheme makes cookies Secure, and
	// invite and checkout links are built on it.
	PublicURL string
	// Signup lets anyone open a merchant account and its stores
	// (KASSA_SIGNUP).
	Signup bool
	// IdleTimeout ends a session unused this long (default 12 h); MaxAge
	// ends any session this long after sign-in (default 7 days).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// StoreChanged, when set, is called after a store's settings change,
	// so that caches of them (the gateway's) can let go of the store.
	StoreChanged func(storeID string)
	Clock        func() time.Time
	Log          *slog.Logger
}

// User is the signed-in user as pages see it.
type User struct {
	ID    string
	Email string
	// Admin users are owners of every store on the server.
	Admin bool
	kind  account.Kind
}

// Viewer is who looks at a page, and where: the signed-in user, their
// role in the current store and the store. A Page receives it after the
// session, the store membership, the page's least role and (for POST)
// the CSRF token were checked.
type Viewer struct {
	User User
	// StoreID is the store of the page ({id} in its pattern) and Store
	// its settings; "" and zero on pages outside a store.
	StoreID string
	Store   merchant.Store
	// Role is the user's role in the store.
	Role account.Role
	// CSRF is the session's form token. Every form that posts must carry
	// it as the field "csrf": use CSRFField.
	CSRF string
	// Nonce is this response's Content-Security-Policy nonce, for a
	// page's own <script nonce> or <style nonce>.
	Nonce string
}

// CSRFField returns the hidden form field that carries the CSRF token.
func (v Viewer) CSRFField() template.HTML {
	return template.HTML(`<input type="hidden" name="csrf" value="` + template.HTMLEscapeString(v.CSRF) + `">`)
}

// Can reports whether the viewer's role grants min.
func (v Viewer) Can(min account.Role) bool { return v.Role.AtLeast(min) }

// Page is a dashboard page of a store, mounted with Server.Handle. It
// runs only for a signed-in user whose role in the store {id} is at least
// the one it was mounted with; a POST's CSRF token was checked. It
// renders with Server.Layout (or writes a download itself).
type Page func(w http.ResponseWriter, r *http.Request, v Viewer)

// Server is the dashboard.
type Server struct {
	cfg    Config
	base   string // PublicURL's path, no trailing slash
	secure bool   // PublicURL is https
	tmpl   *template.Template
	css    template.CSS
	js     template.JS

	mux      *http.ServeMux
	handler  http.Handler
	mu       sync.Mutex
	handled  map[string]bool
	started  bool
	hasUsers atomic.Bool

	passwords *hasher
	limits    *throttle
	cleanedAt atomic.Int64
}

// New parses the templates and prepares the routes.
func New(cfg Config) (*Server, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Users", cfg.Users != nil}, {"SecondFactor", cfg.SecondFactor != nil}, {"Sessions", cfg.Sessions != nil},
		{"Attempts", cfg.Attempts != nil}, {"Stores", cfg.Stores != nil}, {"Members", cfg.Members != nil},
		{"Invites", cfg.Invites != nil}, {"Tokens", cfg.Tokens != nil}, {"APIKeys", cfg.APIKeys != nil},
		{"InvoiceLookup", cfg.InvoiceLookup != nil}, {"Coins", cfg.Coins != nil}, {"SpendLookup", cfg.SpendLookup != nil},
		{"Refunds", cfg.Refunds != nil}, {"RefundLookup", cfg.RefundLookup != nil},
	} {
		if !f.set {
			return nil, errors.New("dashboard: no " + f.name)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 12 * time.Hour
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("dashboard: public URL: %w", err)
	}
	s := &Server{cfg: cfg, base: strings.TrimRight(u.Path, "/"), secure: u.Scheme == "https",
		handled: map[string]bool{}, passwords: newHasher(2)}
	s.limits = &throttle{db: cfg.Attempts, clock: cfg.Clock}
	s.tmpl, err = template.New("").Funcs(template.FuncMap{
		"date":        formatDate,
		"short":       shortText,
		"btc":         func(s money.Sats) string { return s.BTC() },
		"spendBadge":  spendBadge,
		"refundBadge": refundBadge,
	}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse templates: %w", err)
	}
	css, err := files.ReadFile("assets/dashboard.css")
	if err != nil {
		return nil, fmt.Errorf("dashboard: read css: %w", err)
	}
	js, err := files.ReadFile("assets/dashboard.js")
	if err != nil {
		return nil, fmt.Errorf("dashboard: read js: %w", err)
	}
	// kassa's own constant files, not input: safe to inline.
	s.css, s.js = template.CSS(css), template.JS(js)
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// routes registers the dashboard's own pages.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /dashboard/setup", s.setupPage)
	m.HandleFunc("POST /dashboard/setup", s.setupPost)
	m.HandleFunc("POST /dashboard/preview", s.preview)
	m.HandleFunc("GET /dashboard/login", s.loginPage)
	m.HandleFunc("POST /dashboard/login", s.loginPost)
	m.HandleFunc("GET /dashboard/login/2fa", s.totpPage)
	m.HandleFunc("POST /dashboard/login/2fa", s.totpPost)
	m.HandleFunc("POST /dashboard/logout", s.logout)
	m.HandleFunc("GET /dashboard/signup", s.signupPage)
	m.HandleFunc("POST /dashboard/signup", s.signupPost)
	m.HandleFunc("GET /dashboard/invite/{secret}", s.invitePage)
	m.HandleFunc("POST /dashboard/invite/{secret}", s.invitePost)

	m.HandleFunc("GET /dashboard", s.signedIn(s.home))
	m.HandleFunc("GET /dashboard/{$}", s.signedIn(s.home))
	m.HandleFunc("GET /dashboard/stores", s.signedIn(s.storeList))
	m.HandleFunc("GET /dashboard/stores/new", s.signedIn(s.newStorePage))
	m.HandleFunc("POST /dashboard/stores/new", s.signedIn(s.newStorePost))
	m.HandleFunc("GET /dashboard/account", s.signedIn(s.accountPage))
	m.HandleFunc("POST /dashboard/account/password", s.signedIn(s.passwordPost))
	m.HandleFunc("POST /dashboard/account/2fa/start", s.signedIn(s.totpStart))
	m.HandleFunc("POST /dashboard/account/2fa/confirm", s.signedIn(s.totpConfirm))
	m.HandleFunc("POST /dashboard/account/2fa/disable", s.signedIn(s.totpDisable))
	m.HandleFunc("POST /dashboard/account/2fa/codes", s.signedIn(s.recoveryCodesPost))
	m.HandleFunc("POST /dashboard/account/logout-all", s.signedIn(s.logoutAll))
	m.HandleFunc("GET /dashboard/pairing", s.signedIn(s.pairingPage))
	m.HandleFunc("POST /dashboard/pairing", s.signedIn(s.pairingPost))

	s.mount("GET /dashboard/stores/{id}/pos", account.RoleEmployee, s.posPage)
	s.mount("POST /dashboard/stores/{id}/pos", account.RoleEmployee, s.posPost)
	s.mount("GET /dashboard/stores/{id}/settings", account.RoleManager, s.settingsPage)
	s.mount("POST /dashboard/stores/{id}/settings", account.RoleManager, s.settingsPost)
	s.mount("GET /dashboard/stores/{id}/tokens", account.RoleManager, s.tokensPage)
	s.mount("POST /dashboard/stores/{id}/tokens", account.RoleManager, s.tokenCreate)
	s.mount("POST /dashboard/stores/{id}/tokens/revoke", account.RoleManager, s.tokenRevoke)
	s.mount("POST /dashboard/stores/{id}/apikeys", account.RoleManager, s.apiKeyCreate)
	s.mount("POST /dashboard/stores/{id}/apikeys/revoke", account.RoleManager, s.apiKeyRevoke)
	s.mount("GET /dashboard/stores/{id}/coins", account.RoleEmployee, s.coinsPage)
	s.mount("GET /dashboard/stores/{id}/spends", account.RoleEmployee, s.spendsPage)
	s.mount("GET /dashboard/stores/{id}/spends/{spend}", account.RoleEmployee, s.spendPage)
	s.mount("GET /dashboard/stores/{id}/spends/{spend}/psbt", roleSigner, s.spendPSBT)
	s.mount(signedPattern, roleSigner, s.spendSigned)
	s.mount("POST /dashboard/stores/{id}/spends/{spend}/bump", roleSigner, s.spendBump)
	s.mount("POST /dashboard/stores/{id}/spends/{spend}/hot", roleHot, s.spendHot)
	s.mount("GET /dashboard/stores/{id}/refunds", account.RoleEmployee, s.refundsPage)
	s.mount("GET /dashboard/stores/{id}/refunds/{refund}", account.RoleEmployee, s.refundPage)
	s.mount("POST /dashboard/stores/{id}/refunds/{refund}/cancel", roleSigner, s.refundCancel)
	s.mount("POST /dashboard/stores/{id}/refunds/{refund}/confirm", roleSigner, s.refundConfirm)
	s.mount("GET /dashboard/stores/{id}/invoices/{invoice}/refund", roleSigner, s.refundFormPage)
	s.mount("POST /dashboard/stores/{id}/invoices/{invoice}/refund", roleSigner, s.refundCreate)
	s.mount("GET /dashboard/stores/{id}/members", account.RoleOwner, s.membersPage)
	s.mount("POST /dashboard/stores/{id}/members/invite", account.RoleOwner, s.inviteCreate)
	s.mount("POST /dashboard/stores/{id}/members/remove", account.RoleOwner, s.memberRemove)
	s.mount("POST /dashboard/stores/{id}/members/revoke-invite", account.RoleOwner, s.inviteRevoke)
}

// The store pages other packages fill; until they are mounted with
// Handle, Register puts placeholders there.
const (
	OverviewPattern = "GET /dashboard/stores/{id}"
	InvoicesPattern = "GET /dashboard/stores/{id}/invoices"
)

// Handle mounts a store page of another package at pattern, such as
// "GET /dashboard/stores/{id}/invoices" or
// "POST /dashboard/stores/{id}/invoices/{invoice}/resend". The pattern
// must hold {id}, the store id. The page runs only for a signed-in user
// whose role in that store is at least min (others get 403, or 404 when
// not in the store at all), and a POST only with the session's CSRF
// token. Call Handle before Register; a pattern taken twice panics, as
// with http.ServeMux.
func (s *Server) Handle(pattern string, min account.Role, page Page) {
	if !strings.Contains(pattern, "{id}") {
		panic("dashboard: Handle pattern " + pattern + " has no {id}")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		panic("dashboard: Handle after Register")
	}
	s.mountLocked(pattern, min, page)
}

func (s *Server) mount(pattern string, min account.Role, page Page) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mountLocked(pattern, min, page)
}

func (s *Server) mountLocked(pattern string, min account.Role, page Page) {
	s.handled[pattern] = true
	s.mux.HandleFunc(pattern, s.storePage(min, page))
}

// Register mounts the dashboard on mux: /dashboard and below.
func (s *Server) Register(mux *http.ServeMux) {
	s.mu.Lock()
	if !s.started {
		if !s.handled[OverviewPattern] {
			s.mountLocked(OverviewPattern, account.RoleEmployee, s.overviewPlaceholder)
		}
		if !s.handled[InvoicesPattern] {
			s.mountLocked(InvoicesPattern, account.RoleEmployee, s.invoicesPlaceholder)
		}
		s.started = true
		s.handler = s.wrap(s.mux)
	}
	s.mu.Unlock()
	mux.Handle("/dashboard", s)
	mux.Handle("/dashboard/", s)
}

// ServeHTTP implements http.Handler; Register must have run.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.handler == nil {
		http.Error(w, "dashboard not registered", http.StatusInternalServerError)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// maxForm bounds every request's body but the signed spend's upload.
const maxForm = 64 << 10

// wrap adds what every dashboard response shares: a bounded body, the
// first-run redirect and the browser's cross-origin check.
func (s *Server) wrap(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.cfg.Log.Warn("dashboard: cross-origin request refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		s.message(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site.")
	}))
	h := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxForm)
		if r.Method == http.MethodPost {
			if _, pattern := s.mux.Handler(r); pattern == signedPattern {
				limit = maxSignedForm
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if r.URL.Path != "/dashboard/setup" && !s.setupDone(r.Context()) {
			http.Redirect(w, r, s.base+"/dashboard/setup", http.StatusSeeOther)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// setupDone reports whether an account exists; once true it stays true
// without asking the database again.
func (s *Server) setupDone(ctx context.Context) bool {
	if s.hasUsers.Load() {
		return true
	}
	n, err := s.cfg.Users.CountUsers(ctx)
	if err != nil {
		s.cfg.Log.Error("dashboard: count users", "err", err)
		return true // fail closed: no setup page on a database error
	}
	if n > 0 {
		s.hasUsers.Store(true)
	}
	return n > 0
}

type ctxKey struct{}

// signedIn wraps a page outside any store: it needs a full session, and
// a POST its CSRF token.
func (s *Server) signedIn(fn func(w http.ResponseWriter, r *http.Request, v *Viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.viewer(w, r)
		if !ok {
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)), v)
	}
}

// storePage wraps a store page: a full session, membership of the store
// {id} with at least min, and for POST the CSRF token.
func (s *Server) storePage(min account.Role, page Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.viewer(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		role, st, err := s.roleIn(r.Context(), v.User, id)
		if errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Info("dashboard: store not found or not a member", "user", v.User.ID, "store", shortText(id))
			s.message(w, r, http.StatusNotFound, "Not found", "There is no such store, or you are not one of its users.")
			return
		}
		if err != nil {
			s.serverError(w, r, "load store", err)
			return
		}
		v.StoreID, v.Store, v.Role = st.ID, st, role
		if !role.AtLeast(min) {
			s.cfg.Log.Warn("dashboard: role too low", "user", v.User.ID, "store", st.ID, "role", role, "need", min,
				"method", r.Method, "path", r.URL.Path)
			s.message(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)), http.StatusForbidden, "Not allowed",
				"Your role in this store ("+string(role)+") does not allow this page.")
			return
		}
		page(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)), *v)
	}
}

// roleIn returns the user's role in a store: owner for admins, the
// membership's otherwise; store.ErrNotFound when the store does not exist
// or the user is not in it.
func (s *Server) roleIn(ctx context.Context, u User, storeID string) (account.Role, merchant.Store, error) {
	if storeID == "" || len(storeID) > 64 {
		return "", merchant.Store{}, store.ErrNotFound
	}
	st, err := s.cfg.Stores.GetStore(ctx, storeID)
	if err != nil {
		return "", merchant.Store{}, err
	}
	if u.Admin {
		return account.RoleOwner, st, nil
	}
	role, err := s.cfg.Members.MemberRole(ctx, u.ID, storeID)
	if err != nil {
		return "", merchant.Store{}, err
	}
	if !role.Valid() {
		return "", merchant.Store{}, fmt.Errorf("store %s: unknown role %q: %w", storeID, role, store.ErrNotFound)
	}
	return role, st, nil
}

// viewer resolves the request's full session into a Viewer, or answers
// (a redirect to the sign-in page, or 403 for a POST without the CSRF
// token) and returns false.
func (s *Server) viewer(w http.ResponseWriter, r *http.Request) (*Viewer, bool) {
	sess, u, ok := s.session(r.Context(), r, account.StageFull)
	if !ok {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, s.base+"/dashboard/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil, false
		}
		s.cfg.Log.Info("dashboard: POST without a session", "path", r.URL.Path)
		s.message(w, r, http.StatusForbidden, "Signed out", "Your session has ended. Sign in again and repeat.")
		return nil, false
	}
	nonce, err := web.NewNonce()
	if err != nil {
		s.serverError(w, r, "nonce", err)
		return nil, false
	}
	v := &Viewer{User: User{ID: u.ID, Email: u.Email, Admin: u.Kind == account.KindAdmin, kind: u.Kind}, CSRF: sess.CSRF, Nonce: nonce}
	if r.Method == http.MethodPost && tooLarge(r) {
		s.cfg.Log.Info("dashboard: form too large", "user", u.ID, "path", r.URL.Path)
		s.message(w, r, http.StatusRequestEntityTooLarge, "Too large", "This form is larger than kassa takes: it was not sent.")
		return nil, false
	}
	if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), sess.CSRF) {
		s.cfg.Log.Warn("dashboard: CSRF token missing or wrong", "user", u.ID, "path", r.URL.Path)
		s.message(w, r, http.StatusForbidden, "Form expired", "This form is out of date or was not sent by this site. Reload the page and try again.")
		return nil, false
	}
	return v, true
}

// tooLarge parses a POST's form (a multipart one in memory: the body is
// bounded) and reports whether its body was over the bound.
func tooLarge(r *http.Request) bool {
	err := r.ParseMultipartForm(maxSignedForm)
	var big *http.MaxBytesError
	return errors.As(err, &big)
}

// viewerOf returns the Viewer a wrapper put in the request, or nil.
func viewerOf(r *http.Request) *Viewer {
	v, _ := r.Context().Value(ctxKey{}).(*Viewer)
	return v
}

// navItem is a link of the store menu.
type navItem struct {
	Label, URL string
	Current    bool
}

// layoutData is what the layout template renders.
type layoutData struct {
	Title   string
	Base    string
	Nonce   string
	CSS     template.CSS
	JS      template.JS
	V       *Viewer
	Nav     []navItem
	Network string
	Body    template.HTML
}

// Layout renders a page body inside the dashboard's chrome (header, the
// store's menu, the user's links) with status 200. r must be a request a
// Page received; body is the page's own HTML, rendered by html/template.
func (s *Server) Layout(w http.ResponseWriter, r *http.Request, title string, body template.HTML) {
	s.LayoutStatus(w, r, http.StatusOK, title, body)
}

// LayoutStatus is Layout with another status code.
func (s *Server) LayoutStatus(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	v := viewerOf(r)
	d := layoutData{Title: title, Base: s.base, CSS: s.css, JS: s.js, V: v, Body: body}
	if v != nil {
		d.Nonce = v.Nonce
		if v.StoreID != "" {
			d.Nav = s.nav(r, v)
		}
	} else {
		var err error
		if d.Nonce, err = web.NewNonce(); err != nil {
			s.serverError(w, r, "nonce", err)
			return
		}
	}
	if s.cfg.Network != "" && s.cfg.Network != "mainnet" {
		d.Network = s.cfg.Network
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.cfg.Log.Error("dashboard: layout template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeHTML(w, d.Nonce, status, buf.Bytes())
}

// Error renders a short message page in the chrome, such as a 404 for an
// invoice of another store.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.message(w, r, status, http.StatusText(status), msg)
}

// nav builds the store menu for the viewer's role.
func (s *Server) nav(r *http.Request, v *Viewer) []navItem {
	root := s.base + "/dashboard/stores/" + url.PathEscape(v.StoreID)
	items := []navItem{{Label: "Overview", URL: root}, {Label: "Invoices", URL: root + "/invoices"},
		{Label: "Point of sale", URL: root + "/pos"}, {Label: "Refunds", URL: root + "/refunds"}, {Label: "Coins", URL: root + "/coins"},
		{Label: "Spends", URL: root + "/spends"}}
	if v.Can(account.RoleManager) {
		items = append(items, navItem{Label: "API tokens", URL: root + "/tokens"}, navItem{Label: "Settings", URL: root + "/settings"})
	}
	if v.Can(account.RoleOwner) {
		items = append(items, navItem{Label: "Members", URL: root + "/members"})
	}
	path := s.base + r.URL.Path
	for i := range items {
		items[i].Current = path == items[i].URL || (i > 0 && strings.HasPrefix(path, items[i].URL+"/"))
	}
	return items
}

// view is what page templates render: the page's data D and what every
// form needs.
type view struct {
	Base  string
	CSRF  string
	Nonce string
	V     *Viewer
	Error string
	Flash string
	D     any
}

// render executes the page template name with d and sends it in the
// layout. v is the viewer on signed-in pages; on the others csrf is the
// form cookie's token.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, title, name string, d view) {
	d.Base = s.base
	if v := viewerOf(r); v != nil {
		d.V, d.CSRF, d.Nonce = v, v.CSRF, v.Nonce
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		s.cfg.Log.Error("dashboard: page template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// The body was rendered by html/template: escaped already.
	s.LayoutStatus(w, r, status, title, template.HTML(buf.String()))
}

// message renders a title and a sentence.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, title, "message", view{D: struct{ Title, Msg string }{title, msg}})
}

// serverError logs a failure once and answers 500.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.cfg.Log.Error("dashboard: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
	s.message(w, r, http.StatusInternalServerError, "Something went wrong", "kassa could not complete this request. It was logged; try again.")
}

// writeHTML sends a page with the dashboard's security headers.
func writeHTML(w http.ResponseWriter, nonce string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// redirect answers a POST with 303 to a dashboard path.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, s.base+path, http.StatusSeeOther)
}

// storePath is a store's page path.
func storePath(storeID, sub string) string {
	return "/dashboard/stores/" + url.PathEscape(storeID) + sub
}

// formatDate renders a time for tables; the zero time as a dash.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// shortText cuts s to 64 characters, for logs and narrow cells.
func shortText(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "…"
}

func (s *Server) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Millisecond) }

// placeholders for the pages another package fills.
func (s *Server) overviewPlaceholder(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.render(w, r, http.StatusOK, v.Store.Name, "overview", view{})
}

func (s *Server) invoicesPlaceholder(w http.ResponseWriter, r *http.Request, v Viewer) {
	s.render(w, r, http.StatusOK, "Invoices", "invoices", view{})
}
