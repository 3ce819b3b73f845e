package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// Limits on the merchant-supplied text a mail repeats, so one absurd
// itemDesc cannot make an absurd mail or header.
const (
	maxOrderID  = 100
	maxItemDesc = 300
	maxShort    = 100
	maxPayments = 10
)

// message is a composed mail with its envelope.
type message struct {
	from, to string // envelope addresses
	id       string // the Message-ID header, angle brackets included
	data     []byte // the RFC 5322 message, CRLF line endings
}

// view is what a status mail says; it is rendered once as text/plain and
// once as text/html. Every string in it is already single-line and free
// of control characters.
type view struct {
	Subject    string
	Headline   string
	Paragraphs []string
	Rows       []row
	Link       string
	LinkText   string
	Footer     string
}

type row struct{ Label, Value string }

const footer = "Sent by kassa because this invoice's notificationEmail names this address. " +
	"This mail is meant for people; order systems should rely on the notificationURL (IPN) instead."

// Compose returns the status mail Mail would send for an event, as the
// bytes of an RFC 5322 message with CRLF line endings (before SMTP
// dot-stuffing). It fails with ErrPermanent when to is not one valid
// address or the event cannot be described.
func (m *Mailer) Compose(to string, inv invoice.Invoice, ev store.OutboxEvent) ([]byte, error) {
	msg, err := m.compose(to, inv, ev)
	if err != nil {
		return nil, err
	}
	return msg.data, nil
}

func (m *Mailer) compose(to string, inv invoice.Invoice, ev store.OutboxEvent) (message, error) {
	if m.cfgErr != nil {
		return message{}, fmt.Errorf("%w: email configuration: %w", ErrPermanent, m.cfgErr)
	}
	rcpt, err := parseAddress(strings.TrimSpace(to))
	if err != nil {
		return message{}, fmt.Errorf("%w: recipient: %w", ErrPermanent, err)
	}
	inv, err = m.eventInvoice(inv, ev)
	if err != nil {
		return message{}, err
	}
	v := m.describe(inv, ev)
	id := messageID(ev, inv.ID, m.from.Address)

	body, ctype, err := multipartBody(v)
	if err != nil {
		return message{}, err
	}
	b := m.headers(id, rcpt, v.Subject)
	writeHeader(b, "X-Kassa-Invoice", clean(firstNonEmpty(inv.ID, ev.SubjectID), maxShort))
	if name := eventName(ev); name != "" {
		writeHeader(b, "X-Kassa-Event", name)
	}
	writeHeader(b, "Content-Type", ctype)
	b.WriteString("\r\n")
	b.Write(body)
	return message{from: m.from.Address, to: rcpt.Address, id: id, data: b.Bytes()}, nil
}

