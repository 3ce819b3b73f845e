//go:build node

package cli

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/web"
)

// TestRefundPageInBrowser: a refund made without an address (through the
// refund service) mails its buyer through the outbox to this test's SMTP
// server on loopback; test/sdk/refund.test.mjs opens the link from that
// mail in headless Chromium, is refused the store's own address, gives
// the buyer's and sees the confirmation; the refund then has the address.
func TestRefundPageInBrowser(t *testing.T) {
	root, sdk, nodeBin := browserTools(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := kassatest.DBOn(t, kassatest.SQLite)
	st := kassatest.Store(t, db, func(s *merchant.Store) { s.Name = "Browser Refund Shop" })
	rs := kassatest.Rates(t)
	g := kassatest.Gateway(t, db, nil)
	refunds := gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: rs, Network: "regtest"})

	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	pages, err := web.New(web.Config{Store: db, Refunds: refunds, PublicURL: base, Network: "regtest", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	inbox, smtpURL := startInbox(t)
	mc, err := email.ParseURL(smtpURL)
	if err != nil {
		t.Fatal(err)
	}
	notifier, err := notify.New(notify.Config{Store: db, PublicURL: base, Mailer: email.New(mc, email.WithPublicURL(base)),
		Poll: 50 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = notifier.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	inv, err := g.CreateInvoice(ctx, st.ID, gateway.NewInvoice{Price: "10", Currency: "USD",
		Fields: invoice.Fields{Buyer: invoice.Buyer{Email: "jo@buyer.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	paid := kassatest.Pay(t, db, inv.ID, 20_000, 6)
	r, err := refunds.Create(ctx, st.ID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "5"})
	if err != nil {
		t.Fatal(err)
	}

	// The link, read from the mail the buyer got.
	var link string
	deadline := time.Now().Add(30 * time.Second)
	for link == "" {
		if time.Now().After(deadline) {
			t.Fatal("no mail to the buyer")
		}
		for _, m := range inbox.mails("jo@buyer.example") {
			link = refundLink(t, m, base)
		}
		time.Sleep(20 * time.Millisecond)
	}

	buyer := kassatest.Address(t, "browser buyer")
	artifacts := filepath.Join(root, "artifacts")
	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, nodeBin, "--test", "--test-reporter=spec", "refund.test.mjs")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "REFUND_LINK="+link, "REFUND_ADDRESS="+buyer,
		"STORE_ADDRESS="+paid.Method(invoice.MethodBTC).Destination, "CHROMIUM="+chromium, "ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	t.Logf("refund page browser test:\n%s", out)
	if err != nil {
		t.Fatalf("the refund page failed in the browser (screenshots in %s): %v", artifacts, err)
	}
	got, err := db.GetRefund(ctx, r.ID)
	if err != nil || got.Address != buyer || got.Status != "created" {
		t.Fatalf("the refund after the page: %+v, %v", got, err)
	}
}

// startInbox starts an SMTP server on loopback for the test and returns
// what it receives and kassa's KASSA_SMTP_URL for it.
func startInbox(t *testing.T) (*inbox, string) {
	t.Helper()
	in := &inbox{}
	srv := smtp.NewServer(in)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return in, "smtp://" + ln.Addr().String() + "?from=kassa@shop.example&tls=none"
}

// inbox is an SMTP server's backend that keeps every mail by recipient.
type inbox struct {
	mu  sync.Mutex
	got map[string][]string
}

func (b *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{b: b}, nil }

func (b *inbox) mails(to string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got[to]...)
}

type inboxSession struct {
	b   *inbox
	rcp []string
}

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcp = append(s.rcp, to)
	return nil
}
func (s *inboxSession) Data(r io.Reader) error {
	m, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.got == nil {
		s.b.got = map[string][]string{}
	}
	for _, to := range s.rcp {
		s.b.got[to] = append(s.b.got[to], string(m))
	}
	return nil
}
func (s *inboxSession) Reset()        { s.rcp = nil }
func (s *inboxSession) Logout() error { return nil }

// refundLink returns the refund page link in a mail's text part, "" if
// it has none.
func refundLink(t *testing.T, raw, base string) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	p, err := mr.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(regexp.QuoteMeta(base) + `/refund\?\S+`).FindString(string(text))
}
