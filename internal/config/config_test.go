package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
)

func resolve(t *testing.T, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	res := Flags(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return res()
}

func TestIPNSettings(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.IPNAllowPrivate || c.IPNRetryWindow != 72*time.Hour || c.SMTPURL != "" || c.RefundAddressWait != 720*time.Hour {
		t.Errorf("defaults: allow private %v, retry window %v, smtp %q", c.IPNAllowPrivate, c.IPNRetryWindow, c.SMTPURL)
	}
	smtp := "smtp://kassa:s3cret@mail.example.com:587?from=kassa@example.com&tls=starttls"
	c, err = resolve(t, map[string]string{"KASSA_IPN_ALLOW_PRIVATE": "true", "KASSA_IPN_RETRY_WINDOW": "2h",
		"KASSA_SMTP_URL": smtp})
	if err != nil {
		t.Fatal(err)
	}
	if !c.IPNAllowPrivate || c.IPNRetryWindow != 2*time.Hour || c.SMTPURL != smtp {
		t.Errorf("from env: allow private %v, retry window %v, smtp %q", c.IPNAllowPrivate, c.IPNRetryWindow, c.SMTPURL)
	}
	if r := c.Redacted().SMTPURL; strings.Contains(r, "s3cret") || !strings.Contains(r, "mail.example.com") {
		t.Errorf("redacted SMTP URL %q", r)
	}
	c, err = resolve(t, nil, "--ipn-allow-private=yes", "--ipn-retry-window=30m")
	if err != nil || !c.IPNAllowPrivate || c.IPNRetryWindow != 30*time.Minute {
		t.Errorf("from flags: %+v, %v", c, err)
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KASSA_IPN_ALLOW_PRIVATE": "maybe"}, "KASSA_IPN_ALLOW_PRIVATE"},
		{map[string]string{"KASSA_IPN_RETRY_WINDOW": "3 days"}, "KASSA_IPN_RETRY_WINDOW"},
		{map[string]string{"KASSA_IPN_RETRY_WINDOW": "10s"}, "KASSA_IPN_RETRY_WINDOW"},
		{map[string]string{"KASSA_REFUND_ADDRESS_WAIT": "a month"}, "KASSA_REFUND_ADDRESS_WAIT"},
		{map[string]string{"KASSA_REFUND_ADDRESS_WAIT": "9000h"}, "KASSA_REFUND_ADDRESS_WAIT"},
		{map[string]string{"KASSA_SMTP_URL": "http://mail.example.com"}, "KASSA_SMTP_URL"},
		{map[string]string{"KASSA_SMTP_URL": "smtp://mail.example.com:587"}, "from="},
		{map[string]string{"KASSA_SMTP_URL": "smtp://mail.example.com?from=nobody"}, "not an email"},
		{map[string]string{"KASSA_SMTP_URL": "smtp://u:pw@mail.example.com?from=a@b.c&tls=ssl3"}, "tls="},
	}
	for _, b := range bad {
		_, err := resolve(t, b.env)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: error %v, want one mentioning %s", b.env, err, b.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks the SMTP password: %v", err)
		}
	}
}

func TestSignupSetting(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "false": false, "1": true, "off": false} {
		c, err := resolve(t, map[string]string{"KASSA_SIGNUP": v})
		if err != nil || c.Signup != want {
			t.Fatalf("KASSA_SIGNUP=%q: %v %v", v, c, err)
		}
	}
	if c, err := resolve(t, nil, "--signup=true"); err != nil || !c.Signup {
		t.Fatalf("--signup=true: %v", err)
	}
	if _, err := resolve(t, map[string]string{"KASSA_SIGNUP": "maybe"}); err == nil || !strings.Contains(err.Error(), "KASSA_SIGNUP") {
		t.Fatalf("KASSA_SIGNUP=maybe: %v", err)
	}
}

func TestDatabaseMaxConns(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil || c.DatabaseMaxConns != 16 {
		t.Fatalf("default: %v, %v", c, err)
	}
	if c, err = resolve(t, map[string]string{"KASSA_DATABASE_MAX_CONNS": "40"}); err != nil || c.DatabaseMaxConns != 40 {
		t.Fatalf("from env: %v, %v", c, err)
	}
	for _, v := range []string{"0", "1", "lots", "5000"} {
		if _, err := resolve(t, map[string]string{"KASSA_DATABASE_MAX_CONNS": v}); err == nil || !strings.Contains(err.Error(), "KASSA_DATABASE_MAX_CONNS") {
			t.Errorf("KASSA_DATABASE_MAX_CONNS=%s: %v, want an error naming the setting", v, err)
		}
	}
}

func TestInvoiceLimitsSetting(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil || c.InvoiceLimits != merchant.DefaultLimits {
		t.Fatalf("default: %+v, %v", c.InvoiceLimits, err)
	}
	if c, err = resolve(t, map[string]string{"KASSA_INVOICE_LIMITS": "off"}); err != nil || !c.InvoiceLimits.Unlimited() {
		t.Fatalf("off: %+v, %v", c.InvoiceLimits, err)
	}
	if c, err = resolve(t, nil, "--invoice-limits=5000/h,50/s"); err != nil ||
		c.InvoiceLimits != (merchant.Limits{PerHour: 5000, PerSecond: 50}) {
		t.Fatalf("from flags: %+v, %v", c.InvoiceLimits, err)
	}
	for _, v := range []string{"5/fortnight", "100", "0/h", "10/s,10/s"} {
		_, err := resolve(t, map[string]string{"KASSA_INVOICE_LIMITS": v})
		if err == nil || !strings.Contains(err.Error(), "KASSA_INVOICE_LIMITS") {
			t.Errorf("KASSA_INVOICE_LIMITS=%s: %v, want an error naming the setting", v, err)
		}
	}
}

// TestHotWalletPassphrase: from the environment or the first line of a
// file, never both, off when neither; no dump of the configuration shows
// it, and there is no flag for it.
func TestHotWalletPassphrase(t *testing.T) {
	const pass = "a long hot wallet passphrase"
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.HotWalletPassphrase(); p != nil || err != nil {
		t.Fatalf("unset: %q, %v", p, err)
	}
	c, err = resolve(t, map[string]string{HotWalletPassphraseEnv: pass})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.HotWalletPassphrase(); string(p) != pass || err != nil {
		t.Fatalf("from the environment: %q, %v", p, err)
	}
	for _, dump := range []string{fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c.Redacted())} {
		if strings.Contains(dump, pass) {
			t.Fatalf("the configuration dump shows the passphrase: %s", dump)
		}
	}
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte(pass+"\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = resolve(t, nil, "--hot-wallet-passphrase-file", file)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.HotWalletPassphrase(); string(p) != pass || err != nil {
		t.Fatalf("from a file: %q, %v", p, err)
	}
	if _, err := resolve(t, map[string]string{HotWalletPassphraseEnv: pass, "KASSA_HOT_WALLET_PASSPHRASE_FILE": file}); err == nil ||
		strings.Contains(err.Error(), pass) {
		t.Fatalf("both set: %v", err)
	}
	for _, s := range Settings {
		if s.Env() == HotWalletPassphraseEnv {
			t.Fatalf("the passphrase is a setting with a flag")
		}
	}
}
