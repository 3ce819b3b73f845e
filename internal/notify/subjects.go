package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
)

// subject is what notify knows of one kind of resource whose events share
// the outbox: which of its events go out on which channel, its IPN body
// and which token signs it, and its mail. A new resource (refund, payout,
// recipient, bill, subscription) is one more entry in subjects.
type subject struct {
	// plan decides an event's deliveries; earlier reports whether the
	// resource had an event with a code before this one.
	plan func(ctx context.Context, p *Planner, ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error)
	// ipn renders an event's IPN body, and names the token whose secret
	// signs it (its Ref, "" for the store's default) with the time the
	// resource was made.
	ipn func(ev store.OutboxEvent, publicURL string) (body []byte, createdBy string, created time.Time, err error)
	// mail sends an event's mail to one address.
	mail func(ctx context.Context, s *Service, to string, ev store.OutboxEvent) error
}

// subjects are the resources notify delivers events of.
var subjects = map[store.Subject]subject{
	store.SubjectInvoice: {plan: planInvoice, ipn: invoiceIPN, mail: mailInvoice},
	store.SubjectRefund:  {plan: planRefund, ipn: refundIPN, mail: mailRefund},
}

// subjectOf returns the rules of an event's subject.
func subjectOf(ev store.OutboxEvent) (subject, error) {
	sub, ok := subjects[ev.Subject]
	if !ok {
		return subject{}, fmt.Errorf("event %s is about a %q, which kassa does not notify of", ev.ID, ev.Subject)
	}
	return sub, nil
}

// planInvoice decides an invoice event's deliveries: an IPN to its
// notificationURL as BitPay's rules say (WantIPN), a mail to its
// notificationEmail for the statuses a merchant acts on (WantEmail).
func planInvoice(_ context.Context, p *Planner, ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error) {
	code, status := invoice.Code(ev.Code), invoice.Status(ev.Status)
	inv, err := EventInvoice(ev)
	if err != nil {
		p.log.Warn("notification not sent: unreadable event", "invoice", ev.SubjectID, "event", ev.ID, "err", err)
		return nil, nil
	}
	var out []store.NewDelivery
	if target := inv.Fields.NotificationURL; target != "" {
		ok, err := WantIPN(&inv, code, status, func(c invoice.Code) (bool, error) { return earlier(int(c)) })
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, store.NewDelivery{Channel: store.ChannelIPN, Target: target, Host: hostOf(target)})
		}
	}
	if to := inv.Fields.NotificationEmail; to != "" && WantEmail(code, status) {
		out = append(out, store.NewDelivery{Channel: store.ChannelEmail, Target: to})
	}
	return out, nil
}

// invoiceIPN is an invoice event's IPN body (RenderIPN), signed with the
// token that created the invoice.
func invoiceIPN(ev store.OutboxEvent, publicURL string) ([]byte, string, time.Time, error) {
	inv, err := EventInvoice(ev)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	body, err := renderIPN(&inv, ev, publicURL)
	return body, inv.CreatedBy, inv.CreatedAt, err
}

// mailInvoice sends an invoice event's status mail.
func mailInvoice(ctx context.Context, s *Service, to string, ev store.OutboxEvent) error {
	inv, err := EventInvoice(ev)
	if err != nil {
		return errUnreadable{err}
	}
	return s.cfg.Mailer.Mail(ctx, to, inv, ev)
}

// errUnreadable is an event whose snapshot cannot be read: retrying does
// not help.
type errUnreadable struct{ error }

func (e errUnreadable) Unwrap() error { return e.error }

// eventRefund decodes a refund event's snapshot.
func eventRefund(ev store.OutboxEvent) (refund.Refund, error) {
	var r refund.Refund
	if err := json.Unmarshal(ev.Snapshot, &r); err != nil {
		return r, fmt.Errorf("decode snapshot of event %s of refund %s: %w", ev.ID, ev.SubjectID, err)
	}
	return r, nil
}

