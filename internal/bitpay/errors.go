package bitpay

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// BitPay's error codes have six digits: two for the HTTP verb (00 generic,
// 01 POST, 02 GET, 03 PUT, 04 DELETE), two for the resource (00 unmapped,
// 01 invoice, 02 refund) and two for the error (spec §0.6). An Error holds
// the last four; WriteError prefixes the verb of the request it answers, so
// cancelling a paid invoice answers "040107".
const (
	CodeGeneric       = "0000"
	CodeNotFound      = "0001"
	CodeInvalidParams = "0002"
	CodeMissingParams = "0003"

	CodeInvoiceGeneric        = "0100"
	CodeInvoiceNotFound       = "0101"
	CodeInvoiceInvalidParams  = "0102"
	CodeInvoiceMissingParams  = "0103"
	CodeInvoiceNotCancellable = "0107"
	CodeInvoiceInvalidState   = "0117"

	CodeRefundGeneric      = "0200"
	CodeRefundNotFound     = "0201"
	CodeRefundExists       = "0204"
	CodeRefundInvalidState = "0207"

	// BitPay's scheme has no suffix for authentication, rate limiting or
	// oversized bodies; those share the generic code and are told apart by
	// the HTTP status and the message, which is what clients read.
	CodeUnauthorized = CodeGeneric
	CodeRateLimited  = CodeGeneric
	CodeTooLarge     = CodeGeneric
)

// MsgNotFound is BitPay's exact not-found text; WooCommerce treats it as
// "the token is valid" when probing GET /invoices/1 (spec §13.4).
const MsgNotFound = "Object not found"

// Error is an API error with its HTTP status, its four-digit BitPay code
// (resource and error, see CodeGeneric) and the human text clients show.
// Param names the request field at fault, if any.
type Error struct {
	Status int
	Code   string
	Msg    string
	Param  string
}

// Error returns the text the envelope carries in error and message.
func (e *Error) Error() string {
	if e.Param != "" {
		return e.Param + ": " + e.Msg
	}
	return e.Msg
}

// Is makes every 400 match gateway.ErrInvalid, as the gateway's own input
// errors do, so callers test "the client's fault" one way.
func (e *Error) Is(target error) bool {
	return target == gateway.ErrInvalid && e.Status == http.StatusBadRequest
}

// BadRequest is a 400 for input that is wrong as a whole.
func BadRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidParams, Msg: msg}
}

// FieldError is a 400 naming the request field at fault.
func FieldError(param, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidParams, Msg: msg, Param: param}
}

// MissingParam is a 400 for a required field the request lacks.
func MissingParam(param string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMissingParams, Msg: "missing required parameter", Param: param}
}

// Unauthorized is a 401 for a missing or bad signature.
func Unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Msg: msg}
}

// Forbidden is a 403 for a token or facade that may not do this.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeUnauthorized, Msg: msg}
}

// NotFound is BitPay's 404 {"error":"Object not found"}.
func NotFound() *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Msg: MsgNotFound}
}

// Conflict is a 409 for an action the resource's state does not allow.
func Conflict(code, msg string) *Error {
	return &Error{Status: http.StatusConflict, Code: code, Msg: msg}
}

// InvoiceNotCancellable is BitPay's 040107 answer to cancelling an invoice
// that is paid or final.
func InvoiceNotCancellable() *Error {
	return Conflict(CodeInvoiceNotCancellable, "Invalid invoice state for cancel")
}

// TooLarge is the 413 for a request body over the limit.
func TooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Msg: "request body too large"}
}

// RateLimited is the 429 for a client over its request budget.
func RateLimited() *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Msg: "too many requests"}
}

// Unavailable is the 503 for a request that ran out of time or a server
// shutting down.
func Unavailable() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeGeneric, Msg: "service unavailable, retry later"}
}

// Internal is the 500 for everything unexpected; the real error is logged,
// never sent.
func Internal() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeGeneric, Msg: "internal error"}
}

