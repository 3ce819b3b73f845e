package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Handler serves the registries' metrics in the text exposition format.
func Handler(regs ...*Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = Write(r.Context(), w, regs...)
	})
}

// HTTPMetrics instruments an HTTP server: request latency by route,
// method and status code, and requests in flight.
type HTTPMetrics struct {
	latency  *HistogramVec
	inFlight *Gauge
	log      *slog.Logger
}

// NewHTTPMetrics registers kassa_http_request_duration_seconds and
// kassa_http_requests_in_flight in r. log receives one debug line per
// request (never its query string, which can carry tokens); nil means
// slog.Default().
func NewHTTPMetrics(r *Registry, log *slog.Logger) *HTTPMetrics {
	if log == nil {
		log = slog.Default()
	}
	return &HTTPMetrics{
		latency: r.NewHistogramVec("kassa_http_request_duration_seconds",
			"Time to answer HTTP requests, by the route pattern that served them (\"unmatched\" for none), method and status code.",
			DefBuckets, "route", "method", "code"),
		inFlight: r.NewGauge("kassa_http_requests_in_flight", "HTTP requests being answered."),
		log:      log,
	}
}

// Wrap returns next with request ids and instrumentation. Each request
// gets the X-Request-Id it came with if that is sane (a proxy's), else a
// new one; the id is echoed in the response, set on the request header for
// inner handlers, and put in the context (RequestID, LogHandler). The
// latency is recorded under the pattern of the ServeMux that routed the
// request (Request.Pattern); an inner handler that routes again can refine
// it with NoteRoute.
func (m *HTTPMetrics) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !ValidRequestID(id) {
			id = NewRequestID()
			r.Header.Set("X-Request-Id", id)
		}
		w.Header().Set("X-Request-Id", id)
		rt := &routeNote{}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, routeKey, rt)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			route := rt.pattern
			if route == "" {
				route = r.Pattern
			}
			if route == "" {
				route = "unmatched"
			}
			code := sw.code
			if code == 0 {
				// Nothing written: net/http answers 200, or the handler
				// panicked and the connection is dropped.
				code = http.StatusOK
			}
			d := time.Since(start)
			m.latency.With(route, methodLabel(r.Method), strconv.Itoa(code)).ObserveDuration(d)
			m.log.LogAttrs(ctx, slog.LevelDebug, "http request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("route", route), slog.Int("status", code),
				slog.Duration("duration", d))
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the status code. Unwrap lets
// http.ResponseController reach the real writer (flushing for SSE).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers that assert it directly.
func (s *statusWriter) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type ctxKey int

const (
	requestIDKey ctxKey = iota
	routeKey
)

type routeNote struct{ pattern string }

// NoteRoute records r.Pattern as the request's route for the latency
// metric, for a handler that routes with its own ServeMux (call it from
// the routed handler, where r.Pattern is the inner pattern).
func NoteRoute(r *http.Request) {
	if n, ok := r.Context().Value(routeKey).(*routeNote); ok && r.Pattern != "" {
		n.pattern = r.Pattern
	}
}

// RequestID returns the request id Wrap put in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ValidRequestID accepts up to 128 visible ASCII characters, so a client
// cannot inject line breaks or bulk into the logs (the API's rule too).
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// NewRequestID returns 24 random hex digits.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// LogHandler wraps h so that records logged with a request's context
// (logger.InfoContext(r.Context(), …)) carry its request_id.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return c.Handler.Handle(ctx, r)
}

func (c ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{c.Handler.WithAttrs(attrs)}
}

func (c ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{c.Handler.WithGroup(name)} }