// planRefund sends every refund event as a webhook to the refund's
// notificationURL (the invoice's when the refund was made), in the
// extended format BitPay uses for refunds, and mails it to whom it
// concerns (refundMails).
func planRefund(ctx context.Context, p *Planner, ev store.OutboxEvent, _ func(code int) (bool, error)) ([]store.NewDelivery, error) {
	r, err := eventRefund(ev)
	if err != nil {
		p.log.Warn("notification not sent: unreadable event", "refund", ev.SubjectID, "event", ev.ID, "err", err)
		return nil, nil
	}
	var out []store.NewDelivery
	if r.NotificationURL != "" {
		out = append(out, store.NewDelivery{Channel: store.ChannelIPN, Target: r.NotificationURL, Host: hostOf(r.NotificationURL)})
	}
	inv, err := p.store.GetInvoice(ctx, r.InvoiceID)
	if errors.Is(err, store.ErrNotFound) {
		p.log.Warn("refund mails not sent: no invoice", "refund", r.ID, "invoice", r.InvoiceID)
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	buyer, merchant := refundMails(&r, &inv, refund.Code(ev.Code))
	if buyer != "" {
		out = append(out, store.NewDelivery{Channel: store.ChannelEmail, Target: buyer})
	}
	if merchant != "" && !strings.EqualFold(merchant, buyer) {
		out = append(out, store.NewDelivery{Channel: store.ChannelEmail, Target: merchant})
	}
	return out, nil
}

// refundMails returns to whom a refund event is mailed, "" for nobody:
//
//   - the buyer (the refund's refundEmail, else the invoice's buyer
//     email) on refund_created when the refund has no address yet (the
//     link to the refund page) and on refund_success (the transaction);
//   - the merchant (the invoice's notificationEmail, the one address
//     kassa has for mails about it) on refund_created, refund_success and
//     refund_failure.
//
// When both are the same address, that person gets the buyer's mail.
func refundMails(r *refund.Refund, inv *invoice.Invoice, code refund.Code) (buyer, merchant string) {
	switch to := buyerEmail(r, inv); {
	case to == "":
	case code == refund.CodeCreated && r.Address == "" && r.AddressSecret != "", code == refund.CodeSuccess:
		buyer = to
	}
	switch code {
	case refund.CodeCreated, refund.CodeSuccess, refund.CodeFailure:
		merchant = strings.TrimSpace(inv.Fields.NotificationEmail)
	}
	return buyer, merchant
}

// buyerEmail is where a refund's buyer is written to.
func buyerEmail(r *refund.Refund, inv *invoice.Invoice) string {
	if e := strings.TrimSpace(r.Email); e != "" {
		return e
	}
	return strings.TrimSpace(inv.Fields.Buyer.Email)
}

// mailRefund sends a refund event's mail to one address: the buyer's
// when it is the buyer's address and the buyer is mailed this event
// (refundMails), else the merchant's. The buyer's mail asking for an
// address carries the refund page's link with its secret, built on the
// public URL.
func mailRefund(ctx context.Context, s *Service, to string, ev store.OutboxEvent) error {
	r, err := eventRefund(ev)
	if err != nil {
		return errUnreadable{err}
	}
	inv, err := s.cfg.Store.GetInvoice(ctx, r.InvoiceID)
	if errors.Is(err, store.ErrNotFound) {
		return errUnreadable{err}
	}
	if err != nil {
		return err
	}
	m := email.RefundMail{To: to, Refund: r, Event: ev, OrderID: inv.Fields.OrderID}
	if st, err := s.cfg.Settings.Get(ctx, r.StoreID); err == nil {
		m.StoreName = st.Name
	}
	buyer, _ := refundMails(&r, &inv, refund.Code(ev.Code))
	m.Buyer = buyer != "" && strings.EqualFold(strings.TrimSpace(to), buyer)
	if m.Buyer && refund.Code(ev.Code) == refund.CodeCreated {
		m.Link = RefundPageURL(s.cfg.PublicURL, r.ID, r.AddressSecret)
	}
	return s.cfg.Mailer.MailRefund(ctx, m)
}

// RefundPageURL is the link to a refund's buyer page: the refund id and
// its address secret on the public URL.
func RefundPageURL(publicURL, id, secret string) string {
	return strings.TrimRight(publicURL, "/") + "/refund?" + url.Values{"id": {id}, "t": {secret}}.Encode()
}

// refundIPN is a refund event's webhook body, signed (when the store
// signs) with the store's default token.
func refundIPN(ev store.OutboxEvent, _ string) ([]byte, string, time.Time, error) {
	r, err := eventRefund(ev)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	body, err := bitpay.Marshal(bitpay.RenderRefundWebhook(&r, refund.Code(ev.Code), ev.CreatedAt))
	return body, "", r.RequestedAt, err
}
