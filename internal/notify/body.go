package notify

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/store"
)

// IPN is the standard (flat) IPN body, spec §4.2: the invoice as it was at
// the event, rendered by bitpay.RenderInvoice as GET /invoices/:id renders
// it, so status, amountPaid and the buyer agree with a GET made right
// after (the checks WooCommerce and Magento make, spec §4.5).
type IPN struct {
	ID                  string                            `json:"id"`
	URL                 string                            `json:"url"`
	PosData             string                            `json:"posData,omitempty"`
	Status              invoice.Status                    `json:"status"`
	Price               json.Number                       `json:"price"`
	Currency            string                            `json:"currency"`
	InvoiceTime         int64                             `json:"invoiceTime"`
	ExpirationTime      int64                             `json:"expirationTime"`
	CurrentTime         int64                             `json:"currentTime"`
	ExceptionStatus     invoice.Exception                 `json:"exceptionStatus"`
	BuyerFields         BuyerFields                       `json:"buyerFields"`
	PaymentSubtotals    map[string]int64                  `json:"paymentSubtotals"`
	PaymentTotals       map[string]int64                  `json:"paymentTotals"`
	ExchangeRates       map[string]map[string]json.Number `json:"exchangeRates"`
	AmountPaid          int64                             `json:"amountPaid"`
	OrderID             string                            `json:"orderId,omitempty"`
	TransactionCurrency string                            `json:"transactionCurrency,omitempty"`
	// Legacy BTC fields (spec §4.2), read by NBitpayClient's IPN model.
	BTCPrice string      `json:"btcPrice"`
	BTCPaid  string      `json:"btcPaid"`
	BTCDue   string      `json:"btcDue"`
	Rate     json.Number `json:"rate"`
}

// BuyerFields is the IPN's flat copy of the invoice's buyer, under the
// names BitPay's IPNs use; empty fields are left out, as the buyer object
// of GET /invoices/:id leaves them out.
type BuyerFields struct {
	BuyerName     string `json:"buyerName,omitempty"`
	BuyerAddress1 string `json:"buyerAddress1,omitempty"`
	BuyerAddress2 string `json:"buyerAddress2,omitempty"`
	BuyerCity     string `json:"buyerCity,omitempty"`
	BuyerState    string `json:"buyerState,omitempty"`
	BuyerZip      string `json:"buyerZip,omitempty"`
	BuyerCountry  string `json:"buyerCountry,omitempty"`
	BuyerPhone    string `json:"buyerPhone,omitempty"`
	BuyerNotify   bool   `json:"buyerNotify,omitempty"`
	BuyerEmail    string `json:"buyerEmail,omitempty"`
}

// Extended is the body of an IPN for an invoice with
// extendedNotifications: the event and the standard body as data.
type Extended struct {
	Event EventName `json:"event"`
	Data  IPN       `json:"data"`
}

// EventName names an event in an extended IPN.
type EventName struct {
	Code invoice.Code `json:"code"`
	Name string       `json:"name"`
}

// EventInvoice decodes an event's snapshot: the invoice as it was when the
// event happened, with the status and exception the event reports (a
// move through several milestones at once commits one snapshot and an
// event per milestone).
func EventInvoice(ev store.OutboxEvent) (invoice.Invoice, error) {
	var inv invoice.Invoice
	if err := json.Unmarshal(ev.Snapshot, &inv); err != nil {
		return inv, fmt.Errorf("decode snapshot of event %s: %w", ev.ID, err)
	}
	if ev.Status != "" {
		inv.Status = invoice.Status(ev.Status)
		inv.Exception = invoice.Exception(ev.Exception)
	}
	return inv, nil
}

// RenderIPN builds the IPN body of an event: standard, or extended when
// the invoice asked for extended notifications. publicURL is the base the
// invoice's url is built on. The body depends only on the event, so every
// attempt sends the same bytes.
func RenderIPN(ev store.OutboxEvent, publicURL string) ([]byte, error) {
	inv, err := EventInvoice(ev)
	if err != nil {
		return nil, err
	}
	return renderIPN(&inv, ev, publicURL)
}

// renderIPN is RenderIPN of the event's invoice, already decoded.
func renderIPN(inv *invoice.Invoice, ev store.OutboxEvent, publicURL string) ([]byte, error) {
	j := bitpay.RenderInvoice(inv, bitpay.ViewPublic, publicURL, 0, ev.CreatedAt)
	b := inv.Fields.Buyer
	data := IPN{
		ID: j.ID, URL: j.URL, PosData: j.PosData, Status: j.Status, Price: j.Price, Currency: j.Currency,
		InvoiceTime: j.InvoiceTime, ExpirationTime: j.ExpirationTime, CurrentTime: j.CurrentTime,
		ExceptionStatus: j.ExceptionStatus,
		BuyerFields: BuyerFields{
			BuyerName: b.Name, BuyerAddress1: b.Address1, BuyerAddress2: b.Address2, BuyerCity: b.Locality,
			BuyerState: b.Region, BuyerZip: b.PostalCode, BuyerCountry: b.Country, BuyerPhone: b.Phone,
			BuyerNotify: b.Notify, BuyerEmail: b.Email,
		},
		PaymentSubtotals: j.PaymentSubtotals, PaymentTotals: j.PaymentTotals, ExchangeRates: j.ExchangeRates,
		AmountPaid: j.AmountPaid, OrderID: j.OrderID, TransactionCurrency: j.TransactionCurrency,
		BTCPrice: j.BTCPrice, BTCPaid: j.BTCPaid, BTCDue: j.BTCDue, Rate: j.Rate,
	}
	var body any = data
	if inv.Fields.ExtendedNotifications {
		name := ev.Name
		if name == "" {
			name = invoice.Code(ev.Code).Name()
		}
		body = Extended{Event: EventName{Code: invoice.Code(ev.Code), Name: name}, Data: data}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, fmt.Errorf("encode IPN of event %s: %w", ev.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
