package bitpay

// This file renders an invoice in BitPay's resource shape (spec §3.3),
// shared by the API's handlers, the IPN bodies, the checkout pages and the
// CLI.

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
)

// View selects how much of an invoice a caller may see (spec §3.4).
type View int

// The invoice views.
const (
	ViewPublic View = iota
	ViewPOS
	ViewMerchant
)

// InvoiceJSON is an invoice in BitPay's shape. Field order follows BitPay's
// responses so diffs against captured bodies read easily.
type InvoiceJSON struct {
	URL                            string                            `json:"url"`
	PosData                        string                            `json:"posData,omitempty"`
	Status                         invoice.Status                    `json:"status"`
	Price                          json.Number                       `json:"price"`
	Currency                       string                            `json:"currency"`
	ItemDesc                       string                            `json:"itemDesc,omitempty"`
	ItemCode                       string                            `json:"itemCode,omitempty"`
	OrderID                        string                            `json:"orderId,omitempty"`
	InvoiceTime                    int64                             `json:"invoiceTime"`
	ExpirationTime                 int64                             `json:"expirationTime"`
	CurrentTime                    int64                             `json:"currentTime"`
	GUID                           string                            `json:"guid,omitempty"`
	ID                             string                            `json:"id"`
	LowFeeDetected                 bool                              `json:"lowFeeDetected"`
	AmountPaid                     int64                             `json:"amountPaid"`
	DisplayAmountPaid              string                            `json:"displayAmountPaid"`
	ExceptionStatus                invoice.Exception                 `json:"exceptionStatus"`
	TargetConfirmations            int                               `json:"targetConfirmations,omitempty"`
	Transactions                   []TransactionJSON                 `json:"transactions,omitempty"`
	TransactionSpeed               invoice.Speed                     `json:"transactionSpeed,omitempty"`
	Buyer                          *invoice.Buyer                    `json:"buyer,omitempty"`
	RedirectURL                    string                            `json:"redirectURL,omitempty"`
	CloseURL                       string                            `json:"closeURL,omitempty"`
	AutoRedirect                   bool                              `json:"autoRedirect"`
	RefundAddressRequestPending    bool                              `json:"refundAddressRequestPending"`
	RefundAddresses                []map[string]RefundAddressJSON    `json:"refundAddresses,omitempty"`
	RefundInfo                     *RefundInfoJSON                   `json:"refundInfo,omitempty"`
	IsCancelled                    bool                              `json:"isCancelled"`
	TransactionCurrency            string                            `json:"transactionCurrency,omitempty"`
	UnderpaidAmount                *int64                            `json:"underpaidAmount,omitempty"`
	OverpaidAmount                 *int64                            `json:"overpaidAmount,omitempty"`
	PaymentSubtotals               map[string]int64                  `json:"paymentSubtotals"`
	PaymentTotals                  map[string]int64                  `json:"paymentTotals"`
	PaymentDisplayTotals           map[string]string                 `json:"paymentDisplayTotals"`
	PaymentDisplaySubTotals        map[string]string                 `json:"paymentDisplaySubTotals"`
	ExchangeRates                  map[string]map[string]json.Number `json:"exchangeRates"`
	SupportedTransactionCurrencies map[string]Enabled                `json:"supportedTransactionCurrencies"`
	MinerFees                      map[string]MinerFee               `json:"minerFees"`
	PaymentCodes                   map[string]map[string]string      `json:"paymentCodes"`
	Token                          string                            `json:"token,omitempty"`

	// Legacy BTC fields (spec §3.3), still read by older clients.
	BTCPrice       string                 `json:"btcPrice"`
	BTCDue         string                 `json:"btcDue"`
	BTCPaid        string                 `json:"btcPaid"`
	Rate           json.Number            `json:"rate"`
	ExRates        map[string]json.Number `json:"exRates"`
	PaymentURLs    map[string]string      `json:"paymentUrls"`
	BitcoinAddress string                 `json:"bitcoinAddress"`
}

// Enabled is an entry of supportedTransactionCurrencies.
type Enabled struct {
	Enabled bool `json:"enabled"`
}

// MinerFee is an entry of minerFees; kassa charges no network fee.
type MinerFee struct {
	SatoshisPerByte json.Number `json:"satoshisPerByte"`
	TotalFee        int64       `json:"totalFee"`
}

// TransactionJSON is one payment in the merchant view.
type TransactionJSON struct {
	Amount        int64  `json:"amount"`
	Confirmations int32  `json:"confirmations"`
	ReceivedTime  string `json:"receivedTime"`
	TxID          string `json:"txid"`
	Time          string `json:"time"`
	OutputIndex   uint32 `json:"outputIndex"`
}

// InvoiceURL returns the checkout URL clients derive everything from:
// {base}/invoice?id={id} (spec §13.7).
func InvoiceURL(base, id string) string {
	return strings.TrimRight(base, "/") + "/invoice?id=" + url.QueryEscape(id)
}

// BIP21 returns the bitcoin: URI for an address and an amount (0 = none).
func BIP21(address string, amount money.Sats) string {
	if amount <= 0 {
		return "bitcoin:" + address
	}
	return "bitcoin:" + address + "?amount=" + amount.BTC()
}

