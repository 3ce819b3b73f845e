// Package invoice holds kassa's invoice: its domain types and the pure state
// machine that moves it through BitPay's statuses. Nothing here does I/O or
// reads the clock; time and the chain tip are passed in.
package invoice

import (
	"encoding/json"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/shopspring/decimal"
)

// Status is an invoice's BitPay status.
type Status string

// The BitPay invoice statuses (spec §3.5).
const (
	StatusNew       Status = "new"
	StatusPaid      Status = "paid"
	StatusConfirmed Status = "confirmed"
	StatusComplete  Status = "complete"
	StatusExpired   Status = "expired"
	StatusInvalid   Status = "invalid"
	StatusDeclined  Status = "declined"
)

// Valid reports whether s is one of the BitPay statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusNew, StatusPaid, StatusConfirmed, StatusComplete, StatusExpired, StatusInvalid, StatusDeclined:
		return true
	}
	return false
}

// IsFinal reports whether no chain event can move the invoice out of s
// except the documented ones (a late confirmation of an invalid invoice, a
// reorg rolling back a payment).
func (s Status) IsFinal() bool {
	return s == StatusComplete || s == StatusExpired || s == StatusDeclined
}

// Exception is an invoice's exceptionStatus; the zero value means none and
// is rendered as JSON false.
type Exception string

// The exception statuses.
const (
	ExceptionNone        Exception = ""
	ExceptionPaidPartial Exception = "paidPartial"
	ExceptionPaidOver    Exception = "paidOver"
	ExceptionPaidLate    Exception = "paidLate"
)

// MarshalJSON renders the exception as false or its name, never null.
func (e Exception) MarshalJSON() ([]byte, error) {
	if e == ExceptionNone {
		return []byte("false"), nil
	}
	return json.Marshal(string(e))
}

// UnmarshalJSON accepts false, null or a string.
func (e *Exception) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*e = ExceptionNone
		return nil
	}
	*e = Exception(s)
	return nil
}

// Speed is an invoice's transactionSpeed.
type Speed string

// The transaction speeds (spec §3.5).
const (
	SpeedHigh   Speed = "high"
	SpeedMedium Speed = "medium"
	SpeedLow    Speed = "low"
)

// Valid reports whether s is a known speed.
func (s Speed) Valid() bool { return s == SpeedHigh || s == SpeedMedium || s == SpeedLow }

// Invoice is one payment request. Amounts are satoshis; the fiat price and
// the rates are decimals. Payments are every payment seen by any of its
// methods, including removed ones (kept for the record).
type Invoice struct {
	ID      string // 22-char base58
	StoreID string
	Token   string // the invoice resource token, stable for the invoice's life
	// CreatedBy is the Ref of the API token that created the invoice
	// (auth.Token.Ref), "" when no token did (the dashboard's point of
	// sale, a legacy API key, invoices from before kassa recorded it).
	CreatedBy string

	Status    Status
	Exception Exception
	Speed     Speed

	Price    decimal.Decimal // fiat price in Currency
	Currency string          // ISO 4217 code (or BTC)

	// Methods are the ways the invoice can be paid, each with its own
	// locked rate, amount due and destination; today one, bitcoin
	// on-chain (MethodBTC).
	Methods []Method

	CreatedAt time.Time
	ExpiresAt time.Time
	// PaidAt is when the payments first covered Due (zero if never); the
	// one-hour confirmation window of the invalid rule runs from it.
	PaidAt time.Time
	// UpdatedAt is when the invoice last changed.
	UpdatedAt time.Time

	Cancelled bool // cancelled by the merchant (status expired, isCancelled)

	Payments []Payment

	// Fields holds the request fields kassa stores and echoes but has no
	// rules for (orderId, posData, buyer, notificationURL, …), as JSON.
	Fields Fields

	// Version increases by one with every stored change; the store uses it
	// for optimistic concurrency.
	Version int64
}

// Fields are the request fields an invoice echoes. The API layer owns their
// meaning; the core only stores them.
type Fields struct {
	OrderID               string          `json:"orderId,omitempty"`
	ItemDesc              string          `json:"itemDesc,omitempty"`
	ItemCode              string          `json:"itemCode,omitempty"`
	PosData               string          `json:"posData,omitempty"`
	GUID                  string          `json:"guid,omitempty"`
	NotificationURL       string          `json:"notificationURL,omitempty"`
	NotificationEmail     string          `json:"notificationEmail,omitempty"`
	RedirectURL           string          `json:"redirectURL,omitempty"`
	CloseURL              string          `json:"closeURL,omitempty"`
	AutoRedirect          bool            `json:"autoRedirect,omitempty"`
	FullNotifications     bool            `json:"fullNotifications,omitempty"`
	ExtendedNotifications bool            `json:"extendedNotifications,omitempty"`
	Physical              bool            `json:"physical,omitempty"`
	Buyer                 Buyer           `json:"buyer,omitzero"`
	Extra                 json.RawMessage `json:"extra,omitempty"` // other echoed fields, verbatim
}

// Buyer is the buyer's contact, in BitPay's current field names.
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

// Payment is one payment by one of an invoice's methods; on-chain, a
// transaction output paying the method's script.
type Payment struct {
	Method MethodID
	TxID   string // hex, display order
	Vout   uint32
	Amount money.Sats
	// Height is the block height that confirms the output, 0 while it is in
	// the mempool.
	Height int32
	// BlockHash is the hash of the confirming block, "" while unconfirmed.
	BlockHash string
	SeenAt    time.Time
	// Late is set when the payment arrived after the invoice expired (or
	// after it was already final); late payments never count towards Due.
	Late bool
	// Removed is set when the payment left the chain and the mempool: a
	// double-spend, an RBF replacement, or a reorg that dropped it.
	Removed bool
}

// Paid returns the satoshis counted towards Due: live, on-time payments.
func (inv *Invoice) Paid() money.Sats {
	var sum money.Sats
	for _, p := range inv.Payments {
		if !p.Removed && !p.Late {
			sum += p.Amount
		}
	}
	return sum
}

// Received returns every live satoshi seen, late ones included.
func (inv *Invoice) Received() money.Sats {
	var sum money.Sats
	for _, p := range inv.Payments {
		if !p.Removed {
			sum += p.Amount
		}
	}
	return sum
}

// Remaining returns the satoshis still due (0 when fully paid).
func (inv *Invoice) Remaining() money.Sats {
	if r := inv.Due() - inv.Paid(); r > 0 {
		return r
	}
	return 0
}

// Payment returns the index of the payment txid:vout, or -1.
func (inv *Invoice) Payment(txid string, vout uint32) int {
	for i, p := range inv.Payments {
		if p.TxID == txid && p.Vout == vout {
			return i
		}
	}
	return -1
}
