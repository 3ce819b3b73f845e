package notify_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
)

// mailServer is a real SMTP server (go-smtp) on loopback that refuses the
// first reject messages with a temporary 451, then keeps what it receives.
type mailServer struct {
	mu     sync.Mutex
	reject int
	rcpts  []string // the recipients it knows
	got    []string
}

func (m *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct {
	m    *mailServer
	rcpt string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !slices.Contains(s.m.rcpts, to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.rcpt = to
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.reject > 0 {
		s.m.reject--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.m.got = append(s.m.got, string(b))
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func (m *mailServer) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

// TestStatusMailsOverSMTP drives status mails end to end: outbox →
// planner → worker → package email → a real SMTP server. A temporary
// refusal is retried through the outbox; a permanent one (unknown
// recipient) fails the delivery without retrying.
func TestStatusMailsOverSMTP(t *testing.T) {
	ms := &mailServer{reject: 1, rcpts: []string{"ops@shop.example"}}
	addr := startMailServer(t, ms)

	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	var good *invoice.Invoice
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", f.logs.String())
			if good != nil {
				t.Logf("good: %s", describe(f.deliveries(good.ID, store.ChannelEmail)))
			}
		}
	})
	good = f.create(invoice.Fields{NotificationEmail: "ops@shop.example", OrderID: "A-7"})
	bad := f.create(invoice.Fields{NotificationEmail: "nobody@shop.example"})
	for _, inv := range []*invoice.Invoice{good, bad} {
		if _, err := f.g.Act(context.Background(), inv.ID, invoice.Cancel{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := email.ParseURL("smtp://" + addr + "?from=kassa@shop.example&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	f.start(func(c *notify.Config) { c.Mailer = email.New(cfg, email.WithPublicURL(publicURL)) })

	waitFor(t, "the mail delivered after a 451", func() bool {
		return allIn(1, store.DeliveryDelivered)(f.deliveries(good.ID, store.ChannelEmail))
	})
	waitFor(t, "the mail to an unknown recipient failed", func() bool {
		return allIn(1, store.DeliveryFailed)(f.deliveries(bad.ID, store.ChannelEmail))
	})
	as := f.attempts(good.ID)
	if len(as) != 2 || !strings.Contains(as[0].Error, "451") || as[1].Error != "" {
		t.Fatalf("attempts of the retried mail: %+v", as)
	}
	if as := f.attempts(bad.ID); len(as) != 1 || !strings.Contains(as[0].Error, "550") {
		t.Fatalf("a permanent refusal must not be retried: %+v", as)
	}
	got := ms.received()
	if len(got) != 1 || !strings.Contains(got[0], "Subject: Invoice "+good.ID+" cancelled: 10.00 USD (order A-7)") ||
		!strings.Contains(got[0], "To: <ops@shop.example>") {
		t.Fatalf("received %d mails: %q", len(got), got)
	}
}
