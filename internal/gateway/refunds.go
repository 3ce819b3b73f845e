package gateway

// This file is the refund service: what the API's refund endpoints (and
// later the buyer's refund page and the dashboard) call. The rules are
// package refund's; the service prices a refund, checks it against what
// the invoice can still refund and commits it with its events. It never
// pays one: the spend engine picks up refunds that are created and have an
// address (RefundsConfig.Payable, store.RefundsToPay) and moves them on
// through refund.Apply.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/shopspring/decimal"
)

// RefundStore is the persistence the refund service needs; *store.DB
// implements it.
type RefundStore interface {
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// GetRefund loads a refund or fails with store.ErrNotFound.
	GetRefund(ctx context.Context, id string) (refund.Refund, error)
	// GetRefundByGUID loads a store's refund by the client's guid or fails
	// with store.ErrNotFound.
	GetRefundByGUID(ctx context.Context, storeID, guid string) (refund.Refund, error)
	// InvoiceRefunds returns an invoice's refunds, oldest first.
	InvoiceRefunds(ctx context.Context, invoiceID string) ([]refund.Refund, error)
	// StoreHasAddress reports whether a store's invoices were given address.
	StoreHasAddress(ctx context.Context, storeID, address string) (bool, error)
	// RefundsPastAddressDeadline returns up to limit refunds still
	// without an address whose address deadline is at or before now.
	RefundsPastAddressDeadline(ctx context.Context, now time.Time, limit int) ([]refund.Refund, error)
	// Unit runs fn in one write transaction: refunds, the invoice changes
	// they cause and their events commit together or not at all.
	Unit(ctx context.Context, fn func(u *store.Unit) error) error
}

var _ RefundStore = (*store.DB)(nil)

// RefundsConfig wires a Refunds service. Store, Rates and Network are
// required.
type RefundsConfig struct {
	Store RefundStore
	// Rates prices refunds asked for in fiat at the current rate.
	Rates Rates
	// Network is the wallet network refund addresses must be for.
	Network string
	// Clock returns the current time; nil is the wall clock.
	Clock func() time.Time
	// AddressWait is how long a buyer asked for a refund address has to
	// give one before the refund fails (KASSA_REFUND_ADDRESS_WAIT); zero
	// is DefaultAddressWait.
	AddressWait time.Duration
	// Payable, when set, learns of every refund a commit leaves ready to
	// pay (created, with an address): the spend engine's wake-up. It runs
	// after the commit, on the caller's goroutine, and must not block.
	Payable func(r refund.Refund)
}

// Refunds creates, reads, confirms and cancels refunds.
type Refunds struct{ cfg RefundsConfig }

// DefaultAddressWait is how long a buyer has to give a refund address.
const DefaultAddressWait = 30 * 24 * time.Hour

// NewRefunds returns the refund service.
func NewRefunds(cfg RefundsConfig) *Refunds {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.AddressWait <= 0 {
		cfg.AddressWait = DefaultAddressWait
	}
	return &Refunds{cfg: cfg}
}

// The refund service's own errors; the rules' are package refund's
// (refund.ErrInvoiceState, refund.ErrNotCancellable …).
var (
	// ErrGUIDReused: a guid the store used for another refund request
	// (another invoice, amount, currency or option): BitPay's 010204.
	ErrGUIDReused = errors.New("a refund with this guid exists for another request")
	// ErrNoRate: the current rate of the refund's currency is unknown, so
	// it cannot be priced now; the client retries later.
	ErrNoRate = errors.New("no current exchange rate")
	// ErrBadAddress: not a bitcoin address of kassa's network (the
	// InputError's Kind).
	ErrBadAddress = errors.New("not a bitcoin address for this network")
	// ErrOwnAddress: one of the store's own addresses (the InputError's
	// Kind): a refund pays the buyer.
	ErrOwnAddress = errors.New("one of the store's own addresses")
)

