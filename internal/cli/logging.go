package cli

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/metrics"
)

// newLogger returns kassa's logger writing to w (see logHandler).
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	return slog.New(logHandler(w, cfg, isTerminalWriter(w)))
}

// logHandler is kassa's log handler: text on a terminal (tty) and JSON
// otherwise (KASSA_LOG_FORMAT=auto; text or json force one), at
// KASSA_LOG_LEVEL; records logged with a request's context carry its
// request_id; secrets are masked on the way out (redactAttr).
func logHandler(w io.Writer, cfg *config.Config, tty bool) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	format := cfg.LogFormat
	if format == "auto" || format == "" {
		format = "json"
		if tty {
			format = "text"
		}
	}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return metrics.LogHandler(h)
}

// secretKeys are attribute keys whose values are never logged.
var secretKeys = []string{"password", "passwd", "pass", "secret", "token", "authorization", "cookie", "apikey", "api_key", "private_key", "xprv"}

// urlPassword finds the password of a URL's userinfo: scheme://user:PASS@.
var urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"]*:)[^@\s"/]+@`)

// redactAttr masks secrets in log records: the value of an attribute
// named like a secret (password, token, authorization…), and URL passwords
// in any string or error (rpc://user:PASS@host as in KASSA_CHAIN or a
// database URL in an error message).
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if key == s || strings.HasSuffix(key, "_"+s) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, redactURLs(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); strings.Contains(s, "://") {
				return slog.String(a.Key, redactURLs(s))
			}
		}
	}
	return a
}

// redactURLs masks the passwords of the URLs in s.
func redactURLs(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}xxxxx@")
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// isTerminal reports whether f is a terminal (a character device other
// than /dev/null, which services often get as stdin or stderr).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
