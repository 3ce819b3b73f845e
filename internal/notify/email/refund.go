package email

// This file is the refund mails: to the buyer, asking for a bitcoin
// address (the link to the refund page) and saying when the refund was
// paid; to the merchant, saying a refund was made, paid or failed.

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// RefundMail is one mail about a refund event.
type RefundMail struct {
	To string
	// Buyer makes it the buyer's mail; otherwise it is the merchant's.
	Buyer bool
	// Refund is the refund at the event; Event the outbox event.
	Refund refund.Refund
	Event  store.OutboxEvent
	// StoreName and OrderID say whose refund it is.
	StoreName string
	OrderID   string
	// Link is the buyer's refund page, secret included, in the mail that
	// asks the buyer for an address; "" in every other mail. It is never
	// logged.
	Link string
}

// MailRefund sends a refund mail. Its Message-ID derives from the event
// and the recipient's role, so a retry is recognisably the same mail and
// the buyer's and the merchant's mails of one event are two mails.
// Errors are Mail's.
func (m *Mailer) MailRefund(ctx context.Context, rm RefundMail) error {
	msg, err := m.composeRefund(rm)
	if err != nil {
		return fmt.Errorf("compose mail for event %s of refund %s: %w", rm.Event.ID, rm.Refund.ID, err)
	}
	if err := m.send(ctx, msg); err != nil {
		return fmt.Errorf("mail event %s of refund %s to %s via %s: %w", rm.Event.ID, rm.Refund.ID, msg.to, m.cfg.addr(), err)
	}
	return nil
}

// ComposeRefund returns the refund mail MailRefund would send.
func (m *Mailer) ComposeRefund(rm RefundMail) ([]byte, error) {
	msg, err := m.composeRefund(rm)
	return msg.data, err
}

func (m *Mailer) composeRefund(rm RefundMail) (message, error) {
	if m.cfgErr != nil {
		return message{}, fmt.Errorf("%w: email configuration: %w", ErrPermanent, m.cfgErr)
	}
	rcpt, err := parseAddress(strings.TrimSpace(rm.To))
	if err != nil {
		return message{}, fmt.Errorf("%w: recipient: %w", ErrPermanent, err)
	}
	v := describeRefund(rm)
	role := "merchant"
	if rm.Buyer {
		role = "buyer"
	}
	id := messageID(rm.Event, rm.Refund.ID, m.from.Address)
	id = strings.Replace(id, "@", "."+role+"@", 1)
	body, ctype, err := multipartBody(v)
	if err != nil {
		return message{}, err
	}
	b := m.headers(id, rcpt, v.Subject)
	writeHeader(b, "X-Kassa-Refund", clean(rm.Refund.ID, maxShort))
	writeHeader(b, "X-Kassa-Invoice", clean(rm.Refund.InvoiceID, maxShort))
	if name := clean(rm.Event.Name, maxShort); name != "" {
		writeHeader(b, "X-Kassa-Event", name)
	}
	writeHeader(b, "Content-Type", ctype)
	b.WriteString("\r\n")
	b.Write(body)
	return message{from: m.from.Address, to: rcpt.Address, id: id, data: b.Bytes()}, nil
}

// multipartBody renders a view as multipart/alternative, text then HTML,
// and returns the body with its Content-Type.
func multipartBody(v view) ([]byte, string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writePart(mw, "text/plain; charset=utf-8", renderText(v)); err != nil {
		return nil, "", fmt.Errorf("write text part: %w", err)
	}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return nil, "", fmt.Errorf("render html part: %w", err)
	}
	if err := writePart(mw, "text/html; charset=utf-8", html.Bytes()); err != nil {
		return nil, "", fmt.Errorf("write html part: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("close multipart body: %w", err)
	}
	return body.Bytes(), mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}), nil
}

