package email

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

// The TLS modes. The default for smtp:// is STARTTLS, so credentials and
// invoices never cross the network in plain text unless the operator writes
// tls=none.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// anything else is sent; a server that does not offer it is refused.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (smtps://, port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone sends everything in plain text, AUTH included. Only for a
	// relay on the same host or a trusted network.
	TLSNone TLSMode = "none"
)

// DefaultTimeout bounds one delivery: connecting, the TLS handshake and the
// whole SMTP dialogue.
const DefaultTimeout = 30 * time.Second

// maxTimeout keeps a typo in the URL from parking the notifier for hours.
const maxTimeout = 10 * time.Minute

// Config is the SMTP server kassa sends merchant status mails through,
// usually parsed from a URL by ParseURL. Its String, GoString and LogValue
// methods never show the password.
type Config struct {
	// Host and Port address the SMTP server.
	Host string
	Port int
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN. AUTH is only sent over TLS unless TLS is TLSNone.
	Username string
	Password string
	// From is the sender, an RFC 5322 address ("kassa@example.com" or
	// "Kassa <kassa@example.com>"); it is also the envelope sender and
	// names the domain of every Message-ID.
	From string
	// TLS is the connection's protection; ParseURL always sets it.
	TLS TLSMode
	// HelloName is the name sent with EHLO; "localhost" when empty.
	HelloName string
	// Timeout bounds one delivery; DefaultTimeout when zero.
	Timeout time.Duration
	// TLSConfig, when set, is cloned for the handshake: a private CA
	// (RootCAs) or a test certificate. ServerName defaults to Host. It
	// cannot be set from a URL.
	TLSConfig *tls.Config
}

// queryKeys are the query parameters an email URL may carry.
var queryKeys = []string{"from", "tls", "helo", "timeout"}

// ParseURL parses an SMTP URL:
//
//	smtp://user:pass@host:port?from=kassa@example.com&tls=starttls|tls|none&helo=name&timeout=30s
//	smtps://user:pass@host:port?from=kassa@example.com
//
// The user and password are optional and percent-decoded; from is
// required. smtp:// defaults to STARTTLS on port 587 (25 with tls=none, 465
// with tls=tls); smtps:// means implicit TLS on port 465. Errors never
// contain the password.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return Config{}, fmt.Errorf("parse email URL: %s", urlError(err))
	}
	var c Config
	switch u.Scheme {
	case "smtp":
		c.TLS = TLSStartTLS
	case "smtps":
		c.TLS = TLSImplicit
	case "":
		return Config{}, errors.New("parse email URL: missing scheme, want smtp:// or smtps://")
	default:
		return Config{}, fmt.Errorf("parse email URL: scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return Config{}, fmt.Errorf("parse email URL: want %s://host, not %s:host", u.Scheme, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return Config{}, errors.New("parse email URL: an SMTP URL has no path")
	}
	if u.Fragment != "" {
		return Config{}, errors.New("parse email URL: an SMTP URL has no #fragment")
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return Config{}, errors.New("parse email URL: missing host")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("parse email URL: query: %s", urlError(err))
	}
	for k, v := range q {
		if !slices.Contains(queryKeys, k) {
			return Config{}, fmt.Errorf("parse email URL: unknown parameter %q (known: %s)", k, strings.Join(queryKeys, ", "))
		}
		if len(v) > 1 {
			return Config{}, fmt.Errorf("parse email URL: parameter %q given %d times", k, len(v))
		}
	}
	c.From = q.Get("from")
	c.HelloName = q.Get("helo")
	if q.Has("tls") {
		mode := TLSMode(strings.ToLower(q.Get("tls")))
		switch {
		case mode != TLSStartTLS && mode != TLSImplicit && mode != TLSNone:
			return Config{}, fmt.Errorf("parse email URL: tls=%q, want starttls, tls or none", q.Get("tls"))
		case u.Scheme == "smtps" && mode != TLSImplicit:
			return Config{}, fmt.Errorf("parse email URL: smtps:// always uses TLS, it cannot be combined with tls=%s", mode)
		}
		c.TLS = mode
	}
	if q.Has("timeout") {
		d, err := time.ParseDuration(q.Get("timeout"))
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("parse email URL: timeout=%q is not a positive duration such as 30s", q.Get("timeout"))
		}
		c.Timeout = d
	}

	switch port := u.Port(); {
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("parse email URL: port %q is not between 1 and 65535", port)
		}
		c.Port = n
	case c.TLS == TLSImplicit:
		c.Port = 465
	case c.TLS == TLSNone:
		c.Port = 25
	default:
		c.Port = 587
	}

	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("parse email URL: %w", err)
	}
	return c, nil
}

