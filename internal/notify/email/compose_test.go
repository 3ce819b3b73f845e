package email_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// composer is a Mailer for composing only; its server is never contacted.
func composer(t *testing.T) *email.Mailer {
	return newMailer(configFor(t, "smtp", "", "127.0.0.1:1", "tls=none"))
}

func compose(t *testing.T, m *email.Mailer, inv invoice.Invoice, ev store.OutboxEvent) parsed {
	t.Helper()
	raw, err := m.Compose(merchant, inv, ev)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	assertCRLF(t, raw)
	return parseMail(t, raw)
}

// TestComposeAmounts: fiat amounts carry their currency's ISO 4217
// precision and bitcoin amounts all eight decimals, computed from
// satoshis and decimals.
func TestComposeAmounts(t *testing.T) {
	tests := []struct {
		price, currency, rate string
		due                   money.Sats
		paid                  money.Sats
		want                  []string
	}{
		{"10", "USD", "55072.46", 18200, 18200, []string{
			"Price:          10.00 USD\r\n", "Paid:           0.00018200 BTC (10.02 USD at the invoice rate)\r\n"}},
		{"1500", "JPY", "9000000", 16667, 16667, []string{
			"Price:          1500 JPY\r\n", "Exchange rate:  1 BTC = 9000000 JPY\r\n", "(1500 JPY at the invoice rate)"}},
		{"1.5", "KWD", "20000.125", 7500, 7500, []string{"Price:          1.500 KWD\r\n", "(1.500 KWD at the invoice rate)"}},
		{"0.001", "BTC", "1", 100000, 100000, []string{"Price:          0.00100000 BTC\r\n", "Paid:           0.00100000 BTC\r\n"}},
		{"21000000", "USD", "1", 2_100_000_000_000_000, 2_100_000_000_000_000, []string{
			"Price:          21000000.00 USD\r\n", "Amount due:     21000000.00000000 BTC\r\n"}},
		{"7", "XYZ", "1", 700000000, 1, []string{"Price:          7 XYZ\r\n", "Paid:           0.00000001 BTC\r\n"}},
	}
	m := composer(t)
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			inv := testInvoice()
			inv.Price = decimal.RequireFromString(tt.price)
			inv.Currency = tt.currency
			inv.Bound().Rate = decimal.RequireFromString(tt.rate)
			inv.Bound().Due = tt.due
			inv.Payments[0].Amount = tt.paid
			p := compose(t, m, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
			for _, w := range tt.want {
				if !strings.Contains(p.text, w) {
					t.Errorf("text lacks %q:\n%s", w, p.text)
				}
			}
			if tt.currency == "BTC" && strings.Contains(p.text, "Exchange rate") {
				t.Errorf("a BTC invoice shows an exchange rate:\n%s", p.text)
			}
		})
	}
}

// TestComposeWording: each kind of event says what happened in words,
// with the amounts that matter for it.
func TestComposeWording(t *testing.T) {
	partial := testInvoice()
	partial.Status, partial.Exception = invoice.StatusExpired, invoice.ExceptionPaidPartial
	partial.Payments[0].Amount = 10000

	over := testInvoice()
	over.Exception = invoice.ExceptionPaidOver
	over.Payments[0].Amount = 20000

	late := testInvoice()
	late.Status, late.Exception = invoice.StatusExpired, invoice.ExceptionPaidLate
	late.Payments[0].Late = true

	invalid := testInvoice()
	invalid.Status = invoice.StatusInvalid

	cancelled := testInvoice()
	cancelled.Status, cancelled.Cancelled, cancelled.Payments = invoice.StatusExpired, true, nil

	reversed := testInvoice()
	reversed.Status = invoice.StatusNew
	reversed.Payments[0].Removed = true

	confirmed := testInvoice()
	confirmed.Status = invoice.StatusConfirmed

	tests := []struct {
		name    string
		inv     invoice.Invoice
		code    invoice.Code
		subject string
		want    []string
	}{
		{"confirmed", confirmed, invoice.CodeConfirmed, "confirmed: 10.00 USD (order 123)", []string{
			"is confirmed.", "transaction speed (medium)", "You can fulfil the order."}},
		{"partial", partial, invoice.CodeExpiredPartial, "expired, partly paid: 10.00 USD (order 123)", []string{
			"expired after a partial payment.", "The buyer paid 0.00010000 BTC of the 0.00018200 BTC due",
			"Status:         expired (paidPartial)\r\n", "Still due:      0.00008200 BTC (4.52 USD at the invoice rate)\r\n"}},
		{"overpaid", over, invoice.CodePaidInFull, "paid: 10.00 USD (order 123)", []string{
			"paid more than the amount due", "Overpaid by:    0.00001800 BTC (0.99 USD at the invoice rate)\r\n"}},
		{"paid after expiry", late, invoice.CodePaidAfterExpiry, "paid after expiry: 10.00 USD (order 123)", []string{
			"received a payment after it expired.", "0.00018200 BTC arrived after the payment window closed",
			"Late payments:  0.00018200 BTC\r\n", "(0.00018200 BTC, late)"}},
		{"invalid", invalid, invoice.CodeFailedToConfirm, "invalid: 10.00 USD (order 123)", []string{
			"is invalid: its payment did not confirm in time.", "Do not ship the order yet"}},
		{"cancelled", cancelled, invoice.CodeExpired, "cancelled: 10.00 USD (order 123)", []string{"was cancelled."}},
		{"reversed", reversed, invoice.CodePaymentReversed, "payment reversed: 10.00 USD (order 123)", []string{
			"has left the bitcoin network", "Reversed payments: 0.00018200 BTC\r\n", "(0.00018200 BTC, reversed)"}},
		{"unknown code", confirmed, invoice.Code(4242), "status confirmed: 10.00 USD (order 123)", []string{
			"changed status to confirmed."}},
	}
	m := composer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compose(t, m, tt.inv, eventFor(t, tt.inv, "ev1", tt.code))
			if want := "Invoice " + invoiceID + " " + tt.subject; p.subject != want {
				t.Errorf("Subject = %q, want %q", p.subject, want)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.text, w) {
					t.Errorf("text lacks %q:\n%s", w, p.text)
				}
			}
		})
	}
}

