package email_test

import (
	"context"
	"crypto/tls"
	"errors"
	"mime"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify/email"
)

// TestMailDelivers sends the paid, expired and complete mails through a
// real SMTP server and checks what the merchant receives.
func TestMailDelivers(t *testing.T) {
	b := newBackend()
	addr := startServer(t, b, serverOpts{})
	m := newMailer(configFor(t, "smtp", "", addr, "tls=none"))

	expired := testInvoice()
	expired.Status = invoice.StatusExpired
	expired.Payments = nil
	complete := testInvoice()
	complete.Status = invoice.StatusComplete
	complete.Payments[0].Height = 100

	tests := []struct {
		name    string
		inv     invoice.Invoice
		code    invoice.Code
		subject string
		want    []string // in the text part
		notWant []string
	}{
		{
			name: "paid", inv: testInvoice(), code: invoice.CodePaidInFull,
			subject: "Invoice " + invoiceID + " paid: 10.00 USD (order 123)",
			want: []string{
				"Invoice " + invoiceID + " has been paid in full.",
				"not confirmed yet",
				"Status:         paid\r\n",
				"Order:          123\r\n",
				"Item:           Blue widget\r\n",
				"Price:          10.00 USD\r\n",
				"Amount due:     0.00018200 BTC\r\n",
				"Exchange rate:  1 BTC = 55072.46 USD\r\n",
				"Paid:           0.00018200 BTC (10.02 USD at the invoice rate)\r\n",
				"Transaction:    " + strings.Repeat("ab", 32) + ":1 (0.00018200 BTC)\r\n",
				"Event:          invoice_paidInFull (1003) at 2026-03-01 12:01:00 UTC\r\n",
				"View the invoice: " + publicURL + "/invoice?id=" + invoiceID + "\r\n",
			},
			notWant: []string{"Still due", "Overpaid"},
		},
		{
			name: "expired", inv: expired, code: invoice.CodeExpired,
			subject: "Invoice " + invoiceID + " expired: 10.00 USD (order 123)",
			want: []string{
				"Invoice " + invoiceID + " expired without payment.",
				"Do not ship the order",
				"Status:         expired\r\n",
				"Amount due:     0.00018200 BTC\r\n",
				"Expires:        2026-03-01 12:15:00 UTC\r\n",
			},
			notWant: []string{"Paid:", "Transaction:"},
		},
		{
			name: "complete", inv: complete, code: invoice.CodeCompleted,
			subject: "Invoice " + invoiceID + " complete: 10.00 USD (order 123)",
			want: []string{
				"Invoice " + invoiceID + " is complete.",
				"final",
				"Status:         complete\r\n",
				"Paid:           0.00018200 BTC (10.02 USD at the invoice rate)\r\n",
				"Event:          invoice_completed (1006)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := eventFor(t, tt.inv, "ev"+tt.name, tt.code)
			if err := m.Mail(context.Background(), merchant, tt.inv, ev); err != nil {
				t.Fatalf("Mail: %v", err)
			}
			r := receive(t, b)
			if r.from != "kassa@example.com" || len(r.to) != 1 || r.to[0] != merchant {
				t.Errorf("envelope from %q to %q", r.from, r.to)
			}
			assertCRLF(t, r.data)
			p := parseMail(t, r.data)
			if p.subject != tt.subject {
				t.Errorf("Subject = %q, want %q", p.subject, tt.subject)
			}
			wantHeaders := map[string]string{
				"From":           "<kassa@example.com>",
				"To":             "<" + merchant + ">",
				"Message-Id":     "<ev" + tt.name + "." + invoiceID + "@example.com>",
				"Mime-Version":   "1.0",
				"Auto-Submitted": "auto-generated",
				"X-Kassa-Event":  tt.code.Name(),
			}
			for k, want := range wantHeaders {
				if got := p.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			date, err := p.header.Date()
			if err != nil || !date.Equal(clock) {
				t.Errorf("Date = %v (%v), want %v", date, err, clock)
			}
			if p.parts != 2 {
				t.Errorf("%d parts, want text and html", p.parts)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.text, w) {
					t.Errorf("text part lacks %q:\n%s", w, p.text)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(p.text, w) {
					t.Errorf("text part has %q:\n%s", w, p.text)
				}
			}
			if !strings.Contains(p.html, `<a href="`+publicURL+`/invoice?id=`+invoiceID+`">`) {
				t.Errorf("html part lacks the invoice link:\n%s", p.html)
			}
		})
	}
}

// assertCRLF fails if a line of data ends in a bare LF or CR.
func assertCRLF(t *testing.T, data []byte) {
	t.Helper()
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			t.Fatalf("bare LF at byte %d", i)
		}
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			t.Fatalf("bare CR at byte %d", i)
		}
	}
}

