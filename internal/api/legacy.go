package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// This file serves BitPay's 2012 Payment Gateway API (v0.3, spec §9),
// which bp_lib.php and the plugins built on it still speak: a store's API
// key as the HTTP Basic user name, POST /api/invoice and GET
// /api/invoice/:id answering the invoice as flat JSON, and errors as
// {"error":{"type","message"}}. Invoices go through the same gateway as
// the v2 API; only the edge differs.

// LegacyInvoiceJSON is an invoice in v0.3's flat shape: the answer to
// create and get alike. Amounts in BTC are strings, as v0.3 sent them.
type LegacyInvoiceJSON struct {
	ID              string                 `json:"id"`
	URL             string                 `json:"url"`
	PosData         string                 `json:"posData,omitempty"`
	Status          invoice.Status         `json:"status"`
	BTCPrice        string                 `json:"btcPrice"`
	BTCDue          string                 `json:"btcDue"`
	Price           json.Number            `json:"price"`
	Currency        string                 `json:"currency"`
	ExRates         map[string]json.Number `json:"exRates"`
	InvoiceTime     int64                  `json:"invoiceTime"`
	ExpirationTime  int64                  `json:"expirationTime"`
	CurrentTime     int64                  `json:"currentTime"`
	BTCPaid         string                 `json:"btcPaid"`
	Rate            json.Number            `json:"rate"`
	ExceptionStatus invoice.Exception      `json:"exceptionStatus"`
	PaymentURLs     map[string]string      `json:"paymentUrls"`
}

// RenderLegacyInvoice renders inv in v0.3's shape. v0.3 knew no
// "declined": such an invoice reads as "invalid", v0.3's word for an
// invoice that will not be credited.
func RenderLegacyInvoice(inv *invoice.Invoice, base string, tip int32, now time.Time) LegacyInvoiceJSON {
	j := bitpay.RenderInvoice(inv, bitpay.ViewPublic, base, tip, now)
	status := j.Status
	if status == invoice.StatusDeclined {
		status = invoice.StatusInvalid
	}
	return LegacyInvoiceJSON{
		ID: j.ID, URL: j.URL, PosData: j.PosData, Status: status,
		BTCPrice: j.BTCPrice, BTCDue: j.BTCDue, Price: j.Price, Currency: j.Currency, ExRates: j.ExRates,
		InvoiceTime: j.InvoiceTime, ExpirationTime: j.ExpirationTime, CurrentTime: j.CurrentTime,
		BTCPaid: j.BTCPaid, Rate: j.Rate, ExceptionStatus: j.ExceptionStatus, PaymentURLs: j.PaymentURLs,
	}
}

// legacyCreateInvoice serves POST /api/invoice. The body is JSON, as v0.3
// asks, or form-encoded, as hand-written integrations post it; the fields
// are read by the v2 decoder, which knows all of v0.3's (flat buyer*
// fields included).
func (s *Server) legacyCreateInvoice(w http.ResponseWriter, r *http.Request) {
	storeID, err := s.apiKeyStore(r)
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	// The store's invoice budget is shared with the v2 API.
	ok, wait, err := s.limits.allow(r.Context(), storeID, s.cfg.Clock())
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	if !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
		writeLegacyError(w, r, bitpay.RateLimited())
		return
	}
	body, err := ReadBody(w, r, 0)
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	if isFormBody(r, body) {
		if body, err = FormToJSON(body); err != nil {
			writeLegacyError(w, r, err)
			return
		}
	}
	req, err := DecodeInvoiceRequest(body)
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	ni, err := req.ToNewInvoice()
	if err == nil {
		err = s.checkNotificationURL(r, ni.Fields.NotificationURL)
	}
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	inv, err := s.cfg.Invoices.CreateInvoice(r.Context(), storeID, ni)
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	s.writeLegacyInvoice(w, r, inv)
}

