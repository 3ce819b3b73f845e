package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/metrics"
)

// DefaultMaxBody bounds a request body when no other limit is configured.
// The largest real bodies (invoices with itemized details) are a few KiB.
const DefaultMaxBody = 256 << 10

// TransportConfig configures Transport.
type TransportConfig struct {
	// Log receives the per-request logger's records; nil means slog.Default().
	Log *slog.Logger
	// MaxBody is the hard ceiling on any request body in bytes; zero means
	// DefaultMaxBody. ReadBody may lower it per route, never raise it.
	MaxBody int64
}

// Transport wraps the API's router with what every endpoint shares: a
// request id and request logger in the context, BitPay's CORS headers and
// OPTIONS preflight answers (spec §0.3), panic recovery into a 500
// envelope, trailing-slash equivalence (spec §0.4) and a body size bound.
func Transport(cfg TransportConfig, next http.Handler) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	h := limitBody(cfg.MaxBody, trimSlash(next))
	h = recoverPanics(h)
	h = cors(h)
	return withRequestID(cfg.Log, h)
}

// ReadBody reads the whole request body, up to limit bytes (zero: the
// transport's ceiling or DefaultMaxBody). The bytes are returned raw
// because BitAuth signs them verbatim. A body over the limit fails with
// bitpay.TooLarge, an unreadable one with a 400; both are *bitpay.Error
// for WriteError.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, bitpay.TooLarge()
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return nil, bitpay.TooLarge()
		}
		return nil, bitpay.BadRequest("could not read request body")
	}
	return b, nil
}

// WriteError answers r with err in BitPay's error envelope
// (bitpay.AsError picks its status and code). Server-side failures (5xx)
// are logged here, once, with the request id, method and path; neither
// the query (it carries tokens) nor the body is logged. Client errors are
// logged at debug level only.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := bitpay.AsError(err)
	logFailure(r, e.Status, err)
	bitpay.WriteError(w, r, e)
}

// logFailure is the one log line of a request answered with an error of
// status: cancelled requests at debug, unavailability at warn, other
// server failures at error and the client's mistakes at debug level.
func logFailure(r *http.Request, status int, err error) {
	log := Logger(r.Context()).With("method", r.Method, "path", r.URL.Path, "status", status)
	switch {
	case status >= 500 && errors.Is(err, context.Canceled):
		log.Debug("request cancelled", "err", err)
	case status == http.StatusServiceUnavailable:
		log.Warn("request failed", "err", err)
	case status >= 500:
		log.Error("request failed", "err", err)
	default:
		log.Debug("request rejected", "err", err)
	}
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
)

// RequestID returns the id Transport gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Logger returns the request's logger (carrying its request id), or
// slog.Default() outside Transport.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// withRequestID takes a sane X-Request-Id from the client (a proxy's) or
// makes one, echoes it, and puts it and a logger carrying it in the context.
func withRequestID(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !metrics.ValidRequestID(id) {
			id = metrics.NewRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, log.With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// The CORS answer BitPay gave (spec §0.3), extended with the headers the
// SDKs send today.
const (
	corsMethods = "HEAD,GET,POST,PUT,DELETE,OPTIONS"
	corsHeaders = "Content-Type,Authorization,Content-Length,X-Requested-With,Cache-Control," +
		"X-Accept-Version,X-Signature,X-Identity,x-pubkey,X-BitPay-Plugin-Info," +
		"x-bitpay-api-frame,x-bitpay-api-frame-version,x-bitpay-platform-info,X-Request-Id,cf-connecting-ip"
)

// cors allows every origin (the API authenticates by signature or token,
// never by cookie) and answers every OPTIONS request itself with 204,
// echoing the headers a preflight asks for.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Expose-Headers", "X-Request-Id")
		if r.Method != http.MethodOptions {
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			next.ServeHTTP(w, r)
			return
		}
		if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
			h.Set("Access-Control-Allow-Headers", asked)
		} else {
			h.Set("Access-Control-Allow-Headers", corsHeaders)
		}
		h.Set("Access-Control-Max-Age", "86400")
		h.Add("Vary", "Access-Control-Request-Headers")
		w.WriteHeader(http.StatusNoContent)
	})
}

// trimSlash routes /invoices/ as /invoices, without a redirect (clients do
// not follow one for a POST). Only the routing path changes: RequestURI,
// which BitAuth verifies byte for byte, and the query stay as sent.
func trimSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && p[len(p)-1] == '/' {
			r = withoutSlash(r)
		}
		next.ServeHTTP(w, r)
	})
}

// withoutSlash is r with its URL path's trailing slashes removed.
func withoutSlash(r *http.Request) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimRight(u.Path, "/")
	if u.Path == "" {
		u.Path = "/"
	}
	if u.RawPath != "" {
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		if u.RawPath == "" {
			u.RawPath = "/"
		}
	}
	r2.URL = &u
	return r2
}

// limitBody rejects a declared oversized body at once and caps every
// other body at max bytes.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			bitpay.WriteError(w, r, bitpay.TooLarge())
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500 envelope (if the
// handler had not started its answer) so one bad request never takes the
// server down. http.ErrAbortHandler keeps its meaning.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			Logger(r.Context()).Error("handler panic", "method", r.Method, "path", r.URL.Path,
				"panic", v, "stack", string(debug.Stack()))
			if !rw.wrote {
				bitpay.WriteError(rw, r, bitpay.Internal())
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// trackingWriter records whether the answer has started. Unwrap lets
// http.ResponseController reach the real writer (flushing for SSE).
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