// TestMailRetryKeepsMessageID proves a retried event is the same mail to
// the merchant's mail system, and a different event is not.
func TestMailRetryKeepsMessageID(t *testing.T) {
	b := newBackend()
	m := newMailer(configFor(t, "smtp", "", startServer(t, b, serverOpts{}), "tls=none"))
	inv := testInvoice()
	ev := eventFor(t, inv, "evRetry", invoice.CodePaidInFull)
	var ids []string
	for range 2 {
		if err := m.Mail(context.Background(), merchant, inv, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, parseMail(t, receive(t, b).data).header.Get("Message-Id"))
	}
	other := eventFor(t, inv, "evOther", invoice.CodeConfirmed)
	if err := m.Mail(context.Background(), merchant, inv, other); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, parseMail(t, receive(t, b).data).header.Get("Message-Id"))
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("retry changed the Message-ID: %q then %q", ids[0], ids[1])
	}
	if ids[2] == ids[0] {
		t.Errorf("another event reused Message-ID %q", ids[2])
	}
}

// TestMailRejections: 4xx replies are temporary, 5xx replies wrap
// ErrPermanent, at every step of the transaction.
func TestMailRejections(t *testing.T) {
	reply := func(code int, enh smtp.EnhancedCode) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "test says no"}
	}
	tests := []struct {
		name      string
		set       func(*backend)
		code      int
		permanent bool
	}{
		{"451 at DATA", func(b *backend) { b.dataErr = reply(451, smtp.EnhancedCode{4, 3, 0}) }, 451, false},
		{"451 at RCPT (greylisting)", func(b *backend) { b.rcptErr = reply(451, smtp.EnhancedCode{4, 7, 1}) }, 451, false},
		{"452 at MAIL", func(b *backend) { b.mailErr = reply(452, smtp.EnhancedCode{4, 3, 1}) }, 452, false},
		{"550 at RCPT", func(b *backend) { b.rcptErr = reply(550, smtp.EnhancedCode{5, 1, 1}) }, 550, true},
		{"554 at DATA", func(b *backend) { b.dataErr = reply(554, smtp.EnhancedCode{5, 7, 1}) }, 554, true},
		{"553 at MAIL", func(b *backend) { b.mailErr = reply(553, smtp.EnhancedCode{5, 7, 1}) }, 553, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend()
			tt.set(b)
			m := newMailer(configFor(t, "smtp", "", startServer(t, b, serverOpts{}), "tls=none"))
			inv := testInvoice()
			err := m.Mail(context.Background(), merchant, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
			if err == nil {
				t.Fatal("Mail succeeded")
			}
			if got := errors.Is(err, email.ErrPermanent); got != tt.permanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v, want %v; err: %v", got, tt.permanent, err)
			}
			var reply *textproto.Error
			if !errors.As(err, &reply) || reply.Code != tt.code {
				t.Errorf("err = %v, want the server's %d reply", err, tt.code)
			}
			nothingReceived(t, b)
		})
	}
}

