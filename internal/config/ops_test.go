package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpsSettings(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != "off" || c.HTTPRedirect != "" || c.MetricsListen != "" || c.ACMEDirectory != LetsEncrypt || c.PublicURL != "http://127.0.0.1:8430" {
		t.Fatalf("defaults: %+v", c.Ops)
	}
	last := Settings[len(Settings)-1].Name
	if last != "config" {
		t.Fatalf("the config file setting must stay last, is %s", last)
	}

	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, []byte("x"), 0o600)
	os.WriteFile(key, []byte("x"), 0o600)

	// A certificate alone turns static TLS on; the default public URL
	// becomes https.
	c, err = resolve(t, map[string]string{"KASSA_TLS_CERT": cert, "KASSA_TLS_KEY": key, "KASSA_LISTEN": "0.0.0.0:8443"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != "static" || c.PublicURL != "https://0.0.0.0:8443" {
		t.Fatalf("static: %q %q", c.TLS, c.PublicURL)
	}

	// ACME: the redirect listener defaults to :80, the public URL to the
	// first domain (with the port when not 443); flags beat the
	// environment.
	c, err = resolve(t, map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "Pay.Example.com, shop.example.com",
		"KASSA_LISTEN": "0.0.0.0:443"}, "--acme-email", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS != "acme" || c.HTTPRedirect != ":80" || c.PublicURL != "https://pay.example.com" || c.ACMEEmail != "ops@example.com" ||
		strings.Join(c.Domains(), ",") != "pay.example.com,shop.example.com" {
		t.Fatalf("acme: %+v %q", c.Ops, c.PublicURL)
	}
	c, err = resolve(t, map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "pay.example.com", "KASSA_HTTP_REDIRECT": "off",
		"KASSA_METRICS_LISTEN": "127.0.0.1:9430"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPRedirect != "" || c.MetricsListen != "127.0.0.1:9430" || c.PublicURL != "https://pay.example.com:8430" {
		t.Fatalf("acme without redirect: %+v %q", c.Ops, c.PublicURL)
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown mode":       {map[string]string{"KASSA_TLS": "maybe"}, "KASSA_TLS"},
		"static, no key":     {map[string]string{"KASSA_TLS": "static", "KASSA_TLS_CERT": cert}, "KASSA_TLS_KEY"},
		"missing file":       {map[string]string{"KASSA_TLS_CERT": cert, "KASSA_TLS_KEY": filepath.Join(dir, "nope")}, "KASSA_TLS_KEY"},
		"off with a cert":    {map[string]string{"KASSA_TLS": "off", "KASSA_TLS_CERT": cert}, "KASSA_TLS=static"},
		"acme, no domain":    {map[string]string{"KASSA_TLS": "acme"}, "KASSA_ACME_DOMAINS"},
		"acme, an IP":        {map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "203.0.113.7"}, "not a domain"},
		"acme, bad email":    {map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "a.example", "KASSA_ACME_EMAIL": "nope"}, "KASSA_ACME_EMAIL"},
		"acme, http dir":     {map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "a.example", "KASSA_ACME_DIRECTORY": "http://x/dir"}, "KASSA_ACME_DIRECTORY"},
		"acme and a cert":    {map[string]string{"KASSA_TLS": "acme", "KASSA_ACME_DOMAINS": "a.example", "KASSA_TLS_CERT": cert}, "unset KASSA_TLS_CERT"},
		"http public URL":    {map[string]string{"KASSA_TLS_CERT": cert, "KASSA_TLS_KEY": key, "KASSA_PUBLIC_URL": "http://pay.example.com"}, "must be https"},
		"redirect, no TLS":   {map[string]string{"KASSA_HTTP_REDIRECT": ":80"}, "KASSA_HTTP_REDIRECT"},
		"bad metrics listen": {map[string]string{"KASSA_METRICS_LISTEN": "everywhere"}, "KASSA_METRICS_LISTEN"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := resolve(t, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}
