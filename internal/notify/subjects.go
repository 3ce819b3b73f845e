package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/refund"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// subject is what notify knows of one kind of resource whose events share
// the outbox: which of its events go out on which channel, its IPN body
// and which token signs it, and its mail. A new resource (refund, payout,
// recipient, bill, subscription) is one more entry in subjects.
type subject struct {
	// plan decides an event's deliveries; earlier reports whether the
	// resource had an event with a code before this one.
	plan func(p *Planner, ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error)
	// ipn renders an event's IPN body, and names the token whose secret
	// signs it (its Ref, "" for the store's default) with the time the
	// resource was made.
	ipn func(ev store.OutboxEvent, publicURL string) (body []byte, createdBy string, created time.Time, err error)
	// mail sends an event's mail to one address.
	mail func(ctx context.Context, m Mailer, to string, ev store.OutboxEvent) error
}

// subjects are the resources notify delivers events of.
var subjects = map[store.Subject]subject{
	store.SubjectInvoice: {plan: planInvoice, ipn: invoiceIPN, mail: mailInvoice},
	store.SubjectRefund:  {plan: planRefund, ipn: refundIPN, mail: mailNone},
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
func planInvoice(p *Planner, ev store.OutboxEvent, earlier func(code int) (bool, error)) ([]store.NewDelivery, error) {
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
func mailInvoice(ctx context.Context, m Mailer, to string, ev store.OutboxEvent) error {
	inv, err := EventInvoice(ev)
	if err != nil {
		return errUnreadable{err}
	}
	return m.Mail(ctx, to, inv, ev)
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
// extended format BitPay uses for refunds. Refund mails come with the
// refunds API.
func planRefund(p *Planner, ev store.OutboxEvent, _ func(code int) (bool, error)) ([]store.NewDelivery, error) {
	r, err := eventRefund(ev)
	if err != nil {
		p.log.Warn("notification not sent: unreadable event", "refund", ev.SubjectID, "event", ev.ID, "err", err)
		return nil, nil
	}
	if r.NotificationURL == "" {
		return nil, nil
	}
	return []store.NewDelivery{{Channel: store.ChannelIPN, Target: r.NotificationURL, Host: hostOf(r.NotificationURL)}}, nil
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

// mailNone is the mail of a subject that plans none.
func mailNone(_ context.Context, _ Mailer, _ string, ev store.OutboxEvent) error {
	return errUnreadable{fmt.Errorf("event %s: %s events are not mailed", ev.ID, ev.Subject)}
}