// TestMailTimeout: a server that accepts the connection and never speaks
// fails the delivery at the configured timeout, as a temporary error.
func TestMailTimeout(t *testing.T) {
	addr, accepted := silentServer(t)
	cfg := configFor(t, "smtp", "", addr, "tls=none&timeout=200ms")
	m := newMailer(cfg)
	inv := testInvoice()
	err := m.Mail(context.Background(), merchant, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "200ms") {
		t.Errorf("err = %v, want it to name the configured 200ms limit", err)
	}
	if errors.Is(err, email.ErrPermanent) {
		t.Errorf("a timeout is temporary, got %v", err)
	}
	select {
	case <-accepted:
	case <-time.After(30 * time.Second):
		t.Error("the client never connected")
	}
}

// TestMailCancel: cancelling the caller's context unblocks a delivery
// stuck on a silent server.
func TestMailCancel(t *testing.T) {
	addr, accepted := silentServer(t)
	m := newMailer(configFor(t, "smtp", "", addr, "tls=none"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-accepted:
			cancel()
		case <-ctx.Done():
		}
	}()
	inv := testInvoice()
	err := m.Mail(ctx, merchant, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, email.ErrPermanent) {
		t.Errorf("cancellation is not permanent: %v", err)
	}
}

// TestMailTLSAndAuth covers STARTTLS, implicit TLS and AUTH PLAIN, and the
// rule that credentials never travel in plain text unless tls=none says so.
func TestMailTLSAndAuth(t *testing.T) {
	cert, roots := testCert(t)
	trusted := &tls.Config{RootCAs: roots}
	inv := testInvoice()

	type want struct {
		delivered bool
		tls       bool
		user      string
		permanent bool
		errHas    string
		auths     int32 // AUTH commands the server saw
	}
	tests := []struct {
		name     string
		server   serverOpts
		scheme   string
		userinfo string
		query    string
		tlsConf  *tls.Config
		want     want
	}{
		{
			name:   "STARTTLS with AUTH PLAIN",
			server: serverOpts{cert: &cert}, scheme: "smtp", userinfo: "kassa:s3cret%2Fpass", tlsConf: trusted,
			want: want{delivered: true, tls: true, user: "kassa", auths: 1},
		},
		{
			name:   "STARTTLS without AUTH",
			server: serverOpts{cert: &cert}, scheme: "smtp", tlsConf: trusted,
			want: want{delivered: true, tls: true},
		},
		{
			name:   "implicit TLS with AUTH PLAIN",
			server: serverOpts{cert: &cert, implicit: true}, scheme: "smtps", userinfo: "kassa:s3cret%2Fpass", tlsConf: trusted,
			want: want{delivered: true, tls: true, user: "kassa", auths: 1},
		},
		{
			name:   "wrong password is a permanent 535",
			server: serverOpts{cert: &cert}, scheme: "smtp", userinfo: "kassa:wrong", tlsConf: trusted,
			want: want{permanent: true, errHas: "535", auths: 1},
		},
		{
			name:   "STARTTLS not offered: no downgrade, no credentials sent",
			server: serverOpts{insecureAuths: true}, scheme: "smtp", userinfo: "kassa:s3cret%2Fpass", tlsConf: trusted,
			want: want{errHas: "STARTTLS"},
		},
		{
			name:   "untrusted certificate",
			server: serverOpts{cert: &cert}, scheme: "smtp", userinfo: "kassa:s3cret%2Fpass",
			want: want{errHas: "certificate"},
		},
		{
			name:   "explicit tls=none allows AUTH in plain text",
			server: serverOpts{insecureAuths: true}, scheme: "smtp", userinfo: "kassa:s3cret%2Fpass", query: "tls=none",
			want: want{delivered: true, user: "kassa", auths: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend()
			b.user, b.pass = "kassa", "s3cret/pass"
			b.requireAuth = tt.userinfo != ""
			addr := startServer(t, b, tt.server)
			cfg := configFor(t, tt.scheme, tt.userinfo, addr, tt.query)
			cfg.TLSConfig = tt.tlsConf
			err := newMailer(cfg).Mail(context.Background(), merchant, inv, eventFor(t, inv, "ev1", invoice.CodeConfirmed))
			if tt.want.delivered {
				if err != nil {
					t.Fatalf("Mail: %v", err)
				}
				r := receive(t, b)
				if r.tls != tt.want.tls || r.user != tt.want.user {
					t.Errorf("session tls=%v user=%q, want tls=%v user=%q", r.tls, r.user, tt.want.tls, tt.want.user)
				}
			} else {
				if err == nil {
					t.Fatal("Mail succeeded")
				}
				if got := errors.Is(err, email.ErrPermanent); got != tt.want.permanent {
					t.Errorf("errors.Is(err, ErrPermanent) = %v, want %v: %v", got, tt.want.permanent, err)
				}
				if !strings.Contains(err.Error(), tt.want.errHas) {
					t.Errorf("err = %v, want it to mention %q", err, tt.want.errHas)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error leaks the password: %v", err)
				}
				nothingReceived(t, b)
			}
			if got := b.auths.Load(); got != tt.want.auths {
				t.Errorf("server saw %d AUTH commands, want %d", got, tt.want.auths)
			}
		})
	}
}