// NewRefund is a request for a refund.
type NewRefund struct {
	InvoiceID string
	// Amount is a decimal in Currency: the invoice's currency (priced at
	// the current rate, BitPay's rule) or BTC. "" for Currency is the
	// invoice's.
	Amount   string
	Currency string
	// Preview makes a refund that does nothing until confirmed.
	Preview      bool
	Immediate    bool
	BuyerPaysFee bool
	// GUID is the client's idempotency key: the same guid and request
	// return the refund it made.
	GUID      string
	Reference string
	// Address, when given (the 2014 API's bitcoinAddress), is where the
	// refund is paid; without one the buyer is asked for it.
	Address string
	// Email is where the buyer is asked for an address, "" for the
	// invoice's buyer email.
	Email string
}

// maxAttempts bounds the retries of a change that raced another.
const maxAttempts = 5

// Create prices a refund of one of a store's invoices and commits it with
// its refund_created event (none for a preview). The invoice must be
// refundable (refund.Check); a refund of a confirmed invoice refunds all
// it can and declines it (refund.InFull). Any refund that is not a
// preview counts against what the invoice can still refund, and the
// check and the insert are one transaction against the invoice's version,
// so two refunds at once never take more than the buyer paid.
func (s *Refunds) Create(ctx context.Context, storeID string, req NewRefund) (*refund.Refund, error) {
	if req.GUID != "" {
		r, err := s.cfg.Store.GetRefundByGUID(ctx, storeID, req.GUID)
		if err == nil {
			return replay(&r, req)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	inv, err := s.invoice(ctx, storeID, req.InvoiceID)
	if err != nil {
		return nil, err
	}
	cur, amount, err := parseRefundAmount(&inv, req.Currency, req.Amount)
	if err != nil {
		return nil, err
	}
	rate := decimal.NewFromInt(1)
	if cur.Code != "BTC" {
		if rate, err = s.cfg.Rates.Rate(cur.Code); err != nil {
			return nil, fmt.Errorf("price refund in %s: %w: %v", cur.Code, ErrNoRate, err)
		}
	}
	sats, err := money.BTCDue(amount, rate)
	if err != nil {
		return nil, &InputError{Field: "amount", Msg: err.Error()}
	}
	addr, err := s.checkAddress(ctx, storeID, "bitcoinAddress", req.Address)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if inv, err = s.invoice(ctx, storeID, req.InvoiceID); err != nil {
				return nil, err
			}
		}
		refunds, err := s.cfg.Store.InvoiceRefunds(ctx, inv.ID)
		if err != nil {
			return nil, err
		}
		now := s.now()
		r := refund.Refund{ID: auth.NewID(), StoreID: storeID, InvoiceID: inv.ID, Token: auth.NewResourceToken(),
			AddressSecret: auth.NewResourceToken(), GUID: req.GUID, Reference: req.Reference, Email: req.Email,
			Status: refund.StatusCreated,
			Amount: amount, Currency: cur.Code, Rate: rate, NotificationURL: inv.Fields.NotificationURL, Sats: sats,
			BuyerPaysFee: req.BuyerPaysFee, Immediate: req.Immediate, Cancellable: true, Address: addr,
			RequestedAt: now, UpdatedAt: now}
		if req.Preview {
			r.Status = refund.StatusPreview
		}
		s.startAddressWait(&r)
		if err := priceInFull(&r, &inv, refunds, cur); err != nil {
			return nil, err
		}
		var notes []refund.Notification
		if !req.Preview {
			notes = []refund.Notification{{Code: refund.CodeCreated, Status: r.Status, At: now}}
		}
		err = s.commit(ctx, &r, notes, &inv)
		switch {
		case errors.Is(err, store.ErrConflict) && attempt < maxAttempts:
			continue // another change to the invoice or its refunds: judge again
		case errors.Is(err, store.ErrDuplicate) && req.GUID != "":
			// A concurrent request with the same guid won the race.
			won, gerr := s.cfg.Store.GetRefundByGUID(ctx, storeID, req.GUID)
			if gerr != nil {
				return nil, err
			}
			return replay(&won, req)
		case err != nil:
			return nil, fmt.Errorf("create refund of invoice %s: %w", inv.ID, err)
		}
		return &r, nil
	}
}

