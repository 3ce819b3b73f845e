package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strings"
)

// Ops holds the settings for running kassa in production without a
// reverse proxy: built-in TLS (static certificate files or ACME) and where
// /metrics is served. Config embeds it.
type Ops struct {
	// TLS is off, static or acme after validation (KASSA_TLS). Left empty
	// it is static when KASSA_TLS_CERT is set, else off.
	TLS string
	// TLSCert and TLSKey are PEM files (KASSA_TLS_CERT, KASSA_TLS_KEY) for
	// TLS=static; they are re-read when they change, so a renewal by
	// certbot or the like needs no restart.
	TLSCert, TLSKey string
	// ACMEDomains are the names certificates are requested for
	// (KASSA_ACME_DOMAINS, comma-separated); see Domains.
	ACMEDomains string
	// ACMEEmail is the contact address for the ACME account
	// (KASSA_ACME_EMAIL), for expiry warnings.
	ACMEEmail string
	// ACMEDirectory is the ACME server's directory URL
	// (KASSA_ACME_DIRECTORY, default Let's Encrypt's production server).
	ACMEDirectory string
	// HTTPRedirect is the address of a plain-HTTP listener that redirects
	// to PublicURL and answers ACME http-01 challenges
	// (KASSA_HTTP_REDIRECT): ":80" by default with TLS=acme, none
	// otherwise; "off" turns it off.
	HTTPRedirect string
	// MetricsListen says where /metrics is served (KASSA_METRICS_LISTEN):
	// empty, on the main listener to clients on loopback and private
	// networks that did not come through a proxy; host:port, on a listener
	// of its own, to anyone who reaches it; "off", nowhere.
	MetricsListen string
}

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Domains returns the ACME domains, lower case, without blanks.
func (o Ops) Domains() []string {
	var out []string
	for _, d := range strings.Split(o.ACMEDomains, ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// init adds the rows of Ops to Settings, before the last row ("config").
func init() {
	last := Settings[len(Settings)-1]
	Settings = append(append(Settings[:len(Settings)-1:len(Settings)-1], opsSettings...), last)
}

// opsSettings are the Settings rows of Ops.
var opsSettings = []Setting{
	{"tls", "", "built-in TLS: off, static (KASSA_TLS_CERT and KASSA_TLS_KEY) or acme (KASSA_ACME_DOMAINS); default static when a certificate is set", func(c *Config) *string { return &c.TLS }},
	{"tls-cert", "", "TLS certificate chain (PEM file) for --tls=static; re-read when it changes", func(c *Config) *string { return &c.TLSCert }},
	{"tls-key", "", "TLS private key (PEM file) for --tls=static", func(c *Config) *string { return &c.TLSKey }},
	{"acme-domains", "", "domains to get certificates for with --tls=acme, comma-separated", func(c *Config) *string { return &c.ACMEDomains }},
	{"acme-email", "", "contact address for the ACME account (expiry warnings)", func(c *Config) *string { return &c.ACMEEmail }},
	{"acme-directory", LetsEncrypt, "ACME directory URL (Let's Encrypt's staging server for trials)", func(c *Config) *string { return &c.ACMEDirectory }},
	{"http-redirect", "", "plain-HTTP listener that redirects to https and answers ACME http-01 challenges (default :80 with --tls=acme; off to disable)", func(c *Config) *string { return &c.HTTPRedirect }},
	{"metrics-listen", "", "where /metrics is served: empty for the main listener (loopback and private clients only), host:port for its own listener, or off", func(c *Config) *string { return &c.MetricsListen }},
}

// checkOps validates and normalises the Ops settings of c, whose other
// fields are already validated.
func checkOps(c *Config) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", "KASSA_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")), fmt.Sprintf(format, args...)))
	}
	mode := strings.ToLower(c.TLS)
	if mode == "" {
		mode = "off"
		if c.TLSCert != "" {
			mode = "static"
		}
	}
	switch mode {
	case "off", "none", "false":
		mode = "off"
		if c.TLSCert != "" || c.TLSKey != "" {
			bad("tls", "is off, but KASSA_TLS_CERT or KASSA_TLS_KEY is set; set KASSA_TLS=static to use them")
		}
	case "static":
		if c.TLSCert == "" || c.TLSKey == "" {
			bad("tls", "static needs KASSA_TLS_CERT and KASSA_TLS_KEY")
		}
		for name, path := range map[string]string{"tls-cert": c.TLSCert, "tls-key": c.TLSKey} {
			if path == "" {
				continue
			}
			if _, err := os.Stat(path); err != nil {
				bad(name, "%v", err)
			}
		}
	case "acme":
		if c.TLSCert != "" || c.TLSKey != "" {
			bad("tls", "acme gets its own certificates; unset KASSA_TLS_CERT and KASSA_TLS_KEY")
		}
		domains := c.Domains()
		if len(domains) == 0 {
			bad("acme-domains", "acme needs at least one domain")
		}
		for _, d := range domains {
			if !validDomain(d) {
				bad("acme-domains", "%q is not a domain name", d)
			}
		}
		if c.ACMEEmail != "" {
			if _, err := mail.ParseAddress(c.ACMEEmail); err != nil {
				bad("acme-email", "%q is not an email address", c.ACMEEmail)
			}
		}
		if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("acme-directory", "%q is not an https URL", c.ACMEDirectory)
		}
		if c.HTTPRedirect == "" {
			c.HTTPRedirect = ":80"
		}
	default:
		bad("tls", "%q is not off, static or acme", c.TLS)
	}
	c.TLS = mode
	switch strings.ToLower(c.HTTPRedirect) {
	case "off", "none", "false":
		c.HTTPRedirect = ""
	case "":
	default:
		if mode == "off" {
			bad("http-redirect", "redirects to https, which needs KASSA_TLS")
		} else if _, _, err := net.SplitHostPort(c.HTTPRedirect); err != nil {
			bad("http-redirect", "%q is not host:port or off", c.HTTPRedirect)
		}
	}
	if mode != "off" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil:
		case c.PublicURL == "http://"+c.Listen:
			// The default public URL: make it the https one.
			host := c.Listen
			if mode == "acme" && len(c.Domains()) > 0 {
				host = c.Domains()[0]
				if _, port, err := net.SplitHostPort(c.Listen); err == nil && port != "443" {
					host = net.JoinHostPort(host, port)
				}
			}
			c.PublicURL = "https://" + host
		case u.Scheme != "https":
			bad("public-url", "%q must be https:// when kassa serves TLS", c.PublicURL)
		}
	}
	switch strings.ToLower(c.MetricsListen) {
	case "", "off":
		c.MetricsListen = strings.ToLower(c.MetricsListen)
	default:
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "%q is not host:port or off", c.MetricsListen)
		}
	}
	return errs
}

// validDomain accepts a DNS name of letters, digits and hyphens with at
// least one dot (ACME certifies no bare host names or addresses).
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") || net.ParseIP(d) != nil {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