// TestMailHeaderInjection: CR and LF in merchant-supplied fields cannot
// add headers or recipients, and a recipient with CR/LF is refused before
// any connection is made.
func TestMailHeaderInjection(t *testing.T) {
	b := newBackend()
	m := newMailer(configFor(t, "smtp", "", startServer(t, b, serverOpts{}), "tls=none"))
	inv := testInvoice()
	inv.Fields.OrderID = "123\r\nBcc: victim@example.org"
	inv.Fields.ItemDesc = "Widget\r\n\r\n--fake\r\nContent-Type: text/html\r\n\r\n<h1>owned</h1>\nX-Injected: yes"
	inv.Fields.ItemCode = "sku\rX-Also: yes"
	ev := eventFor(t, inv, "ev1", invoice.CodePaidInFull)
	ev.Name = "invoice_paidInFull\r\nX-Event-Injected: yes"
	if err := m.Mail(context.Background(), merchant, inv, ev); err != nil {
		t.Fatal(err)
	}
	r := receive(t, b)
	if len(r.to) != 1 || r.to[0] != merchant {
		t.Errorf("recipients %q, want only %s", r.to, merchant)
	}
	p := parseMail(t, r.data)
	for _, h := range []string{"Bcc", "X-Injected", "X-Also", "X-Event-Injected"} {
		if v, ok := p.header[textproto.CanonicalMIMEHeaderKey(h)]; ok {
			t.Errorf("injected header %s: %q", h, v)
		}
	}
	for _, line := range strings.Split(p.rawHeader, "\r\n") {
		if strings.Contains(line, "Bcc:") && !strings.HasPrefix(line, "Subject:") && !strings.HasPrefix(line, " ") {
			t.Errorf("header line %q", line)
		}
	}
	if want := "Invoice " + invoiceID + " paid: 10.00 USD (order 123 Bcc: victim@example.org)"; p.subject != want {
		t.Errorf("Subject = %q, want %q", p.subject, want)
	}
	if p.parts != 2 {
		t.Errorf("%d MIME parts, want 2: the item description must not add one", p.parts)
	}
	if want := "Item:           Widget --fake Content-Type: text/html <h1>owned</h1> X-Injected: yes\r\n"; !strings.Contains(p.text, want) {
		t.Errorf("text part lacks the flattened item %q:\n%s", want, p.text)
	}

	for _, to := range []string{
		merchant + "\r\nBcc: victim@example.org",
		merchant + "\nRCPT TO:<victim@example.org>",
		"a@example.com, victim@example.org",
		"not an address",
	} {
		before := b.sessions.Load()
		err := m.Mail(context.Background(), to, inv, ev)
		if !errors.Is(err, email.ErrPermanent) {
			t.Errorf("Mail to %q: err = %v, want ErrPermanent", to, err)
		}
		if b.sessions.Load() != before {
			t.Errorf("Mail to %q talked to the server", to)
		}
	}
	nothingReceived(t, b)
}

