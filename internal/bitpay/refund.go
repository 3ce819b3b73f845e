package bitpay

import (
	"encoding/json"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
)

// RefundJSON is a refund as BitPay's API and refund webhooks show it: the
// fields of the official SDK's Refund schema (bitpay-sdk's
// Model/Invoice/Refund.zod.js), amounts as JSON numbers.
type RefundJSON struct {
	ID                     string      `json:"id"`
	Invoice                string      `json:"invoice"`
	GUID                   string      `json:"guid,omitempty"`
	Reference              string      `json:"reference,omitempty"`
	Token                  string      `json:"token,omitempty"`
	RefundEmail            string      `json:"refundEmail,omitempty"`
	Status                 string      `json:"status"`
	Amount                 json.Number `json:"amount"`
	Currency               string      `json:"currency"`
	RefundFee              json.Number `json:"refundFee"`
	Immediate              bool        `json:"immediate"`
	BuyerPaysRefundFee     bool        `json:"buyerPaysRefundFee"`
	RequestDate            string      `json:"requestDate"`
	LastRefundNotification string      `json:"lastRefundNotification,omitempty"`
	RefundAddress          string      `json:"refundAddress,omitempty"`
	TxID                   string      `json:"txid,omitempty"`
	TransactionCurrency    string      `json:"transactionCurrency"`
	TransactionAmount      json.Number `json:"transactionAmount"`
	TransactionRefundFee   json.Number `json:"transactionRefundFee"`
	NotificationURL        string      `json:"notificationURL,omitempty"`
	Preview                bool        `json:"preview,omitempty"`
}

// isoMillis is BitPay's timestamp format in refunds.
const isoMillis = "2006-01-02T15:04:05.000Z"

// RenderRefund renders a refund; withToken includes the refund's own
// token (for the merchant who asked for it, never in a webhook).
// transactionAmount is the bitcoin the buyer receives, the fees are the
// network fee, in bitcoin and in the refund's currency at its rate.
func RenderRefund(r *refund.Refund, withToken bool) RefundJSON {
	fee := r.Fee.Decimal()
	if cur, ok := money.LookupCurrency(r.Currency); ok && r.Currency != "BTC" && r.Rate.IsPositive() {
		fee = money.Fiat(r.Fee, r.Rate, cur)
	}
	j := RefundJSON{
		ID: r.ID, Invoice: r.InvoiceID, GUID: r.GUID, Reference: r.Reference, RefundEmail: r.Email, Status: string(r.Status),
		Amount: json.Number(r.Amount.String()), Currency: r.Currency, RefundFee: json.Number(fee.String()),
		Immediate: r.Immediate, BuyerPaysRefundFee: r.BuyerPaysFee,
		RequestDate:   r.RequestedAt.UTC().Format(isoMillis),
		RefundAddress: r.Address, TxID: r.TxID, TransactionCurrency: "BTC",
		TransactionAmount:    json.Number(r.Paid().BTC()),
		TransactionRefundFee: json.Number(r.Fee.BTC()),
		NotificationURL:      r.NotificationURL,
		Preview:              r.Status == refund.StatusPreview,
	}
	if withToken {
		j.Token = r.Token
	}
	return j
}

// RefundWebhook is a refund event as its webhook carries it: always in
// the extended format, {"event":{"code","name"},"data":refund}.
type RefundWebhook struct {
	Event struct {
		Code int    `json:"code"`
		Name string `json:"name"`
	} `json:"event"`
	Data RefundJSON `json:"data"`
}

// RenderRefundWebhook renders a refund event's webhook body.
func RenderRefundWebhook(r *refund.Refund, code refund.Code, at time.Time) RefundWebhook {
	var w RefundWebhook
	w.Event.Code, w.Event.Name = int(code), code.Name()
	w.Data = RenderRefund(r, false)
	w.Data.LastRefundNotification = at.UTC().Format(isoMillis)
	return w
}

// RefundAddressJSON is an entry of an invoice's refundAddresses, keyed by
// the address (the SDK's InvoiceRefundAddresses schema).
type RefundAddressJSON struct {
	Type  string `json:"type"`
	Date  string `json:"date"`
	Email string `json:"email,omitempty"`
}

// RefundInfoJSON is an invoice's refundInfo (the SDK's RefundInfo
// schema): its latest refund, by id, and its amount in the refund's
// currency and in BTC.
type RefundInfoJSON struct {
	SupportRequest string                 `json:"supportRequest"`
	Currency       string                 `json:"currency"`
	Amounts        map[string]json.Number `json:"amounts"`
}

// AddRefunds fills an invoice's refund fields from its refunds (oldest
// first): refundInfo from the latest that counts (created, pending or
// paid), refundAddresses from those with an address, and
// refundAddressRequestPending while one waits for the buyer's address.
func AddRefunds(j *InvoiceJSON, refunds []refund.Refund) {
	for i := range refunds {
		r := &refunds[i]
		if !r.Status.Active() {
			continue
		}
		if r.Address == "" {
			j.RefundAddressRequestPending = j.RefundAddressRequestPending || r.Status == refund.StatusCreated
		} else {
			j.RefundAddresses = append(j.RefundAddresses, map[string]RefundAddressJSON{
				r.Address: {Type: "buyerSupplied", Date: r.RequestedAt.UTC().Format(isoMillis), Email: r.Email}})
		}
		amounts := map[string]json.Number{"BTC": json.Number(r.Sats.BTC())}
		if r.Currency != "BTC" {
			amounts[r.Currency] = json.Number(r.Amount.String())
		}
		j.RefundInfo = &RefundInfoJSON{SupportRequest: r.ID, Currency: r.Currency, Amounts: amounts}
	}
}

// LegacyRefundJSON is a refund as the 2014 API answers its creation:
// {id, requestDate, status, token}.
type LegacyRefundJSON struct {
	ID          string `json:"id"`
	RequestDate string `json:"requestDate"`
	Status      string `json:"status"`
	Token       string `json:"token"`
}

// LegacyStatus is a refund's status in the 2014 API's words: a refund not
// paid yet is "pending".
func LegacyStatus(s refund.Status) string {
	switch s {
	case refund.StatusPreview, refund.StatusCreated, refund.StatusPending:
		return "pending"
	}
	return string(s)
}

// RenderLegacyRefund renders a refund as the 2014 API answers its creation.
func RenderLegacyRefund(r *refund.Refund) LegacyRefundJSON {
	return LegacyRefundJSON{ID: r.ID, RequestDate: r.RequestedAt.UTC().Format(isoMillis), Status: LegacyStatus(r.Status),
		Token: r.Token}
}
