// Package gateway is kassa's payment path: it creates invoices (locked rate,
// fresh address, durable insert with its outbox event) and feeds what the
// chain watcher sees through the pure invoice state machine into the store,
// one transaction per block. It holds no HTTP and no SQL; cmd wires it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
	"github.com/shopspring/decimal"
)

// Store is the persistence the gateway needs; *store.DB implements it.
type Store interface {
	// GetStore loads a merchant store or fails with store.ErrNotFound.
	GetStore(ctx context.Context, id string) (merchant.Store, error)
	// CreateInvoice allocates the invoice's address and inserts it with its
	// notifications in one group-committed transaction.
	CreateInvoice(ctx context.Context, inv *invoice.Invoice, notes []invoice.Notification, addr store.AddressFunc) error
	// GetInvoice loads an invoice or fails with store.ErrNotFound.
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	// Commit writes invoice changes, their outbox events and the chain
	// state in one transaction, or nothing (store.ErrConflict on a race).
	Commit(ctx context.Context, changes []store.Change, chain *store.ChainUpdate) error
}

// Rates serves exchange rates from memory.
type Rates interface {
	// Rate returns the price of one BTC in currency.
	Rate(currency string) (decimal.Decimal, error)
}

// Config wires a Gateway. Every field but Log and Clock is required.
type Config struct {
	Store   Store
	Rates   Rates
	Network string // the wallet network: mainnet, testnet, signet, regtest
	// Clock returns the current time; tests pass a fake.
	Clock func() time.Time
	// Policy holds the confirmation rules (zero value: BitPay's).
	Policy invoice.Policy
	Log    *slog.Logger
	// Settings is the node's cache of stores' settings; nil makes one over
	// Store.
	Settings *merchant.Settings
}

// Gateway creates invoices and applies chain events to them.
type Gateway struct {
	cfg Config

	mu   sync.Mutex
	keys map[string]*storeKey // by store id

	done      chan struct{}
	closeOnce sync.Once

	// created, when set, learns of each invoice before CreateInvoice
	// returns, so its address is watched before any buyer can see it.
	created atomic.Pointer[func(*invoice.Invoice)]
	// tip is the processed chain height, kept by the processor.
	tip atomic.Int32
}

type storeKey struct {
	storeID string
	key     string // the store's key as configured, which the cache derives from
	addrs   *wallet.Cache
	// next is one past the highest index handed out; the filler keeps the
	// cache ahead of it.
	next atomic.Uint32
	// used counts the addresses handed out since the filler last looked.
	used atomic.Uint32
	kick chan struct{}
	// stop ends the filler when the store's key changes.
	stop chan struct{}
}

// fill keeps the address cache ahead of use, off the store's hot path,
// until done closes.
func (sk *storeKey) fill(log *slog.Logger, done <-chan struct{}) {
	ahead, last, first := uint32(addressAheadMin), uint32(0), true
	// seen counts the indexes the store moved on since the filler last
	// judged whether this node or others use them; shared is the verdict.
	seen, shared := uint32(0), false
	for {
		select {
		case <-done:
			return
		case <-sk.stop:
			return
		case <-sk.kick:
			// Grow the window while the store uses more than half of
			// what lies ahead between two fills, so a busy store stays
			// ahead of its invoices and an idle one holds few addresses
			// (a server with hundreds of stores holds kilobytes each,
			// not megabytes).
			next := sk.next.Load()
			if first {
				// A store that already used addresses (another node's,
				// or before a restart) starts at its next index, not
				// as if it had used them all since this fill began.
				last, first = next-min(next, 1), false
			}
			moved := next - min(next, last)
			if seen += moved; seen >= sharedMinMoved {
				// Other nodes hand out most of this store's indexes: a
				// window kept here would derive every address the
				// cluster uses, mostly for nothing. The few this node
				// needs are derived on demand by the store's writer
				// (in parallel) until it is the main user again.
				shared = sk.used.Swap(0)*2 < seen
				seen = 0
			}
			if shared {
				last = next
				continue
			}
			if moved > ahead/2 && ahead < addressAheadMax {
				ahead = min(2*ahead, addressAheadMax)
				sk.addrs.SetLookahead(int(ahead + ahead/4))
			}
			last = next
			// Keep a margin behind the newest index (a quarter of the
			// window): the store derives a batch's addresses in parallel,
			// so older ones are still asked for after newer ones.
			trail := ahead / 4
			if err := sk.addrs.Fill(next - min(next, trail)); err != nil {
				log.Error("fill address cache", "store", sk.storeID, "err", err)
			}
		}
	}
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Settings == nil {
		cfg.Settings = merchant.NewSettings(cfg.Store.GetStore, 0)
	}
	return &Gateway{cfg: cfg, keys: map[string]*storeKey{}, done: make(chan struct{})}
}

// ErrInvalid marks an error caused by the caller's input; the API answers
// it with a 400 in BitPay's envelope.
var ErrInvalid = errors.New("invalid input")