// TestMailHTMLEscaped: markup in merchant fields reaches the HTML part
// only as text.
func TestMailHTMLEscaped(t *testing.T) {
	b := newBackend()
	m := newMailer(configFor(t, "smtp", "", startServer(t, b, serverOpts{}), "tls=none"))
	inv := testInvoice()
	inv.Fields.ItemDesc = `<script>alert("x")</script>`
	inv.Fields.OrderID = `"><img src=x onerror=alert(1)>`
	if err := m.Mail(context.Background(), merchant, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull)); err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, receive(t, b).data)
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(p.html, bad) {
			t.Errorf("html part contains %q:\n%s", bad, p.html)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("html part lacks %q:\n%s", want, p.html)
		}
	}
	// The text part is not HTML: it shows the text as written.
	if !strings.Contains(p.text, `<script>alert("x")</script>`) {
		t.Errorf("text part lacks the item as written:\n%s", p.text)
	}
}

// TestMailDotStuffing: body lines starting with a dot survive the SMTP
// transfer (the client stuffs them, the server unstuffs them).
func TestMailDotStuffing(t *testing.T) {
	b := newBackend()
	m := newMailer(configFor(t, "smtp", "", startServer(t, b, serverOpts{}), "tls=none"))
	inv := testInvoice()
	inv.Fields.ItemDesc = strings.Repeat(".", 250)
	ev := eventFor(t, inv, "ev1", invoice.CodePaidInFull)
	composed, err := m.Compose(merchant, inv, ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(composed), "\r\n.") {
		t.Fatal("test premise: the composed mail should have a line starting with a dot")
	}
	if err := m.Mail(context.Background(), merchant, inv, ev); err != nil {
		t.Fatal(err)
	}
	r := receive(t, b)
	// The mails differ only in their random MIME boundary.
	if got, want := withoutBoundary(t, r.data), withoutBoundary(t, composed); got != want {
		t.Errorf("received mail differs from the composed one:\n%s\n---- want ----\n%s", got, want)
	}
	if p := parseMail(t, r.data); !strings.Contains(p.text, "Item:           "+strings.Repeat(".", 250)+"\r\n") {
		t.Errorf("text part lost dots:\n%s", p.text)
	}
}

func withoutBoundary(t *testing.T, data []byte) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(parseMail(t, data).header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		t.Fatalf("no boundary: %v", err)
	}
	return strings.ReplaceAll(string(data), params["boundary"], "BOUNDARY")
}

// TestMailBadConfig: a Mailer built from an invalid Config fails every
// Mail permanently, without touching the network.
func TestMailBadConfig(t *testing.T) {
	inv := testInvoice()
	ev := eventFor(t, inv, "ev1", invoice.CodePaidInFull)
	for name, m := range map[string]*email.Mailer{
		"no sender":  email.New(email.Config{Host: "127.0.0.1", Port: 25, TLS: email.TLSNone}),
		"no TLS set": email.New(email.Config{Host: "127.0.0.1", Port: 25, From: "kassa@example.com"}),
		"bad public URL": email.New(email.Config{Host: "127.0.0.1", Port: 25, From: "kassa@example.com", TLS: email.TLSNone},
			email.WithPublicURL("javascript:alert(1)")),
	} {
		err := m.Mail(context.Background(), merchant, inv, ev)
		if !errors.Is(err, email.ErrPermanent) {
			t.Errorf("%s: err = %v, want ErrPermanent", name, err)
		}
	}
}
