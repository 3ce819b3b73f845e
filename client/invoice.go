package client

import (
	"encoding/json"
	"fmt"
)

// Status is an invoice's base status (spec §3.5).
type Status string

// The invoice statuses BitPay and kassa emit.
const (
	StatusNew       Status = "new"
	StatusPaid      Status = "paid"
	StatusConfirmed Status = "confirmed"
	StatusComplete  Status = "complete"
	StatusExpired   Status = "expired"
	StatusInvalid   Status = "invalid"
	StatusDeclined  Status = "declined"
)

// ExceptionStatus is an invoice's exceptionStatus: empty when the server
// sent false (no exception), otherwise "paidPartial", "paidOver", "paidLate"
// and the like.
type ExceptionStatus string

// The exception statuses of spec §3.5.
const (
	ExceptionNone        ExceptionStatus = ""
	ExceptionPaidPartial ExceptionStatus = "paidPartial"
	ExceptionPaidOver    ExceptionStatus = "paidOver"
	ExceptionPaidLate    ExceptionStatus = "paidLate"
)

// UnmarshalJSON accepts false or null (no exception) and strings.
func (e *ExceptionStatus) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "false", "null":
		*e = ExceptionNone
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("exceptionStatus: want false or a string, got %s", b)
	}
	*e = ExceptionStatus(s)
	return nil
}

// MarshalJSON writes ExceptionNone as false, as BitPay does.
func (e ExceptionStatus) MarshalJSON() ([]byte, error) {
	if e == ExceptionNone {
		return []byte("false"), nil
	}
	return json.Marshal(string(e))
}

// Buyer is an invoice's buyer (spec §3.2, §3.3).
type Buyer struct {
	Name       string `json:"name,omitempty"`
	Address1   string `json:"address1,omitempty"`
	Address2   string `json:"address2,omitempty"`
	Locality   string `json:"locality,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Notify     bool   `json:"notify,omitempty"`
}

// Transaction is one payment of an invoice (merchant view).
type Transaction struct {
	// Amount is in the smallest unit of the transaction currency.
	Amount        json.Number `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	// ReceivedTime and Time are ISO 8601 strings.
	ReceivedTime string `json:"receivedTime"`
	Time         string `json:"time"`
	TxID         string `json:"txid"`
	OutputIndex  int64  `json:"outputIndex"`
}

// Invoice is the invoice resource (spec §3.3). Money is never a float:
// prices and rates are decimal json.Numbers, smallest-unit amounts are
// integers, and the per-currency totals are json.Numbers because 18-decimal
// tokens exceed int64. Times are epoch milliseconds.
type Invoice struct {
	ID              string          `json:"id"`
	URL             string          `json:"url"`
	Status          Status          `json:"status"`
	ExceptionStatus ExceptionStatus `json:"exceptionStatus"`
	Price           json.Number     `json:"price"`
	Currency        string          `json:"currency"`
	OrderID         string          `json:"orderId,omitempty"`
	ItemDesc        string          `json:"itemDesc,omitempty"`
	ItemCode        string          `json:"itemCode,omitempty"`
	PosData         string          `json:"posData,omitempty"`
	GUID            string          `json:"guid,omitempty"`
	// Token is the invoice's resource token.
	Token string `json:"token,omitempty"`

	InvoiceTime    int64 `json:"invoiceTime"`
	ExpirationTime int64 `json:"expirationTime"`
	CurrentTime    int64 `json:"currentTime"`

	// AmountPaid is in the smallest unit of TransactionCurrency.
	AmountPaid              int64                             `json:"amountPaid"`
	DisplayAmountPaid       string                            `json:"displayAmountPaid,omitempty"`
	TransactionCurrency     string                            `json:"transactionCurrency,omitempty"`
	PaymentSubtotals        map[string]json.Number            `json:"paymentSubtotals,omitempty"`
	PaymentTotals           map[string]json.Number            `json:"paymentTotals,omitempty"`
	PaymentDisplayTotals    map[string]string                 `json:"paymentDisplayTotals,omitempty"`
	PaymentDisplaySubTotals map[string]string                 `json:"paymentDisplaySubTotals,omitempty"`
	ExchangeRates           map[string]map[string]json.Number `json:"exchangeRates,omitempty"`
	// PaymentCodes maps a currency to payment URIs by scheme (BIP72b, BIP73,
	// BIP21, …).
	PaymentCodes map[string]map[string]string `json:"paymentCodes,omitempty"`

	// Legacy BTC fields, decimal strings.
	BTCPrice string `json:"btcPrice,omitempty"`
	BTCDue   string `json:"btcDue,omitempty"`
	BTCPaid  string `json:"btcPaid,omitempty"`

	TargetConfirmations int64         `json:"targetConfirmations,omitempty"`
	TransactionSpeed    string        `json:"transactionSpeed,omitempty"`
	Transactions        []Transaction `json:"transactions,omitempty"`
	Buyer               *Buyer        `json:"buyer,omitempty"`
	IsCancelled         bool          `json:"isCancelled,omitempty"`
	LowFeeDetected      bool          `json:"lowFeeDetected,omitempty"`
	RedirectURL         string        `json:"redirectURL,omitempty"`
	CloseURL            string        `json:"closeURL,omitempty"`
	NotificationURL     string        `json:"notificationURL,omitempty"`
}

// InvoiceRequest is the body of POST /invoices (spec §3.2). Empty fields are
// left out, as the official SDKs do, so the server applies its defaults.
type InvoiceRequest struct {
	// Price is a decimal string ("10.50"), sent as a JSON number; empty
	// leaves it out.
	Price    json.Number `json:"price,omitempty"`
	Currency string      `json:"currency,omitempty"`

	OrderID         string `json:"orderId,omitempty"`
	ItemDesc        string `json:"itemDesc,omitempty"`
	ItemCode        string `json:"itemCode,omitempty"`
	PosData         string `json:"posData,omitempty"`
	NotificationURL string `json:"notificationURL,omitempty"`
	RedirectURL     string `json:"redirectURL,omitempty"`
	CloseURL        string `json:"closeURL,omitempty"`
	// TransactionSpeed is "high", "medium" or "low".
	TransactionSpeed      string `json:"transactionSpeed,omitempty"`
	FullNotifications     bool   `json:"fullNotifications,omitempty"`
	ExtendedNotifications bool   `json:"extendedNotifications,omitempty"`
	Buyer                 *Buyer `json:"buyer,omitempty"`
	// GUID is the idempotency key: the same GUID and token return the same
	// invoice.
	GUID string `json:"guid,omitempty"`
}