// InputError names the field a request got wrong.
type InputError struct {
	Field string
	Msg   string
	// Kind, when set, says what was wrong in a way callers branch on
	// (ErrBadAddress, ErrOwnAddress); the error matches it too.
	Kind error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes every InputError match ErrInvalid, and its Kind.
func (e *InputError) Unwrap() []error {
	if e.Kind != nil {
		return []error{ErrInvalid, e.Kind}
	}
	return []error{ErrInvalid}
}

// NewInvoice is a request for an invoice.
type NewInvoice struct {
	Price    string // decimal, in Currency
	Currency string // ISO 4217 or BTC; empty means the store's default
	Speed    invoice.Speed
	// Window is the time the buyer has to pay (acceptanceWindow); zero
	// means the store's expiry.
	Window time.Duration
	Fields invoice.Fields
	// CreatedBy is the Ref of the API token asking (auth.Token.Ref), ""
	// for none; its secret keys the invoice's signed IPNs.
	CreatedBy string
}

// MaxWindow bounds the payment window a request may ask for: the longest
// expiry a store may have.
const MaxWindow = merchant.MaxExpiry

// CreateInvoice prices, addresses and durably stores a new invoice. When it
// returns, the invoice and its invoice_created event are committed.
func (g *Gateway) CreateInvoice(ctx context.Context, storeID string, req NewInvoice) (*invoice.Invoice, error) {
	st, err := g.cfg.Settings.Get(ctx, storeID)
	if err != nil {
		return nil, fmt.Errorf("load store %s: %w", storeID, err)
	}
	// The writer derives the address from the key's cache (address).
	if _, err := g.storeKey(st); err != nil {
		return nil, err
	}
	code := strings.ToUpper(strings.TrimSpace(req.Currency))
	if code == "" {
		code = st.DefaultCurrency
	}
	cur, ok := money.LookupCurrency(code)
	if !ok {
		return nil, &InputError{Field: "currency", Msg: fmt.Sprintf("unsupported currency %q", req.Currency)}
	}
	price, err := money.ParsePrice(req.Price, cur)
	if err != nil {
		return nil, &InputError{Field: "price", Msg: err.Error()}
	}
	rate := decimal.NewFromInt(1)
	if cur.Code != "BTC" {
		if rate, err = g.cfg.Rates.Rate(cur.Code); err != nil {
			return nil, fmt.Errorf("rate for %s: %w", cur.Code, err)
		}
	}
	due, err := money.BTCDue(price, rate)
	if err != nil {
		return nil, &InputError{Field: "price", Msg: err.Error()}
	}
	speed := req.Speed
	if speed == "" {
		speed = st.Speed
	}
	if !speed.Valid() {
		return nil, &InputError{Field: "transactionSpeed", Msg: fmt.Sprintf("unknown speed %q (want high, medium or low)", req.Speed)}
	}
	window := st.Expiry
	if req.Window < 0 {
		return nil, &InputError{Field: "acceptanceWindow", Msg: "must not be negative"}
	}
	if req.Window > 0 {
		window = min(req.Window, MaxWindow)
	}
	now := g.cfg.Clock().UTC().Truncate(time.Millisecond)
	inv := &invoice.Invoice{
		ID:        auth.NewID(),
		StoreID:   st.ID,
		Token:     auth.NewResourceToken(),
		CreatedBy: req.CreatedBy,
		Status:    invoice.StatusNew,
		Speed:     speed,
		Price:     price,
		Currency:  cur.Code,
		CreatedAt: now,
		ExpiresAt: now.Add(window),
		UpdatedAt: now,
		Fields:    req.Fields,
	}
	for _, id := range st.Methods() {
		switch id {
		case invoice.MethodBTC:
			// Priced in bitcoin at the locked rate; the store's writer
			// gives it its address.
			inv.Methods = append(inv.Methods, invoice.Method{ID: id, Currency: "BTC", Rate: rate, Due: due})
		default:
			return nil, fmt.Errorf("store %s: payment method %s is not supported", st.ID, id)
		}
	}
	notes := []invoice.Notification{{Code: invoice.CodeCreated, Status: invoice.StatusNew, At: now}}
	if err := g.cfg.Store.CreateInvoice(ctx, inv, notes, g.address); err != nil {
		return nil, fmt.Errorf("create invoice for store %s: %w", st.ID, err)
	}
	if f := g.created.Load(); f != nil {
		(*f)(inv)
	}
	return inv, nil
}

// address derives a store's receive address; the store's writer calls it
// inside its transaction, so it is served from a precomputed cache.
func (g *Gateway) address(storeID string, index uint32) (string, []byte, error) {
	g.mu.Lock()
	sk := g.keys[storeID]
	g.mu.Unlock()
	if sk == nil {
		return "", nil, fmt.Errorf("store %s has no loaded key", storeID)
	}
	a, err := sk.addrs.Address(index)
	sk.used.Add(1)
	if index+1 > sk.next.Load() {
		sk.next.Store(index + 1)
	}
	select {
	case sk.kick <- struct{}{}:
	default:
	}
	if err != nil {
		return "", nil, fmt.Errorf("derive address %d of store %s: %w", index, storeID, err)
	}
	return a.Address, a.Script, nil
}

// storeKey returns the address cache of a store's key, made on first use
// and made anew when the key in its settings changed.
func (g *Gateway) storeKey(st merchant.Store) (*storeKey, error) {
	g.mu.Lock()
	sk := g.keys[st.ID]
	g.mu.Unlock()
	if sk != nil && sk.key == st.Key {
		return sk, nil
	}
	key, err := wallet.ParseKey(st.Key, g.cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("key of store %s: %w", st.ID, err)
	}
	next := &storeKey{storeID: st.ID, key: st.Key, addrs: wallet.NewCache(key, addressAheadMin+addressAheadMin/4),
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	g.mu.Lock()
	if prev := g.keys[st.ID]; prev != nil {
		if prev.key == st.Key {
			g.mu.Unlock()
			return prev, nil
		}
		close(prev.stop)
	}
	g.keys[st.ID] = next
	g.mu.Unlock()
	go next.fill(g.cfg.Log, g.done)
	return next, nil
}

// ReloadStore makes the next invoices of a store use its settings as
// stored now (name, currency, speed, expiry, key), after this node changed
// them; changes made elsewhere take effect within merchant.SettingsTTL.
func (g *Gateway) ReloadStore(ctx context.Context, storeID string) error {
	g.cfg.Settings.Forget(storeID)
	if _, err := g.cfg.Settings.Get(ctx, storeID); err != nil {
		return fmt.Errorf("reload store %s: %w", storeID, err)
	}
	return nil
}

// Policy returns the confirmation rules the gateway applies.
func (g *Gateway) Policy() invoice.Policy { return g.cfg.Policy }

// Close stops the gateway's background work.
func (g *Gateway) Close() { g.closeOnce.Do(func() { close(g.done) }) }

// The address cache holds a window of addresses ahead of the next index,
// plus a quarter of that behind it: addressAheadMin for a new or quiet
// store, doubling while the store's invoices use it up, to
// addressAheadMax (about a second of invoices at full speed).
const (
	addressAheadMin = 64
	addressAheadMax = 4096
	// sharedMinMoved is how far a store's next index moves between two
	// judgments of who uses it.
	sharedMinMoved = 8
)

// Act applies a merchant action (invoice.Cancel, invoice.MarkInvalid,
// invoice.Resend) to an invoice and commits the result with the events it
// causes. Illegal actions return the state machine's sentinel errors
// (invoice.ErrNotCancellable, invoice.ErrIllegalTransition) and change
// nothing.
func (g *Gateway) Act(ctx context.Context, id string, ev invoice.Event) (*invoice.Invoice, error) {
	for attempt := 0; ; attempt++ {
		inv, err := g.cfg.Store.GetInvoice(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("load invoice %s: %w", id, err)
		}
		env := invoice.Env{Now: g.cfg.Clock().UTC().Truncate(time.Millisecond), Tip: g.tip.Load(), Policy: g.cfg.Policy}
		next, notes, err := invoice.Apply(inv, ev, env)
		if err != nil {
			return nil, fmt.Errorf("invoice %s: %w", id, err)
		}
		if len(notes) == 0 && next.UpdatedAt.Equal(inv.UpdatedAt) {
			return &next, nil
		}
		err = g.cfg.Store.Commit(ctx, []store.Change{{Invoice: &next, Notes: notes}}, nil)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue // the chain processor changed it meanwhile: apply again
		}
		if err != nil {
			return nil, fmt.Errorf("commit invoice %s: %w", id, err)
		}
		return &next, nil
	}
}

// ObserveTip tells the gateway the processed chain height, which merchant
// actions are judged at; the processor calls it on every block.
func (g *Gateway) ObserveTip(height int32) { g.tip.Store(height) }

// Preview applies an action to an invoice without committing it: what Act
// would do (seed 002's commit:false).
func (g *Gateway) Preview(ctx context.Context, id string, ev invoice.Event) (*invoice.Invoice, error) {
	inv, err := g.cfg.Store.GetInvoice(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load invoice %s: %w", id, err)
	}
	env := invoice.Env{Now: g.cfg.Clock().UTC().Truncate(time.Millisecond), Tip: g.tip.Load(), Policy: g.cfg.Policy}
	next, _, err := invoice.Apply(inv, ev, env)
	if err != nil {
		return nil, fmt.Errorf("invoice %s: %w", id, err)
	}
	return &next, nil
}

// UpdateFields changes an invoice's echoed fields (the buyer's contact) and
// commits the change; no event is emitted.
func (g *Gateway) UpdateFields(ctx context.Context, id string, update func(*invoice.Fields) error) (*invoice.Invoice, error) {
	for attempt := 0; ; attempt++ {
		inv, err := g.cfg.Store.GetInvoice(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("load invoice %s: %w", id, err)
		}
		if err := update(&inv.Fields); err != nil {
			return nil, err
		}
		inv.UpdatedAt = g.cfg.Clock().UTC().Truncate(time.Millisecond)
		err = g.cfg.Store.Commit(ctx, []store.Change{{Invoice: &inv}}, nil)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("commit invoice %s: %w", id, err)
		}
		return &inv, nil
	}
}
