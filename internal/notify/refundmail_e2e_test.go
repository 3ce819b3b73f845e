package notify_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestRefundMailsOverSMTP: a refund made without an address mails its
// buyer the link to the refund page (with the refund's address secret, on
// the public URL) and its merchant a notice; once paid, both hear of it,
// the buyer with the transaction. Through the outbox and a real SMTP
// server on loopback, on both databases; no secret in the logs.
func TestRefundMailsOverSMTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ms := &mailServer{reject: 1, rcpts: []string{"ops@shop.example", "jo@buyer.example"}}
		addr := startMailServer(t, ms)
		f := newFixture(t, b.URL(t), invoice.SpeedMedium)
		ctx := context.Background()
		inv := f.create(invoice.Fields{NotificationEmail: "ops@shop.example", OrderID: "A-9",
			Buyer: invoice.Buyer{Email: "jo@buyer.example"}})
		kassatest.Pay(t, f.db, inv.ID, 20_000, 6)
		refunds := gateway.NewRefunds(gateway.RefundsConfig{Store: f.db, Rates: f.rs, Network: "regtest"})
		r, err := refunds.Create(ctx, f.storeID, gateway.NewRefund{InvoiceID: inv.ID, Amount: "5"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := email.ParseURL("smtp://" + addr + "?from=kassa@shop.example&tls=none")
		if err != nil {
			t.Fatal(err)
		}
		f.start(func(c *notify.Config) { c.Mailer = email.New(cfg, email.WithPublicURL(publicURL)) })

		waitFor(t, "both refund_created mails", func() bool { return len(refundMails(ms)) == 2 })
		buyer, merchant := byRecipient(t, refundMails(ms), "jo@buyer.example")
		link := notify.RefundPageURL(publicURL, r.ID, r.AddressSecret)
		if !strings.Contains(buyer.subject, "Shop is refunding you") || !strings.Contains(buyer.text, link) ||
			!strings.Contains(buyer.html, strings.ReplaceAll(link, "&", "&amp;")) ||
			!strings.Contains(buyer.text, "0.00010000 BTC (5.00 USD)") {
			t.Fatalf("buyer's mail: %s\n%s", buyer.subject, buyer.text)
		}
		if got := linkIn(t, buyer.text); got.Query().Get("id") != r.ID || got.Query().Get("t") != r.AddressSecret || got.Path != "/refund" {
			t.Fatalf("the link %s", got)
		}
		if merchant.subject != "Refund "+r.ID+" created: 0.00010000 BTC (5.00 USD)" ||
			!strings.Contains(merchant.text, "mailed the buyer a link") || strings.Contains(merchant.text+merchant.html, r.AddressSecret) {
			t.Fatalf("merchant's mail: %s\n%s", merchant.subject, merchant.text)
		}

		// The buyer gives an address (no mail: nothing to tell), the
		// refund is paid: both are told, the buyer with the transaction.
		if _, err := refunds.SetBuyerAddress(ctx, r.ID, r.AddressSecret, kassatest.Address(t, "buyer")); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		cur, _ := f.db.GetRefund(ctx, r.ID)
		for _, ev := range []refund.Event{refund.Broadcast{TxID: "ab12", Fee: 300}, refund.Confirmed{}} {
			next, notes, err := refund.Apply(cur, ev, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.db.Unit(ctx, func(u *store.Unit) error { return u.Refund(&next, notes) }); err != nil {
				t.Fatal(err)
			}
			cur = next
		}
		waitFor(t, "both refund_success mails", func() bool { return len(refundMails(ms)) == 4 })
		buyer, merchant = byRecipient(t, refundMails(ms)[2:], "jo@buyer.example")
		if buyer.subject != "Your refund from Shop was sent" || !strings.Contains(buyer.text, "ab12") ||
			strings.Contains(buyer.text, "/refund?") {
			t.Fatalf("buyer's refund_success mail: %s\n%s", buyer.subject, buyer.text)
		}
		if !strings.HasPrefix(merchant.subject, "Refund "+r.ID+" paid") {
			t.Fatalf("merchant's refund_success mail: %s", merchant.subject)
		}
		waitFor(t, "the four mails recorded delivered", func() bool {
			return allIn(4, store.DeliveryDelivered)(f.deliveries(r.ID, store.ChannelEmail))
		})
		if strings.Contains(f.logs.String(), r.AddressSecret) {
			t.Fatal("the address secret is in the log")
		}
	})
}

// refundMails returns the refund mails ms received (the invoice's status
// mails go to the merchant too).
func refundMails(ms *mailServer) []string {
	var out []string
	for _, m := range ms.received() {
		if strings.Contains(m, "X-Kassa-Refund:") {
			out = append(out, m)
		}
	}
	return out
}

// startMailServer serves ms on a loopback port until the test ends.
func startMailServer(t *testing.T, ms *mailServer) string {
	t.Helper()
	srv := smtp.NewServer(ms)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// caught is a received mail, decoded.
type caught struct{ to, subject, text, html string }

// byRecipient decodes two mails and returns the one to buyer first.
func byRecipient(t *testing.T, raw []string, buyer string) (caught, caught) {
	t.Helper()
	if len(raw) != 2 {
		t.Fatalf("%d mails", len(raw))
	}
	a, b := decodeMail(t, raw[0]), decodeMail(t, raw[1])
	if strings.Contains(b.to, buyer) {
		a, b = b, a
	}
	if !strings.Contains(a.to, buyer) || strings.Contains(b.to, buyer) {
		t.Fatalf("mails to %s and %s", a.to, b.to)
	}
	return a, b
}

// decodeMail reads a multipart/alternative mail's parts.
func decodeMail(t *testing.T, raw string) caught {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	c := caught{to: m.Header.Get("To"), subject: subject}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			c.html = string(body)
		} else {
			c.text = string(body)
		}
	}
	return c
}

// linkIn returns the refund page link in a mail's text.
func linkIn(t *testing.T, text string) *url.URL {
	t.Helper()
	i := strings.Index(text, publicURL+"/refund?")
	if i < 0 {
		t.Fatalf("no link in %s", text)
	}
	u, err := url.Parse(strings.Fields(text[i:])[0])
	if err != nil {
		t.Fatal(err)
	}
	return u
}
