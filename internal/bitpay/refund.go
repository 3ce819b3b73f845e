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
