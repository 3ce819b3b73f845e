package email_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/notify/email"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want email.Config
	}{
		{"smtp://mail.example.com?from=kassa@example.com", email.Config{
			Host: "mail.example.com", Port: 587, From: "kassa@example.com", TLS: email.TLSStartTLS}},
		{"smtps://mail.example.com?from=kassa@example.com", email.Config{
			Host: "mail.example.com", Port: 465, From: "kassa@example.com", TLS: email.TLSImplicit}},
		{"smtp://mail.example.com?from=kassa@example.com&tls=tls", email.Config{
			Host: "mail.example.com", Port: 465, From: "kassa@example.com", TLS: email.TLSImplicit}},
		{"smtp://localhost?from=kassa@example.com&tls=none", email.Config{
			Host: "localhost", Port: 25, From: "kassa@example.com", TLS: email.TLSNone}},
		{"SMTP://u%40example.com:p%3Aa%2Fss%40@mail.example.com:2525/?from=Kassa+%3Ckassa@example.com%3E&tls=STARTTLS&helo=kassa.example.com&timeout=5s",
			email.Config{Host: "mail.example.com", Port: 2525, Username: "u@example.com", Password: "p:a/ss@",
				From: "Kassa <kassa@example.com>", TLS: email.TLSStartTLS, HelloName: "kassa.example.com", Timeout: 5 * time.Second}},
		{"smtps://apikey:secret@[::1]:465?from=kassa@example.com", email.Config{
			Host: "::1", Port: 465, Username: "apikey", Password: "secret", From: "kassa@example.com", TLS: email.TLSImplicit}},
		{"  smtp://relay?from=a@b.example  ", email.Config{Host: "relay", Port: 587, From: "a@b.example", TLS: email.TLSStartTLS}},
	}
	for _, tt := range tests {
		got, err := email.ParseURL(tt.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) =\n %#v, want\n %#v (passwords %q, %q)", tt.url, got, tt.want, got.Password, tt.want.Password)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	const pw = "hunter2secret"
	tests := []struct{ url, errHas string }{
		{"", "missing scheme"},
		{"mail.example.com", "missing scheme"},
		{"http://u:" + pw + "@mail.example.com?from=a@b.example", "not smtp"},
		{"smtp:mail.example.com", "want smtp://host"},
		{"smtp://u:" + pw + "@?from=a@b.example", "missing host"},
		{"smtp://u:" + pw + "@mail.example.com", "missing sender"},
		{"smtp://u:" + pw + "@mail.example.com?from=not-an-address", "sender"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example%0D%0ABcc:c@d.example", "control characters"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&tls=ssl", `tls="ssl"`},
		{"smtps://u:" + pw + "@mail.example.com?from=a@b.example&tls=starttls", "smtps:// always uses TLS"},
		{"smtps://u:" + pw + "@mail.example.com?from=a@b.example&tls=none", "smtps:// always uses TLS"},
		{"smtp://:" + pw + "@mail.example.com?from=a@b.example", "password given without a user"},
		{"smtp://u:" + pw + "%0D%0A@mail.example.com?from=a@b.example", "control characters"},
		{"smtp://u:" + pw + "@mail.example.com:0?from=a@b.example", "port"},
		{"smtp://u:" + pw + "@mail.example.com:70000?from=a@b.example", "port"},
		{"smtp://u:" + pw + "@mail.example.com:smtp?from=a@b.example", "port"},
		{"smtp://u:" + pw + "@mail.example.com/inbox?from=a@b.example", "no path"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example#x", "fragment"},
		{"smtp://u:" + pw + "@mail.example.com?form=a@b.example", `unknown parameter "form"`},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&from=c@d.example", "given 2 times"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&timeout=soon", "timeout"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&timeout=-1s", "timeout"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&timeout=2h", "timeout"},
		{"smtp://u:" + pw + "@mail.example.com?from=a@b.example&helo=bad%20name", "helo"},
		{"smtp://u:" + pw + "%zz@mail.example.com?from=a@b.example", "percent-encoding"},
	}
	for _, tt := range tests {
		_, err := email.ParseURL(tt.url)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", tt.url)
			continue
		}
		if !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("ParseURL(%q) = %v, want it to mention %q", tt.url, err, tt.errHas)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "hunter") {
			t.Errorf("ParseURL(%q) error leaks the password: %v", tt.url, err)
		}
	}
}

// TestConfigRedacted: however a Config is printed or logged, the password
// does not appear, and the redacted URL parses back to the same settings.
func TestConfigRedacted(t *testing.T) {
	const pw = "p:a/ss@hunter2"
	cfg, err := email.ParseURL("smtp://user:p%3Aa%2Fss%40hunter2@mail.example.com:2525?from=kassa@example.com&timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	red := cfg.Redacted()
	if want := "smtp://user:xxxxx@mail.example.com:2525?from=kassa%40example.com&timeout=5s&tls=starttls"; red != want {
		t.Errorf("Redacted() = %q, want %q", red, want)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "email", cfg)
	for name, s := range map[string]string{
		"Redacted": red, "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg), "slog": logged.String(),
	} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "p%3Aa") {
			t.Errorf("%s shows the password: %s", name, s)
		}
	}
	back, err := email.ParseURL(red)
	if err != nil {
		t.Fatalf("ParseURL(Redacted()): %v", err)
	}
	back.Password = pw
	if back != cfg {
		t.Errorf("round trip: %#v, want %#v", back, cfg)
	}

	for url, want := range map[string]string{
		"smtps://mail.example.com?from=kassa@example.com":                    "smtps://mail.example.com:465?from=kassa%40example.com",
		"smtp://apikey@relay.example.com?from=kassa@example.com&tls=none":    "smtp://apikey@relay.example.com:25?from=kassa%40example.com&tls=none",
		"smtp://[::1]:2525?from=kassa@example.com&tls=none&helo=kassa.local": "smtp://[::1]:2525?from=kassa%40example.com&helo=kassa.local&tls=none",
	} {
		cfg, err := email.ParseURL(url)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", url, err)
		}
		if got := cfg.Redacted(); got != want {
			t.Errorf("Redacted() of %q = %q, want %q", url, got, want)
		}
	}
}