// priceInFull checks a new or confirmed refund r against what inv can
// still refund; a refund of a confirmed invoice is widened to all of it
// and cannot be cancelled (refund.InFull). A preview is checked too, so
// that what it shows could be made.
func priceInFull(r *refund.Refund, inv *invoice.Invoice, refunds []refund.Refund, cur money.Currency) error {
	others := make([]refund.Refund, 0, len(refunds))
	for _, x := range refunds {
		if x.ID != r.ID {
			others = append(others, x)
		}
	}
	left, err := refund.Refundable(inv, others)
	if err != nil {
		return err
	}
	if err := refund.Check(inv, others, r.Sats); err != nil {
		return &InputError{Field: "amount", Msg: tooMuch(r, left, cur)}
	}
	if refund.InFull(inv) && r.Sats != left {
		r.Sats, r.Cancellable = left, false
		r.Amount = left.Decimal()
		if cur.Code != "BTC" {
			r.Amount = money.Fiat(left, r.Rate, cur)
		}
	} else if refund.InFull(inv) {
		r.Cancellable = false
	}
	return nil
}

// tooMuch says what a refund asked for and what the invoice can still
// refund, in the refund's currency at its rate.
func tooMuch(r *refund.Refund, left money.Sats, cur money.Currency) string {
	most := left.BTC() + " BTC"
	if cur.Code != "BTC" {
		most = money.Fiat(left, r.Rate, cur).StringFixed(cur.Precision) + " " + cur.Code + " (" + most + ")"
	}
	return fmt.Sprintf("%s %s is %s BTC at the current rate; the invoice can refund at most %s: %v",
		r.Amount, r.Currency, r.Sats.BTC(), most, refund.ErrTooMuch)
}

// commit stores a refund's change with its events; a refund that is (or
// becomes) created declines a confirmed invoice in the same transaction.
// The invoice is written in any case, so that its version orders every
// change to what it can refund: a concurrent one fails with
// store.ErrConflict.
func (s *Refunds) commit(ctx context.Context, r *refund.Refund, notes []refund.Notification, inv *invoice.Invoice) error {
	change := store.Change{Invoice: inv}
	if r.Status == refund.StatusCreated && !r.Cancellable && refund.InFull(inv) {
		next, inotes, err := invoice.Apply(*inv, invoice.Decline{}, invoice.Env{Now: r.UpdatedAt})
		if err != nil {
			return err
		}
		change = store.Change{Invoice: &next, Notes: inotes}
	}
	err := s.cfg.Store.Unit(ctx, func(u *store.Unit) error {
		if err := u.Refund(r, notes); err != nil {
			return err
		}
		return u.Invoices([]store.Change{change})
	})
	if err == nil {
		s.payable(r)
	}
	return err
}

// payable tells the spend engine of a refund ready to pay.
func (s *Refunds) payable(r *refund.Refund) {
	if s.cfg.Payable != nil && r.Status == refund.StatusCreated && r.Address != "" {
		s.cfg.Payable(*r)
	}
}

// replay answers a request whose guid the store used already: the refund
// it made when the request is the same, ErrGUIDReused otherwise. Preview
// is not compared (the refund may have been confirmed since), nor the
// amount of a refund in full, which took what the invoice had left.
func replay(r *refund.Refund, req NewRefund) (*refund.Refund, error) {
	same := req.InvoiceID == r.InvoiceID && req.Immediate == r.Immediate && req.BuyerPaysFee == r.BuyerPaysFee &&
		(req.Address == "" || strings.EqualFold(req.Address, r.Address))
	if c := strings.ToUpper(strings.TrimSpace(req.Currency)); c != "" && c != r.Currency {
		same = false
	}
	if a, err := decimal.NewFromString(strings.TrimSpace(req.Amount)); r.Cancellable && (err != nil || !a.Equal(r.Amount)) {
		same = false
	}
	if !same {
		return nil, fmt.Errorf("guid %s: %w (refund %s of invoice %s, %s %s)", r.GUID, ErrGUIDReused, r.ID, r.InvoiceID,
			r.Amount, r.Currency)
	}
	return r, nil
}

