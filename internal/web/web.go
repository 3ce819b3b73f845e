// Package web serves kassa's buyer-facing pages (spec §11): the hosted
// checkout at /invoice?id={id} and /i/{id} (with &view=modal for the
// bitpay.js overlay), its QR code, /bitpay.js and /bitpay.min.js for
// shop pages, and the buyer's refund page at /refund?id={refund}&t={secret}
// (refund.go), where a buyer mailed for a refund address gives one. Templates and assets are embedded and parsed once; pages are
// rendered by html/template, so every value from an invoice is escaped.
// A page needs no other origin: its styles and script are inline under a
// per-request Content-Security-Policy nonce, and the QR code is an inline
// SVG drawn on the server, so amount, address and code show without
// JavaScript.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Store is what the pages read; *store.DB implements it.
type Store interface {
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// GetStore loads a merchant store, for its name, or fails with
	// store.ErrNotFound.
	GetStore(ctx context.Context, id string) (merchant.Store, error)
}

// Config wires the pages.
type Config struct {
	Store Store
	// PublicURL is the base URL buyers reach kassa at; its path is the
	// prefix of the URLs the page's script calls (/events, /invoices/{id}).
	PublicURL string
	// Network is the chain kassa runs on; pages on any network but mainnet
	// warn that the coins are not real.
	Network string
	// Demo shows the "Pay with demo wallet" and "Mine a block" buttons,
	// which post to /demo/pay and /demo/mine; only `kassa demo` serves
	// those, on regtest.
	Demo bool
	// Refunds serves the buyer's refund page (/refund); nil leaves it
	// out.
	Refunds Refunds
	// PollInterval is how often the page polls the invoice when the event
	// stream is unavailable; zero means 3 seconds.
	PollInterval time.Duration
	Clock        func() time.Time
	Log          *slog.Logger
}

// Server serves the checkout pages and bitpay.js.
type Server struct {
	cfg      Config
	base     string // PublicURL's path, without a trailing slash
	checkout *template.Template
	message  *template.Template
	// refundTmpl is the buyer's refund page.
	refundTmpl *template.Template
	css        template.CSS
	js         template.JS
	closeJS    template.JS
	scripts    map[string]asset // bitpay.js, bitpay.min.js
	qr         *qrCache
	mux        *http.ServeMux
}

// asset is a static file with its validator.
type asset struct {
	body []byte
	etag string
}

// New parses the templates and prepares the assets.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 3 * time.Second
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("web: public URL: %w", err)
	}
	s := &Server{cfg: cfg, base: strings.TrimRight(u.Path, "/"), scripts: map[string]asset{}, qr: newQRCache(1024)}
	if s.checkout, err = template.ParseFS(files, "templates/checkout.html", "templates/languages.html"); err != nil {
		return nil, fmt.Errorf("web: parse checkout template: %w", err)
	}
	if s.message, err = template.ParseFS(files, "templates/message.html"); err != nil {
		return nil, fmt.Errorf("web: parse message template: %w", err)
	}
	if s.refundTmpl, err = template.ParseFS(files, "templates/refund.html", "templates/languages.html"); err != nil {
		return nil, fmt.Errorf("web: parse refund template: %w", err)
	}
	read := func(name string) (string, error) {
		b, err := files.ReadFile("assets/" + name)
		if err != nil {
			return "", fmt.Errorf("web: read %s: %w", name, err)
		}
		return string(b), nil
	}
	var css, js, closeJS, bitpay string
	for name, dst := range map[string]*string{"checkout.css": &css, "checkout.js": &js, "close.js": &closeJS, "bitpay.js": &bitpay} {
		if *dst, err = read(name); err != nil {
			return nil, err
		}
	}
	// The assets are kassa's own constant files, not input: safe to inline.
	s.css = template.CSS(minifyCSS(css))
	s.js = template.JS(minifyJS(js))
	s.closeJS = template.JS(minifyJS(closeJS))
	s.scripts["/bitpay.js"] = newAsset(bitpay)
	s.scripts["/bitpay.min.js"] = newAsset(minifyJS(bitpay))

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /invoice", s.serveCheckout)
	s.mux.HandleFunc("GET /i/{id}", s.serveCheckout)
	s.mux.HandleFunc("GET /invoice/qr", s.serveQR)
	s.mux.HandleFunc("GET /bitpay.js", s.serveScript)
	s.mux.HandleFunc("GET /bitpay.min.js", s.serveScript)
	s.mux.HandleFunc("OPTIONS /bitpay.js", s.serveScript)
	s.mux.HandleFunc("OPTIONS /bitpay.min.js", s.serveScript)
	if cfg.Refunds != nil {
		s.mux.HandleFunc("GET /refund", s.serveRefund)
		// A post from another site is refused before the secret is
		// even looked at.
		s.mux.Handle("POST /refund", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.postRefund)))
	}
	return s, nil
}