// describeRefund says what a refund event means for its reader. Buyers
// are told in English: kassa does not know a buyer's language (BitPay's
// invoices carry none); the page the link opens follows their browser's.
func describeRefund(rm RefundMail) view {
	r := rm.Refund
	id := clean(r.ID, maxShort)
	shop := clean(rm.StoreName, maxShort)
	if shop == "" {
		shop = "The shop"
	}
	amount := btc(r.Sats)
	if c, ok := money.LookupCurrency(r.Currency); ok && c.Code != "BTC" {
		amount += " (" + fiat(r.Amount, r.Currency) + ")"
	}
	var rows []row
	add := func(label, value string) {
		if value != "" {
			rows = append(rows, row{label, value})
		}
	}
	code := refund.Code(rm.Event.Code)
	v := view{Link: rm.Link, LinkText: "Enter your refund address"}
	if rm.Buyer {
		v.Footer = "Sent by kassa, the payment gateway of " + shop + ", about a refund of invoice " +
			clean(r.InvoiceID, maxShort) + ". Questions about the refund go to the shop."
		switch {
		case code == refund.CodeCreated:
			v.Subject = shop + " is refunding you: where should the bitcoin go?"
			v.Headline = shop + " is refunding you " + amount + "."
			v.Paragraphs = []string{"To receive the refund, open the link below and enter a bitcoin address of your own wallet.",
				"The link works until " + stamp(r.AddressDeadline) + "; after that the refund is given up and you have to " +
					"ask the shop again. Do not forward this mail: whoever has the link can choose where the refund goes."}
			if r.AddressDeadline.IsZero() {
				v.Paragraphs[1] = "Do not forward this mail: whoever has the link can choose where the refund goes."
			}
		default:
			v.Subject = "Your refund from " + shop + " was sent"
			v.Headline = "Your refund of " + btc(r.Paid()) + " was sent and has confirmed."
			v.Paragraphs = []string{"It is in your wallet at the address you gave. The transaction is on the bitcoin network " +
				"for anyone to check."}
			add("Address", clean(r.Address, maxShort))
			add("Transaction", clean(r.TxID, maxShort))
			if r.BuyerPaysFee && r.Fee > 0 {
				add("Network fee", btc(r.Fee)+", taken from the refund")
			}
		}
		add("Refund", amount)
		add("Invoice", clean(r.InvoiceID, maxShort))
		add("Order", clean(rm.OrderID, maxOrderID))
		v.Rows = rows
		return v
	}
	v.Footer = "Sent by kassa because this refund's invoice names this address as its notificationEmail."
	switch code {
	case refund.CodeCreated:
		v.Subject = "Refund " + id + " created: " + amount
		v.Headline = "Refund " + id + " of invoice " + clean(r.InvoiceID, maxShort) + " was created."
		if r.Address == "" {
			v.Paragraphs = append(v.Paragraphs, "kassa mailed the buyer a link to give a bitcoin address. "+
				"If none is given by "+stamp(r.AddressDeadline)+", the refund fails.")
		}
		v.Paragraphs = append(v.Paragraphs, "kassa pays it from the store's wallet once it has an address: "+
			"sign the transaction it prepares (dashboard, or kassa spend psbt) unless the store's hot signer pays it.")
	case refund.CodeSuccess:
		v.Subject = "Refund " + id + " paid: " + amount
		v.Headline = "Refund " + id + " of invoice " + clean(r.InvoiceID, maxShort) + " was paid and has confirmed."
	case refund.CodeFailure:
		v.Subject = "Refund " + id + " failed: " + amount
		v.Headline = "Refund " + id + " of invoice " + clean(r.InvoiceID, maxShort) + " failed."
		v.Paragraphs = []string{"Reason: " + clean(firstNonEmpty(r.FailReason, "not given"), maxItemDesc) + ". " +
			"Nothing was paid; make a new refund if the buyer is still owed it."}
	default:
		v.Subject = "Refund " + id + " " + clean(string(r.Status), maxShort) + ": " + amount
		v.Headline = "Refund " + id + " is " + clean(string(r.Status), maxShort) + "."
	}
	v.Link = ""
	add("Refund", id)
	add("Status", clean(string(r.Status), maxShort))
	add("Invoice", clean(r.InvoiceID, maxShort))
	add("Order", clean(rm.OrderID, maxOrderID))
	add("Amount", amount)
	add("Address", clean(r.Address, maxShort))
	add("Transaction", clean(r.TxID, maxShort))
	if r.Fee > 0 {
		add("Network fee", btc(r.Fee))
	}
	if r.Email != "" {
		add("Buyer", clean(r.Email, maxShort))
	}
	if at := stamp(rm.Event.CreatedAt); at != "" {
		add("Event", clean(rm.Event.Name, maxShort)+" at "+at)
	}
	v.Rows = rows
	return v
}