// parseRefundAmount reads a refund's currency (the invoice's or BTC) and
// amount.
func parseRefundAmount(inv *invoice.Invoice, currency, amount string) (money.Currency, decimal.Decimal, error) {
	code := strings.ToUpper(strings.TrimSpace(currency))
	if code == "" {
		code = inv.Currency
	}
	cur, ok := money.LookupCurrency(code)
	if !ok {
		return cur, decimal.Zero, &InputError{Field: "currency", Msg: fmt.Sprintf("unsupported currency %q", currency)}
	}
	if cur.Code != "BTC" && cur.Code != inv.Currency {
		return cur, decimal.Zero, &InputError{Field: "currency",
			Msg: fmt.Sprintf("a refund is in the invoice's currency (%s) or in BTC, not %s", inv.Currency, cur.Code)}
	}
	if strings.TrimSpace(amount) == "" {
		return cur, decimal.Zero, &InputError{Field: "amount", Msg: "missing required parameter"}
	}
	d, err := money.ParsePrice(amount, cur)
	if err != nil {
		return cur, decimal.Zero, &InputError{Field: "amount", Msg: err.Error()}
	}
	return cur, d, nil
}

// checkAddress validates a refund address for the network, in its
// canonical spelling (bech32 in lower case), and refuses the store's own.
func (s *Refunds) checkAddress(ctx context.Context, storeID, field, addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", nil
	}
	script, err := wallet.ScriptForAddress(addr, s.cfg.Network)
	if err != nil {
		return "", &InputError{Field: field, Msg: fmt.Sprintf("not a bitcoin address for %s: %v", s.cfg.Network, err),
			Kind: ErrBadAddress}
	}
	if lower := strings.ToLower(addr); lower != addr {
		if again, err := wallet.ScriptForAddress(lower, s.cfg.Network); err == nil && bytes.Equal(again, script) {
			addr = lower
		}
	}
	own, err := s.cfg.Store.StoreHasAddress(ctx, storeID, addr)
	if err != nil {
		return "", err
	}
	if own {
		return "", &InputError{Field: field, Msg: "this is one of the store's own addresses: a refund pays the buyer",
			Kind: ErrOwnAddress}
	}
	return addr, nil
}

// invoice loads one of a store's invoices; another store's is not found.
func (s *Refunds) invoice(ctx context.Context, storeID, id string) (invoice.Invoice, error) {
	if id == "" {
		return invoice.Invoice{}, &InputError{Field: "invoiceId", Msg: "missing required parameter"}
	}
	inv, err := s.cfg.Store.GetInvoice(ctx, id)
	if err == nil && inv.StoreID != storeID {
		err = fmt.Errorf("invoice %s of another store: %w", id, store.ErrNotFound)
	}
	return inv, err
}