// AsError maps any error to the API error clients see. Typed errors from
// the core get their status and code; anything unknown is a 500.
func AsError(err error) *Error {
	var e *Error
	var in *gateway.InputError
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &in):
		return FieldError(in.Field, in.Msg)
	case errors.Is(err, gateway.ErrInvalid):
		return BadRequest(err.Error())
	case errors.As(err, &big):
		return TooLarge()
	case errors.Is(err, store.ErrNotFound):
		return NotFound()
	case errors.Is(err, invoice.ErrNotCancellable):
		return InvoiceNotCancellable()
	case errors.Is(err, invoice.ErrIllegalTransition):
		return Conflict(CodeInvoiceInvalidState, "Invalid invoice state")
	case errors.Is(err, gateway.ErrGUIDReused):
		return Conflict(CodeRefundExists, from(err, gateway.ErrGUIDReused))
	case errors.Is(err, gateway.ErrNoRate):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeRefundGeneric, Msg: from(err, gateway.ErrNoRate) + "; retry later"}
	case errors.Is(err, refund.ErrInvoiceState):
		return Conflict(CodeRefundInvalidState, "Invalid invoice state for refund")
	case errors.Is(err, refund.ErrNotCancellable):
		return Conflict(CodeRefundInvalidState, "Refund is not cancellable: it declined its invoice or is being paid")
	case errors.Is(err, refund.ErrIllegalTransition):
		return Conflict(CodeRefundInvalidState, "Invalid refund state for this action")
	case errors.Is(err, store.ErrDuplicate):
		return Conflict(CodeGeneric, "already exists")
	case errors.Is(err, store.ErrConflict):
		return Conflict(CodeGeneric, "the resource changed concurrently, retry")
	case errors.Is(err, auth.ErrPairingNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Msg: "The specified pairingCode is not found"}
	case errors.Is(err, auth.ErrPairingExpired), errors.Is(err, auth.ErrAlreadyPaired):
		return BadRequest(cleanMsg(err))
	case errors.Is(err, auth.ErrRevoked):
		return Forbidden("Invalid token")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, store.ErrClosed):
		return Unavailable()
	}
	return Internal()
}

// from is err's text from the sentinel's own on: what it says without the
// internal context wrapping put in front.
func from(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()); i >= 0 {
		return msg[i:]
	}
	return sentinel.Error()
}

// cleanMsg is the sentinel's own text, without the internal context that
// wrapping added in front of it.
func cleanMsg(err error) string {
	for _, s := range []error{auth.ErrPairingExpired, auth.ErrAlreadyPaired} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}

// errorBody is BitPay's error envelope with every key some client reads
// (spec §0.5–0.6): NODE and JAVA test status and read message and code,
// bitpay-go needs error as a string, NBP needs error and param per item.
type errorBody struct {
	Status  string       `json:"status"`
	Code    string       `json:"code"`
	Data    any          `json:"data"`
	Error   string       `json:"error"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Error string `json:"error"`
	Param string `json:"param"`
}

// WriteError answers r with e in BitPay's error envelope, its code's verb
// and resource digits taken from r's method and path. It does not log:
// the HTTP edge that knows the request's logger does (api.WriteError).
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.Status < 400 || e.Status > 599 {
		e = &Error{Status: http.StatusInternalServerError, Code: e.Code, Msg: e.Msg, Param: e.Param}
	}
	text := e.Error()
	body := errorBody{
		Status:  "error",
		Code:    fullCode(r, e.Code),
		Error:   text,
		Message: text,
	}
	if e.Param != "" {
		body.Errors = []fieldError{{Error: e.Msg, Param: e.Param}}
	}
	b, err := Marshal(body)
	if err != nil {
		b = []byte(InternalBody) // unreachable: errorBody holds only strings
	}
	WriteRaw(w, e.Status, b)
}

// fullCode prefixes the verb digits and, for the generic suffixes 00–03,
// puts in the resource the path names, so a missing invoice is 020101.
func fullCode(r *http.Request, code string) string {
	if len(code) != 4 {
		code = CodeGeneric
	}
	if code[:2] == "00" && code[2:] <= "03" {
		code = pathResource(r.URL.Path) + code[2:]
	}
	return verbCode(r.Method) + code
}

func verbCode(method string) string {
	switch method {
	case http.MethodPost:
		return "01"
	case http.MethodGet, http.MethodHead:
		return "02"
	case http.MethodPut:
		return "03"
	case http.MethodDelete:
		return "04"
	}
	return "00"
}

// pathResource names the resource digits of a path: refunds (also an
// invoice's refunds) 02, invoices 01, anything else 00.
func pathResource(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 0 && segs[0] == "api" {
		segs = segs[1:]
	}
	if len(segs) == 0 {
		return "00"
	}
	switch segs[0] {
	case "refunds":
		return "02"
	case "invoices", "invoice":
		if len(segs) >= 3 && segs[2] == "refunds" {
			return "02"
		}
		return "01"
	}
	return "00"
}