// Register mounts the pages on mux.
func (s *Server) Register(mux *http.ServeMux) {
	paths := []string{"/invoice", "/invoice/qr", "/i/", "/bitpay.js", "/bitpay.min.js"}
	if s.cfg.Refunds != nil {
		paths = append(paths, "/refund")
	}
	for _, p := range paths {
		mux.Handle(p, s)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func newAsset(body string) asset {
	sum := sha256.Sum256([]byte(body))
	return asset{body: []byte(body), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// minifyJS drops comment lines, blank lines and indentation. kassa's scripts
// keep comments on their own lines and have no multi-line strings, so line
// breaks (and with them automatic semicolons) stay as written.
func minifyJS(src string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// minifyCSS drops /* */ comments and line breaks.
func minifyCSS(src string) string {
	var b strings.Builder
	for {
		start := strings.Index(src, "/*")
		if start < 0 {
			break
		}
		end := strings.Index(src[start:], "*/")
		if end < 0 {
			break
		}
		b.WriteString(src[:start])
		src = src[start+end+2:]
	}
	b.WriteString(src)
	var out strings.Builder
	for line := range strings.SplitSeq(b.String(), "\n") {
		out.WriteString(strings.TrimSpace(line))
	}
	return out.String()
}

// serveScript serves bitpay.js for any shop page: scripts load cross-origin
// without CORS, and Access-Control-Allow-Origin lets pages that fetch it or
// load it with crossorigin and integrity do so too.
func (s *Server) serveScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a := s.scripts[r.URL.Path]
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// invoiceID returns the requested invoice id, or "" when it cannot be one.
func invoiceID(r *http.Request) string {
	id := r.PathValue("id")
	if id == "" {
		id = r.URL.Query().Get("id")
	}
	if !validID(id) {
		return ""
	}
	return id
}

// validID reports whether id can be an invoice's or a refund's.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// page is what the checkout template renders.
type page struct {
	Lang        language
	T           map[string]string
	Languages   []languageLink
	Nonce       string
	CSS         template.CSS
	JS          template.JS
	Modal       bool
	Refresh     int // seconds between reloads without JavaScript; 0 for none
	Base        string
	ID          string
	State       string
	StatusText  string
	Note        string
	StoreName   string
	ItemDesc    string
	OrderID     string
	Price       string
	BTCDue      string
	Address     string
	BIP21       template.URL
	QR          template.HTML
	Countdown   string
	ExpiresText string
	Network     string
	RedirectURL string
	CloseURL    string
	Demo        bool
	Invoice     bitpay.InvoiceJSON
	Config      clientConfig
}

// clientConfig is what the page's script reads besides the invoice.
type clientConfig struct {
	Base         string            `json:"base"`
	Modal        bool              `json:"modal"`
	RedirectURL  string            `json:"redirectURL"`
	AutoRedirect bool              `json:"autoRedirect"`
	PollMs       int64             `json:"pollMs"`
	T            map[string]string `json:"t"`
}

type languageLink struct {
	Code, Name, URL string
	Current         bool
}

// messagePage is the not-found and error page.
type messagePage struct {
	Lang    language
	T       map[string]string
	Nonce   string
	CSS     template.CSS
	CloseJS template.JS
	Modal   bool
	Title   string
	Body    string
}

func (s *Server) serveCheckout(w http.ResponseWriter, r *http.Request) {
	lang := negotiate(r)
	modal := r.URL.Query().Get("view") == "modal"
	id := invoiceID(r)
	if id == "" {
		s.writeMessage(w, lang, modal, http.StatusNotFound)
		return
	}
	inv, err := s.cfg.Store.GetInvoice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.writeMessage(w, lang, modal, http.StatusNotFound)
		return
	}
	if err != nil {
		s.cfg.Log.Error("checkout: load invoice", "invoice", id, "err", err)
		s.writeMessage(w, lang, modal, http.StatusInternalServerError)
		return
	}
	storeName := ""
	if st, err := s.cfg.Store.GetStore(r.Context(), inv.StoreID); err == nil {
		storeName = st.Name
	} else {
		s.cfg.Log.Warn("checkout: load store", "store", inv.StoreID, "err", err)
	}
	p, err := s.page(r, &inv, storeName, lang, modal)
	if err != nil {
		s.cfg.Log.Error("checkout: render", "invoice", id, "err", err)
		s.writeMessage(w, lang, modal, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := s.checkout.Execute(&buf, p); err != nil {
		s.cfg.Log.Error("checkout: execute template", "invoice", id, "err", err)
		s.writeMessage(w, lang, modal, http.StatusInternalServerError)
		return
	}
	s.writeHTML(w, lang, p.Nonce, http.StatusOK, buf.Bytes())
}

// page builds the checkout's data for an invoice.
func (s *Server) page(r *http.Request, inv *invoice.Invoice, storeName string, lang language, modal bool) (page, error) {
	now := s.cfg.Clock()
	j := bitpay.RenderInvoice(inv, bitpay.ViewPublic, s.cfg.PublicURL, 0, now)
	bip21 := j.PaymentURLs["BIP21"]
	qr, err := s.qr.get(bip21, lang.T["qr_label"])
	if err != nil {
		return page{}, err
	}
	nonce, err := NewNonce()
	if err != nil {
		return page{}, err
	}
	state := stateOf(inv, now)
	p := page{
		Lang: lang, T: lang.T, Languages: languageLinks(r, lang), Nonce: nonce, CSS: s.css, JS: s.js,
		Modal: modal, Base: s.base, ID: inv.ID, State: state,
		StatusText: fill(lang.T["st_"+state], j.BTCDue, j.DisplayAmountPaid),
		StoreName:  storeName, ItemDesc: inv.Fields.ItemDesc, OrderID: inv.Fields.OrderID,
		Price: formatPrice(inv, lang), BTCDue: j.BTCDue, Address: j.BitcoinAddress,
		// The URI is kassa's own: a checked address and a decimal amount.
		BIP21:       template.URL(bip21),
		QR:          qr,
		Countdown:   countdown(inv.ExpiresAt.Sub(now)),
		ExpiresText: expiresText(inv.ExpiresAt, now, lang),
		RedirectURL: safeURL(inv.Fields.RedirectURL),
		CloseURL:    safeURL(inv.Fields.CloseURL),
		Demo:        s.cfg.Demo,
		Invoice:     j,
	}
	if inv.Exception != invoice.ExceptionNone {
		p.Note = lang.T["note_"+string(inv.Exception)]
	}
	if s.cfg.Network != "" && s.cfg.Network != "mainnet" {
		p.Network = strings.ReplaceAll(lang.T["test_network"], "{net}", s.cfg.Network)
	}
	if !modal && !inv.Status.IsFinal() {
		p.Refresh = 15
	}
	t := make(map[string]string, len(scriptKeys))
	for _, k := range scriptKeys {
		t[k] = lang.T[k]
	}
	p.Config = clientConfig{Base: s.base, Modal: modal, RedirectURL: p.RedirectURL,
		AutoRedirect: inv.Fields.AutoRedirect, PollMs: s.cfg.PollInterval.Milliseconds(), T: t}
	return p, nil
}

// stateOf maps an invoice to the page's states, as the script does: an
// unpaid invoice past its window shows as expired before the expiry
// watcher records it.
func stateOf(inv *invoice.Invoice, now time.Time) string {
	switch inv.Status {
	case invoice.StatusNew:
		if !now.Before(inv.ExpiresAt) {
			return "expired"
		}
		if inv.Paid() > 0 {
			return "partial"
		}
		return "waiting"
	case invoice.StatusPaid:
		return "paid"
	case invoice.StatusConfirmed, invoice.StatusComplete:
		return "confirmed"
	case invoice.StatusExpired:
		return "expired"
	default:
		return "invalid"
	}
}

func fill(text, due, paid string) string {
	return strings.NewReplacer("{due}", due, "{paid}", paid).Replace(text)
}

// formatPrice renders the fiat price with the currency's decimals and the
// language's decimal separator: "10.00 USD", "10,00 USD".
func formatPrice(inv *invoice.Invoice, lang language) string {
	s := inv.Price.String()
	if c, ok := money.LookupCurrency(inv.Currency); ok {
		s = inv.Price.StringFixed(c.Precision)
	}
	return strings.Replace(s, ".", lang.Decimal, 1) + " " + inv.Currency
}

// countdown renders a duration as m:ss, never negative.
func countdown(d time.Duration) string {
	secs := max(int64(d/time.Second), 0)
	return strconv.FormatInt(secs/60, 10) + ":" + fmt.Sprintf("%02d", secs%60)
}

// expiresText says when the invoice expires, for pages without script.
func expiresText(at, now time.Time, lang language) string {
	layout := "15:04"
	if at.Sub(now) > 20*time.Hour {
		layout = "2006-01-02 15:04"
	}
	return strings.ReplaceAll(lang.T["expires_at"], "{time}", at.UTC().Format(layout))
}

// safeURL returns u when it is an absolute http(s) URL, else "": a
// merchant's redirect must not become a javascript: link.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return u
}

// languageLinks links the page in every translation.
func languageLinks(r *http.Request, current language) []languageLink {
	out := make([]languageLink, 0, len(languages))
	for _, l := range languages {
		q := r.URL.Query()
		q.Set("lang", l.Code)
		out = append(out, languageLink{Code: l.Code, Name: l.Name, URL: r.URL.Path + "?" + q.Encode(), Current: l.Code == current.Code})
	}
	return out
}

// NewNonce returns a random nonce for a page's Content-Security-Policy.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// writeHTML sends a rendered page with its security headers. Pages may be
// framed by any shop (the modal), so no frame-ancestors restriction.
func (s *Server) writeHTML(w http.ResponseWriter, lang language, nonce string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang.Code)
	h.Set("Vary", "Accept-Language")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeMessage sends the not-found or error page.
func (s *Server) writeMessage(w http.ResponseWriter, lang language, modal bool, status int) {
	if status == http.StatusNotFound {
		s.writePage(w, lang, modal, status, lang.T["not_found"], lang.T["not_found_body"])
		return
	}
	s.writePage(w, lang, modal, status, lang.T["error"], lang.T["error_body"])
}

// writePage sends a page that only says something.
func (s *Server) writePage(w http.ResponseWriter, lang language, modal bool, status int, title, body string) {
	p := messagePage{Lang: lang, T: lang.T, CSS: s.css, CloseJS: s.closeJS, Modal: modal, Title: title, Body: body}
	nonce, err := NewNonce()
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.Nonce = nonce
	var buf bytes.Buffer
	if err := s.message.Execute(&buf, p); err != nil {
		s.cfg.Log.Error("checkout: message template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.writeHTML(w, lang, nonce, status, buf.Bytes())
}

// serveQR serves the QR code of what an invoice still asks for, as an SVG
// image; the page swaps it in after a partial payment.
func (s *Server) serveQR(w http.ResponseWriter, r *http.Request) {
	id := invoiceID(r)
	if id == "" {
		http.NotFound(w, r)
		return
	}
	inv, err := s.cfg.Store.GetInvoice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.cfg.Log.Error("checkout: load invoice for qr", "invoice", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	j := bitpay.RenderInvoice(&inv, bitpay.ViewPublic, s.cfg.PublicURL, 0, s.cfg.Clock())
	svg, err := s.qr.get(j.PaymentURLs["BIP21"], negotiate(r).T["qr_label"])
	if err != nil {
		s.cfg.Log.Error("checkout: qr", "invoice", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	_, _ = w.Write([]byte(svg))
}