// Get returns one of a store's refunds; another store's is not found.
func (s *Refunds) Get(ctx context.Context, storeID, id string) (*refund.Refund, error) {
	r, err := s.cfg.Store.GetRefund(ctx, id)
	if err == nil && r.StoreID != storeID {
		err = fmt.Errorf("refund %s of another store: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GetByGUID returns a store's refund by the client's guid.
func (s *Refunds) GetByGUID(ctx context.Context, storeID, guid string) (*refund.Refund, error) {
	r, err := s.cfg.Store.GetRefundByGUID(ctx, storeID, guid)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// List returns the refunds of one of a store's invoices, oldest first.
func (s *Refunds) List(ctx context.Context, storeID, invoiceID string) ([]refund.Refund, error) {
	inv, err := s.invoice(ctx, storeID, invoiceID)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.InvoiceRefunds(ctx, inv.ID)
}

// Confirm turns a store's preview refund into a refund (PUT status
// "created"), checked again against what the invoice can refund now;
// confirming a created one changes nothing, anything else is
// refund.ErrIllegalTransition.
func (s *Refunds) Confirm(ctx context.Context, storeID, id string) (*refund.Refund, error) {
	return s.act(ctx, storeID, id, refund.Confirm{})
}

// Cancel cancels a store's refund that is not paid yet; one that declined
// its invoice, or whose transaction is out, is refund.ErrNotCancellable.
func (s *Refunds) Cancel(ctx context.Context, storeID, id string) (*refund.Refund, error) {
	return s.act(ctx, storeID, id, refund.Cancel{})
}

// Resend queues a refund's latest event again (POST
// /refunds/:id/notifications); a preview has none
// (refund.ErrIllegalTransition).
func (s *Refunds) Resend(ctx context.Context, id string) (*refund.Refund, error) {
	r, err := s.cfg.Store.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, r.StoreID, id, refund.Resend{})
}

// SetAddress records where the buyer wants a refund paid (the buyer's
// refund page), validated for the network and never the store's own.
func (s *Refunds) SetAddress(ctx context.Context, id, address string) (*refund.Refund, error) {
	r, err := s.cfg.Store.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	addr, err := s.checkAddress(ctx, r.StoreID, "refundAddress", address)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		return nil, &InputError{Field: "refundAddress", Msg: "missing required parameter"}
	}
	return s.act(ctx, r.StoreID, id, refund.SetAddress{Address: addr})
}

// act applies a change to a store's refund and commits it with its
// events, again from the start when it raced another change.
func (s *Refunds) act(ctx context.Context, storeID, id string, ev refund.Event) (*refund.Refund, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.Get(ctx, storeID, id)
		if err != nil {
			return nil, err
		}
		next, notes, err := refund.Apply(*r, ev, s.now())
		if err != nil {
			return nil, err
		}
		_, resend := ev.(refund.Resend)
		if next == *r && !resend {
			return r, nil
		}
		if _, ok := ev.(refund.Confirm); ok {
			// A confirmed preview starts to count: judge it and take
			// the invoice's version, as Create does; its buyer's time
			// to give an address starts now.
			s.startAddressWait(&next)
			err = s.confirm(ctx, &next, notes)
		} else {
			err = s.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Refund(&next, notes) })
			if err == nil {
				s.payable(&next)
			}
		}
		if errors.Is(err, store.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("refund %s: %w", id, err)
		}
		return &next, nil
	}
}

// confirm commits a preview turned into a refund after checking it
// against its invoice as it is now.
func (s *Refunds) confirm(ctx context.Context, r *refund.Refund, notes []refund.Notification) error {
	inv, err := s.invoice(ctx, r.StoreID, r.InvoiceID)
	if err != nil {
		return err
	}
	refunds, err := s.cfg.Store.InvoiceRefunds(ctx, inv.ID)
	if err != nil {
		return err
	}
	cur, _ := money.LookupCurrency(r.Currency)
	sats, cancellable := r.Sats, r.Cancellable
	if err := priceInFull(r, &inv, refunds, cur); err != nil {
		return err
	}
	if r.Sats != sats || r.Cancellable != cancellable {
		// A confirmed invoice is refunded in full: the refund the
		// preview showed is no longer what would be paid.
		return fmt.Errorf("%w: the invoice is confirmed, so it is refunded in full (%s BTC); make a new refund",
			refund.ErrInvoiceState, r.Sats.BTC())
	}
	return s.commit(ctx, r, notes, &inv)
}

// startAddressWait gives a created refund without an address its
// deadline for the buyer's address, counted from its last change.
func (s *Refunds) startAddressWait(r *refund.Refund) {
	if r.Status == refund.StatusCreated && r.Address == "" && r.AddressDeadline.IsZero() {
		r.AddressDeadline = r.UpdatedAt.Add(s.cfg.AddressWait)
	}
}

func (s *Refunds) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Millisecond) }