// headers starts a mail with the header fields every kassa mail has.
func (m *Mailer) headers(id string, rcpt *mail.Address, subject string) *bytes.Buffer {
	var b bytes.Buffer
	writeHeader(&b, "Date", m.now().Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", id)
	writeHeader(&b, "From", m.from.String())
	writeHeader(&b, "To", rcpt.String())
	writeHeader(&b, "Subject", mime.QEncoding.Encode("utf-8", subject))
	writeHeader(&b, "MIME-Version", "1.0")
	writeHeader(&b, "Auto-Submitted", "auto-generated")
	return &b
}

// eventInvoice returns the invoice as it was at the event: the event's
// snapshot when it has one, else inv.
func (m *Mailer) eventInvoice(inv invoice.Invoice, ev store.OutboxEvent) (invoice.Invoice, error) {
	raw := bytes.TrimSpace(ev.Snapshot)
	if len(raw) == 0 || string(raw) == "null" {
		return inv, nil
	}
	var snap invoice.Invoice
	if err := json.Unmarshal(raw, &snap); err != nil {
		if inv.ID != "" {
			m.log.Warn("email: unreadable event snapshot, describing the invoice passed in", "event", ev.ID, "invoice", inv.ID, "err", err)
			return inv, nil
		}
		return invoice.Invoice{}, fmt.Errorf("%w: decode snapshot of event %s: %w", ErrPermanent, ev.ID, err)
	}
	return snap, nil
}

// describe says in plain words what the event means for the merchant.
func (m *Mailer) describe(inv invoice.Invoice, ev store.OutboxEvent) view {
	id := clean(firstNonEmpty(inv.ID, ev.SubjectID), maxShort)
	code := invoice.Code(ev.Code)
	status := invoice.Status(ev.Status)
	if status == "" {
		status = inv.Status
	}
	exception := invoice.Exception(ev.Exception)
	if exception == invoice.ExceptionNone {
		exception = inv.Exception
	}
	cur, known := money.LookupCurrency(inv.Currency)
	rate := inv.Bound().Rate
	fiatOf := func(s money.Sats) string {
		if !known || cur.Code == "BTC" || !rate.IsPositive() {
			return ""
		}
		return " (" + fiat(money.Fiat(s, rate, cur), cur.Code) + " at the invoice rate)"
	}
	paid := inv.Paid()
	var late, removed money.Sats
	for _, p := range inv.Payments {
		switch {
		case p.Removed:
			removed += p.Amount
		case p.Late:
			late += p.Amount
		}
	}
	statusText := clean(string(status), maxShort)

	var verb, phrase string
	var paras []string
	switch code {
	case invoice.CodeCreated:
		verb, phrase = "created", "was created and is waiting for payment."
	case invoice.CodeReceivedPayment:
		verb, phrase = "received a payment", "received a payment."
		paras = append(paras, "A payment to the invoice's bitcoin address has been seen on the network. "+
			"The invoice is settled only once it is paid in full and confirmed; kassa will write again then.")
	case invoice.CodePaidInFull:
		verb, phrase = "paid", "has been paid in full."
		paras = append(paras, "The full amount has been seen on the bitcoin network but is not confirmed yet. "+
			"Wait for the confirmation before you ship anything that cannot be taken back.")
	case invoice.CodeConfirmed:
		verb, phrase = "confirmed", "is confirmed."
		speed := ""
		if inv.Speed.Valid() {
			speed = " (" + string(inv.Speed) + ")"
		}
		paras = append(paras, "The payment has the confirmations this invoice's transaction speed"+speed+
			" asks for. You can fulfil the order.")
	case invoice.CodeCompleted:
		verb, phrase = "complete", "is complete."
		paras = append(paras, "The payment has enough confirmations on the bitcoin network to be final. "+
			"Nothing more will happen to this invoice.")
	case invoice.CodeExpired:
		if inv.Cancelled {
			verb, phrase = "cancelled", "was cancelled."
			paras = append(paras, "The invoice was cancelled before it was paid. Do not ship the order.")
		} else {
			verb, phrase = "expired", "expired without payment."
			paras = append(paras, "No payment arrived before the payment window closed. "+
				"Do not ship the order; the buyer can start a new checkout.")
		}
	case invoice.CodeExpiredPartial:
		verb, phrase = "expired, partly paid", "expired after a partial payment."
		paras = append(paras, "The buyer paid "+btc(paid)+" of the "+btc(inv.Due())+" due before the invoice expired, "+
			"so it is not settled. Refund the buyer or agree on the rest with them.")
	case invoice.CodePaidAfterExpiry:
		verb, phrase = "paid after expiry", "received a payment after it expired."
		paras = append(paras, btc(late)+" arrived after the payment window closed. Late payments do not settle "+
			"the invoice: refund the buyer or accept the payment by hand.")
	case invoice.CodeFailedToConfirm:
		verb, phrase = "invalid", "is invalid: its payment did not confirm in time."
		paras = append(paras, "The payment was not confirmed within an hour of being seen. Do not ship the order yet; "+
			"it may still confirm, and kassa will write again if it does.")
	case invoice.CodeMarkedInvalid:
		verb, phrase = "marked invalid", "has been marked invalid."
		paras = append(paras, "Do not ship the order.")
	case invoice.CodeAdjustmentComplete:
		verb, phrase = "payment accepted", "had its partial or over payment accepted."
		paras = append(paras, "The amount received has been accepted as settling the invoice.")
	case invoice.CodeDeclined:
		verb, phrase = "declined", "was declined."
		paras = append(paras, "The invoice will not be settled. Do not ship the order.")
	case invoice.CodePaymentReversed:
		verb, phrase = "payment reversed", "lost a payment."
		paras = append(paras, "A payment counted towards this invoice has left the bitcoin network "+
			"(a double-spend, a fee replacement or a chain reorganisation). Hold the order until the invoice is paid again.")
	case invoice.CodeConfirmationsLost:
		verb, phrase = "lost confirmations", "lost confirmations."
		paras = append(paras, "A chain reorganisation removed the block that confirmed the payment; the invoice is "+
			statusText+" again. Hold the order until it confirms again.")
	case invoice.CodeManuallyNotified:
		verb, phrase = "status "+statusText, "has status "+statusText+"."
		paras = append(paras, "This notification was requested by hand; it repeats the invoice's current state.")
	default:
		verb, phrase = "status "+statusText, "changed status to "+statusText+"."
	}
	switch {
	case exception == invoice.ExceptionPaidPartial && code != invoice.CodeExpiredPartial:
		paras = append(paras, "The buyer paid less than the amount due.")
	case exception == invoice.ExceptionPaidOver:
		paras = append(paras, "The buyer paid more than the amount due. Refund the difference or keep it as agreed with the buyer.")
	case exception == invoice.ExceptionPaidLate && code != invoice.CodePaidAfterExpiry:
		paras = append(paras, "A payment arrived after the invoice expired; it does not count towards the invoice.")
	}

	price := fiat(inv.Price, inv.Currency)
	subject := "Invoice " + id + " " + verb + ": " + price
	orderID := clean(inv.Fields.OrderID, maxOrderID)
	if orderID != "" {
		subject += " (order " + orderID + ")"
	}

	var rows []row
	add := func(label, value string) {
		if value != "" {
			rows = append(rows, row{label, value})
		}
	}
	add("Invoice", id)
	st := statusText
	if exception != invoice.ExceptionNone {
		st += " (" + clean(string(exception), maxShort) + ")"
	}
	add("Status", st)
	add("Order", orderID)
	add("Item", clean(inv.Fields.ItemDesc, maxItemDesc))
	add("Item code", clean(inv.Fields.ItemCode, maxShort))
	add("Price", price)
	due, rate := inv.Due(), inv.Bound().Rate
	if due > 0 {
		add("Amount due", btc(due))
	}
	if known && cur.Code != "BTC" && rate.IsPositive() {
		add("Exchange rate", "1 BTC = "+rate.String()+" "+cur.Code)
	}
	if paid > 0 || status == invoice.StatusPaid || status == invoice.StatusConfirmed || status == invoice.StatusComplete {
		add("Paid", btc(paid)+fiatOf(paid))
	}
	switch {
	case paid > 0 && paid < due:
		add("Still due", btc(due-paid)+fiatOf(due-paid))
	case paid > due && due > 0:
		add("Overpaid by", btc(paid-due)+fiatOf(paid-due))
	}
	if late > 0 {
		add("Late payments", btc(late))
	}
	if removed > 0 {
		add("Reversed payments", btc(removed))
	}
	for i, p := range inv.Payments {
		if i == maxPayments {
			add("Transactions", strconv.Itoa(len(inv.Payments)-maxPayments)+" more")
			break
		}
		note := ""
		switch {
		case p.Removed:
			note = ", reversed"
		case p.Late:
			note = ", late"
		}
		add("Transaction", clean(p.TxID, maxShort)+":"+strconv.FormatUint(uint64(p.Vout), 10)+" ("+btc(p.Amount)+note+")")
	}
	if b := inv.Fields.Buyer; b.Name != "" || b.Email != "" {
		buyer := clean(b.Name, maxShort)
		if e := clean(b.Email, maxShort); e != "" {
			buyer = strings.TrimSpace(buyer + " <" + e + ">")
		}
		add("Buyer", buyer)
	}
	add("Created", stamp(inv.CreatedAt))
	add("Expires", stamp(inv.ExpiresAt))
	if name := eventName(ev); name != "" {
		event := name
		if ev.Code != 0 {
			event += " (" + strconv.Itoa(int(ev.Code)) + ")"
		}
		if at := stamp(ev.CreatedAt); at != "" {
			event += " at " + at
		}
		add("Event", event)
	}

	link := ""
	if m.publicURL != "" && id != "" {
		link = m.publicURL + "/invoice?id=" + url.QueryEscape(id)
	}
	return view{
		Subject:    subject,
		Headline:   "Invoice " + id + " " + phrase,
		Paragraphs: paras,
		Rows:       rows,
		Link:       link,
		LinkText:   "View the invoice",
		Footer:     footer,
	}
}

// renderText lays the view out as a plain-text body with LF line endings
// (the quoted-printable encoder turns them into CRLF).
func renderText(v view) []byte {
	var b bytes.Buffer
	b.WriteString(v.Headline + "\n\n")
	for _, p := range v.Paragraphs {
		b.WriteString(p + "\n\n")
	}
	for _, r := range v.Rows {
		fmt.Fprintf(&b, "%-15s %s\n", r.Label+":", r.Value)
	}
	if v.Link != "" {
		b.WriteString("\n" + v.LinkText + ": " + v.Link + "\n")
	}
	b.WriteString("\n-- \n" + v.Footer + "\n")
	return b.Bytes()
}

// htmlTemplate renders the view as HTML; html/template escapes every value.
var htmlTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; color: #222;">
<p style="font-size: 1.1em;"><strong>{{.Headline}}</strong></p>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}<table cellpadding="4" style="border-collapse: collapse;">
{{range .Rows}}<tr><th align="left" valign="top">{{.Label}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>
{{end}}<p style="color: #666; font-size: 0.9em;">{{.Footer}}</p>
</body>
</html>
`))

// writePart adds a quoted-printable part: it keeps lines under SMTP's
// limit and turns LF into CRLF.
func writePart(mw *multipart.Writer, contentType string, body []byte) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {contentType},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(body); err != nil {
		return err
	}
	return qp.Close()
}

// writeHeader writes one header field, folded at spaces to keep lines
// short. Control characters in value become spaces, so no value can end
// the field or start another one.
func writeHeader(b *bytes.Buffer, name, value string) {
	value = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, value)
	b.WriteString(name + ":")
	n := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && n+1+len(word) > 78 {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
}

// messageID derives the Message-ID from the event, so every delivery
// attempt of one event carries the same id and the merchant's mail system
// can drop the duplicates a retry after a lost reply causes.
func messageID(ev store.OutboxEvent, invoiceID, from string) string {
	domain := "kassa.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && validDomain(from[at+1:]) {
		domain = from[at+1:]
	}
	local := ""
	if ev.ID != "" {
		local = idPart(ev.ID) + "." + idPart(firstNonEmpty(ev.SubjectID, invoiceID))
	} else {
		// No event id: the event's identity is its invoice, code and time.
		key := fmt.Sprintf("%s\x00%d\x00%d\x00%d", firstNonEmpty(ev.SubjectID, invoiceID), ev.Code, ev.Seq, ev.CreatedAt.UnixNano())
		sum := sha256.Sum256([]byte(key))
		local = hex.EncodeToString(sum[:16])
	}
	return "<" + local + "@" + domain + ">"
}

// idPart returns s when it is a plain atom, else a hash of it.
func idPart(s string) string {
	ok := s != "" && len(s) <= 64
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func eventName(ev store.OutboxEvent) string {
	name := ev.Name
	if name == "" {
		name = invoice.Code(ev.Code).Name()
	}
	return clean(name, maxShort)
}

// clean makes merchant-supplied text safe to repeat in a header or on one
// line of a body: invalid UTF-8 replaced, control characters, line and
// paragraph separators and bidi overrides turned into spaces, runs of
// white space collapsed, and the result cut to at most limit runes.
func clean(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '\u2028', r == '\u2029',
			r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > limit {
		s = strings.TrimSpace(string([]rune(s)[:limit-1])) + "…"
	}
	return s
}

// hasControl reports whether s holds a control character (CR, LF, NUL, …).
func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// fiat renders a price with its currency's ISO 4217 precision.
func fiat(d decimal.Decimal, code string) string {
	if c, ok := money.LookupCurrency(code); ok {
		return d.StringFixed(c.Precision) + " " + c.Code
	}
	return strings.TrimSpace(d.String() + " " + clean(code, 10))
}

// btc renders satoshis as bitcoin with all eight decimals.
func btc(s money.Sats) string { return s.Decimal().StringFixed(8) + " BTC" }

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