// legacyGetInvoice serves GET /api/invoice/:id. Another store's invoice
// is not found, as if it did not exist.
func (s *Server) legacyGetInvoice(w http.ResponseWriter, r *http.Request) {
	storeID, err := s.apiKeyStore(r)
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	inv, err := s.cfg.Store.GetInvoice(r.Context(), r.PathValue("id"))
	if err == nil && inv.StoreID != storeID {
		err = bitpay.NotFound()
	}
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	s.writeLegacyInvoice(w, r, &inv)
}

func (s *Server) writeLegacyInvoice(w http.ResponseWriter, r *http.Request, inv *invoice.Invoice) {
	b, err := bitpay.Marshal(RenderLegacyInvoice(inv, s.cfg.PublicURL, s.cfg.Tip(), s.cfg.Clock()))
	if err != nil {
		writeLegacyError(w, r, err)
		return
	}
	bitpay.WriteRaw(w, http.StatusOK, b)
}

// errBadAPIKey is the answer to a missing, unknown or revoked API key;
// the three are not told apart.
var errBadAPIKey = bitpay.Unauthorized("invalid api key")

// apiKeyStore returns the store whose API key the request carries.
func (s *Server) apiKeyStore(r *http.Request) (string, error) {
	key, ok := BasicAPIKey(r.Header.Get("Authorization"))
	if !ok {
		return "", errBadAPIKey
	}
	id, err := s.cfg.Store.StoreForAPIKey(r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		return "", errBadAPIKey
	}
	return id, err
}

// BasicAPIKey reads a v0.3 API key from an Authorization header: Basic
// with base64 of the key. bp_lib encodes the key alone, cURL's -u key:
// adds a colon and an empty password; both work, as does a key sent as
// the password with an empty user name. Padding may be missing, and
// whitespace around the key (echo key | base64) is dropped.
func BasicAPIKey(header string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "=")); err != nil {
			return "", false
		}
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	key := strings.TrimSpace(user)
	if key == "" {
		key = strings.TrimSpace(pass)
	}
	return key, key != ""
}

// isFormBody reports whether a body is form-encoded: declared so, or
// sent without a JSON content type and not looking like JSON.
func isFormBody(r *http.Request, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		return true
	case "application/json":
		return false
	}
	trimmed := strings.TrimSpace(string(body))
	return trimmed != "" && trimmed[0] != '{'
}

// legacyErrorBody is v0.3's error answer: "All error responses will have
// an "error" field that is an object with two fields called "type" and
// "message"" (the v0.3 document, seed 004). messages names the fields at
// fault, for a validation error.
type legacyErrorBody struct {
	Error legacyErrorDetail `json:"error"`
}

type legacyErrorDetail struct {
	Type     string            `json:"type"`
	Message  string            `json:"message"`
	Messages map[string]string `json:"messages,omitempty"`
}

// legacyErrorType names an error's kind from its HTTP status.
func legacyErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "validationError"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "unauthorized"
	case http.StatusNotFound:
		return "notFound"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "requestTooLarge"
	case http.StatusTooManyRequests:
		return "rateLimited"
	case http.StatusServiceUnavailable:
		return "serviceUnavailable"
	}
	return "serverError"
}

// writeLegacyError answers with err in v0.3's error shape, logging as
// WriteError does: server failures once at error level, the client's
// mistakes at debug level.
func writeLegacyError(w http.ResponseWriter, r *http.Request, err error) {
	e := bitpay.AsError(err)
	if e.Status < 400 || e.Status > 599 {
		e = bitpay.Internal()
	}
	logFailure(r, e.Status, err)
	body := legacyErrorBody{Error: legacyErrorDetail{Type: legacyErrorType(e.Status), Message: e.Error()}}
	if e.Param != "" {
		body.Error.Messages = map[string]string{e.Param: e.Msg}
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="kassa"`)
	}
	b, merr := bitpay.Marshal(body)
	if merr != nil {
		b = []byte(bitpay.InternalBody) // unreachable: the body holds only strings
	}
	bitpay.WriteRaw(w, e.Status, b)
}