// bip72 adds a payment-request URL (r=) to a BIP21 URI, which may or may
// not carry parameters already.
func bip72(uri, r string) string {
	if strings.Contains(uri, "?") {
		return uri + "&r=" + r
	}
	return uri + "?r=" + r
}

// RenderInvoice renders inv for a view at a chain tip and time. The maps
// BitPay keys by currency (paymentSubtotals, paymentCodes, exchangeRates …)
// have one entry per payment method the invoice offers; the single-valued
// fields of the older API versions (btcPrice, rate, bitcoinAddress,
// paymentUrls) describe the on-chain method.
func RenderInvoice(inv *invoice.Invoice, view View, base string, tip int32, now time.Time) InvoiceJSON {
	paid := inv.Paid()
	remaining := inv.Remaining()
	base = strings.TrimRight(base, "/")
	j := InvoiceJSON{
		URL:                            InvoiceURL(base, inv.ID),
		PosData:                        inv.Fields.PosData,
		Status:                         inv.Status,
		Price:                          json.Number(inv.Price.String()),
		Currency:                       inv.Currency,
		ItemDesc:                       inv.Fields.ItemDesc,
		ItemCode:                       inv.Fields.ItemCode,
		OrderID:                        inv.Fields.OrderID,
		InvoiceTime:                    inv.CreatedAt.UnixMilli(),
		ExpirationTime:                 inv.ExpiresAt.UnixMilli(),
		CurrentTime:                    now.UnixMilli(),
		GUID:                           inv.Fields.GUID,
		ID:                             inv.ID,
		AmountPaid:                     int64(paid),
		DisplayAmountPaid:              paid.BTC(),
		ExceptionStatus:                inv.Exception,
		RedirectURL:                    inv.Fields.RedirectURL,
		CloseURL:                       inv.Fields.CloseURL,
		AutoRedirect:                   inv.Fields.AutoRedirect,
		IsCancelled:                    inv.Cancelled,
		PaymentSubtotals:               make(map[string]int64, len(inv.Methods)),
		PaymentTotals:                  make(map[string]int64, len(inv.Methods)),
		PaymentDisplayTotals:           make(map[string]string, len(inv.Methods)),
		PaymentDisplaySubTotals:        make(map[string]string, len(inv.Methods)),
		ExchangeRates:                  make(map[string]map[string]json.Number, len(inv.Methods)),
		SupportedTransactionCurrencies: make(map[string]Enabled, len(inv.Methods)),
		MinerFees:                      make(map[string]MinerFee, len(inv.Methods)),
		PaymentCodes:                   make(map[string]map[string]string, len(inv.Methods)),
	}
	for _, m := range inv.Methods {
		key, rate := string(m.ID), json.Number(m.Rate.String())
		j.PaymentSubtotals[key], j.PaymentTotals[key] = int64(m.Due), int64(m.Due)
		j.PaymentDisplaySubTotals[key], j.PaymentDisplayTotals[key] = m.Due.BTC(), m.Due.BTC()
		j.ExchangeRates[key] = map[string]json.Number{inv.Currency: rate}
		j.SupportedTransactionCurrencies[key] = Enabled{Enabled: true}
		if m.ID != invoice.MethodBTC {
			continue
		}
		left := max(m.Due-paid, 0)
		j.MinerFees[key] = MinerFee{SatoshisPerByte: "0", TotalFee: 0}
		j.PaymentCodes[key] = map[string]string{
			"BIP21":  BIP21(m.Destination, left),
			"BIP72b": "bitcoin:?r=" + base + "/i/" + inv.ID,
			"BIP73":  base + "/i/" + inv.ID,
		}
		j.BTCPrice, j.BTCDue, j.BTCPaid, j.Rate = m.Due.BTC(), left.BTC(), paid.BTC(), rate
		j.ExRates = map[string]json.Number{inv.Currency: rate}
		j.BitcoinAddress = m.Destination
		j.PaymentURLs = map[string]string{
			"BIP21":  BIP21(m.Destination, left),
			"BIP72":  bip72(BIP21(m.Destination, left), base+"/i/"+inv.ID),
			"BIP72b": "bitcoin:?r=" + base + "/i/" + inv.ID,
			"BIP73":  base + "/i/" + inv.ID,
		}
	}
	if paid > 0 {
		j.TransactionCurrency = string(inv.Bound().ID)
	}
	if view >= ViewPOS {
		j.Token = inv.Token
	}
	if view == ViewMerchant {
		j.TargetConfirmations = 6
		j.TransactionSpeed = inv.Speed
		b := inv.Fields.Buyer
		j.Buyer = &b
		if inv.Exception == invoice.ExceptionPaidPartial {
			u := int64(remaining)
			j.UnderpaidAmount = &u
		}
		if over := paid - inv.Due(); over > 0 {
			o := int64(over)
			j.OverpaidAmount = &o
		}
		for _, p := range inv.Payments {
			if p.Removed {
				continue
			}
			t := p.SeenAt.UTC().Format(time.RFC3339Nano)
			j.Transactions = append(j.Transactions, TransactionJSON{
				Amount: int64(p.Amount), Confirmations: p.Confirmations(tip),
				ReceivedTime: t, Time: t, TxID: p.TxID, OutputIndex: p.Vout,
			})
		}
	}
	return j
}