// TestComposeSnapshot: the mail describes the invoice as the event's
// snapshot recorded it, not as it is now.
func TestComposeSnapshot(t *testing.T) {
	atEvent := testInvoice()
	atEvent.Payments[0].Amount = 5000
	ev := eventFor(t, atEvent, "ev1", invoice.CodeReceivedPayment)
	now := testInvoice()
	now.Status = invoice.StatusComplete
	now.Fields.OrderID = "changed"
	m := composer(t)

	p := compose(t, m, now, ev)
	for _, w := range []string{"Paid:           0.00005000 BTC", "Order:          123\r\n"} {
		if !strings.Contains(p.text, w) {
			t.Errorf("text lacks %q:\n%s", w, p.text)
		}
	}

	// Without a snapshot the invoice passed in is described.
	ev.Snapshot = nil
	p = compose(t, m, now, ev)
	if !strings.Contains(p.text, "Order:          changed\r\n") {
		t.Errorf("text does not describe the invoice passed in:\n%s", p.text)
	}

	// A corrupt snapshot and no invoice: nothing to describe, permanently.
	ev.Snapshot = []byte(`{"ID":`)
	if _, err := m.Compose(merchant, invoice.Invoice{}, ev); !errors.Is(err, email.ErrPermanent) {
		t.Errorf("corrupt snapshot: err = %v, want ErrPermanent", err)
	}
}

// TestComposeHeaders: non-ASCII subjects are RFC 2047 encoded and long
// headers folded; mails without a public URL carry no link; Message-IDs
// stay well-formed whatever the event id looks like.
func TestComposeHeaders(t *testing.T) {
	m := composer(t)
	inv := testInvoice()
	inv.Fields.OrderID = "Bestellung 42 – Müller & Söhne, eine recht lange Bestellnummer"
	p := compose(t, m, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
	if want := "Invoice " + invoiceID + " paid: 10.00 USD (order " + inv.Fields.OrderID + ")"; p.subject != want {
		t.Errorf("Subject = %q, want %q", p.subject, want)
	}
	if !strings.Contains(p.rawHeader, "Subject: =?utf-8?q?") {
		t.Errorf("Subject not Q-encoded:\n%s", p.rawHeader)
	}
	for _, line := range strings.Split(strings.TrimSuffix(p.rawHeader, "\r\n"), "\r\n") {
		if len(line) > 998 || strings.IndexFunc(line, func(r rune) bool { return r > 127 }) >= 0 {
			t.Errorf("header line not 7-bit or too long: %q", line)
		}
	}

	bare := email.New(configFor(t, "smtp", "", "127.0.0.1:1", "tls=none"))
	p = compose(t, bare, inv, eventFor(t, inv, "ev1", invoice.CodePaidInFull))
	if strings.Contains(p.text, "View the invoice") || strings.Contains(p.html, "<a ") {
		t.Errorf("a link without a public URL:\n%s", p.text)
	}

	ev := eventFor(t, inv, "weird id <with> spaces@and\r\nstuff", invoice.CodePaidInFull)
	p1 := compose(t, m, inv, ev)
	p2 := compose(t, m, inv, ev)
	id := p1.header.Get("Message-Id")
	if id != p2.header.Get("Message-Id") || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") ||
		strings.ContainsAny(id[1:len(id)-1], "<> \r\n") {
		t.Errorf("Message-ID %q (then %q)", id, p2.header.Get("Message-Id"))
	}
}