// urlError describes a net/url error without the URL itself, which may
// hold the password.
func urlError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return "invalid percent-encoding (write reserved characters in the user or password as %XX)"
	}
	return err.Error()
}

// Validate checks a Config made by hand; ParseURL's results always pass.
func (c Config) Validate() error {
	if c.Host == "" {
		return errors.New("missing SMTP host")
	}
	if strings.ContainsAny(c.Host, " /?#@") || hasControl(c.Host) {
		return fmt.Errorf("SMTP host %q is not a host name or address", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("SMTP port %d is not between 1 and 65535", c.Port)
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	case "":
		return errors.New("TLS mode not set, want starttls, tls or none")
	default:
		return fmt.Errorf("TLS mode %q, want starttls, tls or none", c.TLS)
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("SMTP password given without a user")
	}
	// AUTH PLAIN separates its fields with NUL, and the SMTP line with CRLF.
	if hasControl(c.Username) || hasControl(c.Password) {
		return errors.New("SMTP user or password contains control characters")
	}
	if c.From == "" {
		return errors.New("missing sender: add ?from=kassa@your-domain")
	}
	if _, err := parseAddress(c.From); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if c.HelloName != "" && !validHelloName(c.HelloName) {
		return fmt.Errorf("helo name %q is not a domain name or address literal", c.HelloName)
	}
	if c.Timeout < 0 || c.Timeout > maxTimeout {
		return fmt.Errorf("timeout %s is not between 0 and %s", c.Timeout, maxTimeout)
	}
	return nil
}

// validHelloName accepts a domain name or an address literal ([127.0.0.1]).
func validHelloName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-[]:", r)
		if !ok {
			return false
		}
	}
	return true
}

// Redacted returns the Config as a URL with the password replaced by
// "xxxxx", fit for logs and error messages.
func (c Config) Redacted() string {
	u := url.URL{Scheme: "smtp", Host: c.Host}
	if c.Port != 0 {
		u.Host = joinHostPort(c.Host, c.Port)
	}
	q := url.Values{}
	if c.TLS == TLSImplicit {
		u.Scheme = "smtps"
	} else if c.TLS != "" {
		q.Set("tls", string(c.TLS))
	}
	if c.Username != "" {
		if c.Password != "" {
			u.User = url.UserPassword(c.Username, "xxxxx")
		} else {
			u.User = url.User(c.Username)
		}
	}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.HelloName != "" {
		q.Set("helo", c.HelloName)
	}
	if c.Timeout != 0 {
		q.Set("timeout", c.Timeout.String())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// String returns Redacted, so printing a Config never leaks the password.
func (c Config) String() string { return c.Redacted() }

// GoString returns Redacted, for %#v.
func (c Config) GoString() string { return c.Redacted() }

// LogValue logs the Config as its redacted URL.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.Redacted()) }

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c Config) helloName() string {
	if c.HelloName == "" {
		return "localhost"
	}
	return c.HelloName
}

func (c Config) addr() string { return joinHostPort(c.Host, c.Port) }

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// tlsConfig returns the configuration for the handshake with the server.
func (c Config) tlsConfig() *tls.Config {
	t := &tls.Config{}
	if c.TLSConfig != nil {
		t = c.TLSConfig.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = c.Host
	}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}

// parseAddress parses one RFC 5322 address, refusing control characters
// before net/mail can read them as folding white space.
func parseAddress(s string) (*mail.Address, error) {
	if hasControl(s) {
		return nil, fmt.Errorf("address %q contains control characters", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	if hasControl(a.Name) || hasControl(a.Address) {
		return nil, fmt.Errorf("address %q contains control characters", s)
	}
	return a, nil
}
