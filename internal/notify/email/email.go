// Package email sends merchants the human-readable status mails BitPay
// sends to an invoice's notificationEmail (seed 004, spec §3.2 and §4.1):
// one mail per outbox event, saying in plain words what happened to the
// invoice, with its amounts, order, item and a link to it.
//
// A Mailer composes the mail from the event's invoice snapshot and hands
// it to one SMTP server (STARTTLS, implicit TLS, or plain text only when
// configured so) within a bounded time. Failures the server will repeat,
// 5xx replies and unusable recipients, wrap ErrPermanent so the notifier
// stops retrying them; everything else is worth another attempt. A retried
// mail keeps its Message-ID.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// ErrPermanent marks a failure that retrying cannot fix: the SMTP server
// rejected the mail with a 5xx reply, or the mail cannot be built (an
// invalid recipient, an invalid configuration). Match it with errors.Is.
var ErrPermanent = errors.New("permanent mail failure")

// Mailer sends status mails through one SMTP server. It is safe for
// concurrent use; every Mail opens its own connection.
type Mailer struct {
	cfg       Config
	cfgErr    error // why cfg is unusable, reported by every Mail
	from      *mail.Address
	publicURL string
	now       func() time.Time
	log       *slog.Logger
}

// Option configures a Mailer.
type Option func(*Mailer)

// WithPublicURL sets the base URL buyers and merchants reach kassa at
// (config PublicURL); mails link to {base}/invoice?id={id}. Without it
// mails carry no link. It must be an http(s) URL.
func WithPublicURL(base string) Option {
	return func(m *Mailer) { m.publicURL = strings.TrimRight(strings.TrimSpace(base), "/") }
}

// WithClock sets the clock the Date header is read from; time.Now by
// default.
func WithClock(now func() time.Time) Option { return func(m *Mailer) { m.now = now } }

// WithLogger sets the logger for the few things worth noting that are not
// errors (a QUIT that failed after the mail was accepted); slog.Default by
// default. The password is never logged.
func WithLogger(l *slog.Logger) Option { return func(m *Mailer) { m.log = l } }

// New returns a Mailer for cfg. An invalid cfg (or public URL) does not
// panic: every Mail then fails with ErrPermanent and the reason, so the
// caller reports it where it reports delivery failures. Check cfg with
// Validate first to fail at startup instead.
func New(cfg Config, opts ...Option) *Mailer {
	m := &Mailer{cfg: cfg, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(m)
	}
	if err := cfg.Validate(); err != nil {
		m.cfgErr = err
	} else if m.from, err = parseAddress(cfg.From); err != nil {
		m.cfgErr = err
	}
	if m.publicURL != "" {
		u, err := url.Parse(m.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			m.cfgErr = errors.Join(m.cfgErr, fmt.Errorf("public URL %q is not an http(s) URL", m.publicURL))
		}
	}
	if m.from == nil {
		m.from = &mail.Address{}
	}
	return m
}

// Mail sends the status mail for one outbox event of an invoice to the
// address to (the invoice's notificationEmail). The mail describes the
// invoice as ev.Snapshot recorded it at the event, or as inv when the
// event has no snapshot. Its Message-ID derives from ev.ID, so a retry of
// the same event is recognisably the same mail.
//
// Mail returns nil once the server has accepted the message. Errors say
// which step failed; they wrap ErrPermanent for 5xx replies and for mails
// that cannot be built, the server's *textproto.Error when it answered,
// and ctx's error when ctx ended or the Config's Timeout passed.
func (m *Mailer) Mail(ctx context.Context, to string, inv invoice.Invoice, ev store.OutboxEvent) error {
	invoiceID := firstNonEmpty(inv.ID, ev.SubjectID)
	msg, err := m.compose(to, inv, ev)
	if err != nil {
		return fmt.Errorf("compose mail for event %s of invoice %s: %w", ev.ID, invoiceID, err)
	}
	if err := m.send(ctx, msg); err != nil {
		return fmt.Errorf("mail event %s of invoice %s to %s via %s: %w", ev.ID, invoiceID, msg.to, m.cfg.addr(), err)
	}
	return nil
}

// send delivers one message within the configured timeout. The context
// bounds the dial and the TLS handshake directly; for the SMTP dialogue
// it pushes the connection's deadline into the past when it ends, which
// unblocks any read or write in progress.
func (m *Mailer) send(ctx context.Context, msg message) error {
	timeout := m.cfg.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(step string, err error) error {
		var reply *textproto.Error
		switch {
		case errors.As(err, &reply) && reply.Code >= 500 && reply.Code <= 599:
			return fmt.Errorf("%s: %w: %w", step, ErrPermanent, err)
		case errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ctx.Err()):
			return fmt.Errorf("%s: %w (limit %s): %w", step, ctx.Err(), timeout, err)
		case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
			return fmt.Errorf("%s: %w: %w", step, ctx.Err(), err)
		}
		return fmt.Errorf("%s: %w", step, err)
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.cfg.addr())
	if err != nil {
		return fail("connect", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if m.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, m.cfg.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fail("TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fail("read greeting", err)
	}
	defer func() { _ = c.Close() }() // after a successful QUIT this only reports the closed connection

	if err := c.Hello(m.cfg.helloName()); err != nil {
		return fail("EHLO", err)
	}
	if m.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("STARTTLS: the server does not offer it; refusing to continue in plain text (use tls=none to allow that)")
		}
		if err := c.StartTLS(m.cfg.tlsConfig()); err != nil {
			return fail("STARTTLS", err)
		}
	}
	if m.cfg.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && m.cfg.TLS != TLSNone {
			return errors.New("AUTH: refusing to send credentials without TLS")
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("AUTH: the server does not offer authentication but a user is configured")
		}
		auth := plainAuth{user: m.cfg.Username, pass: m.cfg.Password, plaintext: m.cfg.TLS == TLSNone}
		if err := c.Auth(auth); err != nil {
			return fail("AUTH PLAIN", err)
		}
	}
	if err := c.Mail(msg.from); err != nil {
		return fail("MAIL FROM", err)
	}
	if err := c.Rcpt(msg.to); err != nil {
		return fail("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := w.Write(msg.data); err != nil {
		_ = w.Close()
		return fail("send message", err)
	}
	// Close ends the data with CRLF.CRLF and reads the server's verdict.
	if err := w.Close(); err != nil {
		return fail("end of message", err)
	}
	// The mail is accepted now; a failing QUIT must not make the caller
	// send it again.
	if err := c.Quit(); err != nil && !errors.Is(err, io.EOF) {
		m.log.Debug("email: QUIT failed after the mail was accepted", "server", m.cfg.addr(), "message_id", msg.id, "err", err)
	}
	return nil
}

// plainAuth is AUTH PLAIN (RFC 4616). net/smtp's PlainAuth refuses plain
// text except to localhost; this one follows the Mailer's TLS rule, which
// permits plain text only for an explicit tls=none.
type plainAuth struct {
	user, pass string
	plaintext  bool
}

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.plaintext {
		return "", nil, errors.New("refusing to send credentials without TLS")
	}
	if !slices.ContainsFunc(server.Auth, func(m string) bool { return strings.EqualFold(m, "PLAIN") }) {
		return "", nil, fmt.Errorf("the server does not offer AUTH PLAIN (it offers %s)", strings.Join(server.Auth, " "))
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}
