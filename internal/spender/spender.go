// Package spender is kassa's spend engine: it turns what a store owes (a
// refund with an address today, a payout batch later) into a spend, builds
// its PSBT from the store's coins, takes the merchant's signed upload back,
// checks it pays exactly what was approved, records it and only then sends
// it, and follows the transaction until it is final.
//
// The rules live in the packages that own them (spend and refund for the
// states, wallet for coins, PSBTs and the upload check); the engine does
// the I/O in between. Every change to a spend commits in one store unit
// with the change it causes to its refund (and invoice), so a crash at any
// point leaves either both or neither. A signed spend is sent again until
// the node has it, never rebuilt: one spend, one transaction.
//
// With the opt-in hot signer (Config.Hot), the spend of an immediate
// refund is signed with the store's hot key as soon as it is built and
// goes through the same Submit path as an upload: checked, recorded, sent.
// The store's daily limit (HotWindow) is checked and the signature counted
// in the unit that records the signed spend, so concurrent spends on
// several nodes cannot pass it together. Over the limit or without a hot
// key the spend waits for the merchant's signature, as any other.
package spender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Store is what the engine reads and writes (store.DB implements it).
type Store interface {
	GetStore(ctx context.Context, id string) (merchant.Store, error)
	GetRefund(ctx context.Context, id string) (refund.Refund, error)
	GetInvoice(ctx context.Context, id string) (invoice.Invoice, error)
	GetSpend(ctx context.Context, id string) (spend.Spend, error)
	OpenSpendOf(ctx context.Context, kind spend.Kind, subjectID string) (spend.Spend, error)
	Spends(ctx context.Context, storeID string, statuses ...spend.Status) ([]spend.Spend, error)
	SpendsIn(ctx context.Context, statuses ...spend.Status) ([]spend.Spend, error)
	NextChangeIndex(ctx context.Context, storeID string) (uint32, error)
	RefundsToPay(ctx context.Context) ([]refund.Refund, error)
	Unit(ctx context.Context, fn func(u *store.Unit) error) error
	Coins
}

// Coins is the store's view of its coins, which the chain watcher keeps.
type Coins interface {
	// SpendableBetween, SpendableAbove and NthLargestSpendable read a
	// store's confirmed unspent coins by amount: what a spend's coins
	// are chosen from (see spendable).
	SpendableBetween(ctx context.Context, storeID string, lo, hi money.Sats) ([]store.Coin, error)
	SpendableAbove(ctx context.Context, storeID string, min money.Sats, limit int) ([]store.Coin, error)
	NthLargestSpendable(ctx context.Context, storeID string, n int) (money.Sats, bool, error)
	CoinsAt(ctx context.Context, outpoints []store.Outpoint) (map[store.Outpoint]store.Coin, error)
	// ProcessedTip is the height of the last block the watcher processed.
	ProcessedTip(ctx context.Context) (int32, error)
}

// CoinState is what the chain says of one coin: Known is false for a coin
// the watcher no longer knows (its own transaction left the chain);
// SpentBy is the txid of the transaction that spends it ("" for none),
// SpentHeight that transaction's block (0 while unconfirmed).
type CoinState struct {
	Known       bool
	SpentBy     string
	SpentHeight int32
}

// coinStates returns what the chain says of each of a spend's coins.
func (e *Engine) coinStates(ctx context.Context, inputs []spend.Input) ([]CoinState, error) {
	ops := make([]store.Outpoint, len(inputs))
	for i, in := range inputs {
		ops[i] = store.Outpoint{TxID: in.TxID, Vout: in.Vout}
	}
	coins, err := e.cfg.Store.CoinsAt(ctx, ops)
	if err != nil {
		return nil, err
	}
	out := make([]CoinState, len(inputs))
	for i, op := range ops {
		if c, ok := coins[op]; ok {
			out[i] = CoinState{Known: true, SpentBy: c.SpentBy, SpentHeight: c.SpentHeight}
		}
	}
	return out, nil
}

// Chain is the node the engine sends transactions to (rpc.Client).
type Chain interface {
	SendTx(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error)
	FeeRate(ctx context.Context, blocks int) (money.Sats, bool, error)
}

// Config configures an Engine.
type Config struct {
	Store Store
	Chain Chain
	// Rejected reports an error of Chain.SendTx that is the node refusing
	// the transaction, as opposed to the node being away (rpc.ErrTxRejected).
	Rejected error
	// Clock tells the time (time.Now if nil).
	Clock func() time.Time
	// Policy is the invoices' confirmation policy (for the invoice events a
	// refund causes).
	Policy invoice.Policy
	// WatchChange registers a change address with the chain watcher (the
	// backend's WatchScript), so the change comes back as a coin. The
	// engine calls it for a spend's change before its PSBT is given out,
	// and for every spend's change at Load.
	WatchChange func(storeID string, script []byte, index uint32)
	// FeeTarget is the blocks the fee estimate aims at (6 if 0).
	FeeTarget int
	// Hot is the opt-in hot signer (hotwallet.Signer): the spends of
	// immediate refunds are signed with the store's hot key and sent at
	// once, within the store's daily limit. Nil: every spend waits for
	// the merchant's signature.
	Hot    HotSigner
	Logger *slog.Logger
	// Fault, when set, is called at the engine's two fault-injection
	// points, for the chaos harness to kill the process there: FaultRecorded
	// (a signed spend committed, not sent yet) and FaultSent (the node took
	// it, its broadcast status not committed yet). Nil everywhere else.
	Fault func(point string)
}

// The fault-injection points Config.Fault names.
const (
	FaultRecorded = "recorded"
	FaultSent     = "sent"
)

// HotSigner finds a store's hot key (hotwallet.Signer implements it).
type HotSigner interface {
	// Key returns the store's hot key for its receiving key k, or nil and
	// no error when the store has none. The key is opened for this call:
	// the engine keeps it no longer than one signature.
	Key(ctx context.Context, st merchant.Store, k *wallet.Key) (*wallet.HotKey, error)
}

// HotWindow is the period the hot signer's daily limit covers: what it
// signed for a store in the last HotWindow, outputs and fees, plus the
// spend at hand must stay within the store's limit.
const HotWindow = 24 * time.Hour

// Engine runs spends. It is safe for concurrent use; Track runs on the
// node that watches the chain.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// watching holds the spends whose change address this engine has
	// registered with the watcher (WatchChange), by spend id: the change
	// index registered, plus one. Track would register every open spend's
	// every round otherwise.
	watching map[string]uint32
}

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.FeeTarget == 0 {
		cfg.FeeTarget = 6
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{cfg: cfg, log: log, watching: map[string]uint32{}}
}

// The engine's errors, for the API and the CLI to speak of.
var (
	// ErrStale: the spend's coins were spent elsewhere before it was
	// signed; it was rebuilt, and the new PSBT must be signed instead.
	ErrStale = errors.New("the spend's coins were spent by another transaction since its PSBT was made: " +
		"it was rebuilt; download the new PSBT and sign that")
	// ErrNotSignable: the spend is not waiting for a signature.
	ErrNotSignable = errors.New("the spend is not waiting for a signature")
	// ErrOtherTransaction: the spend is signed already, with another
	// transaction.
	ErrOtherTransaction = errors.New("the spend was signed already with another transaction")
	// ErrNotPayable: the refund cannot be paid yet (no address, a preview,
	// or not in created).
	ErrNotPayable = errors.New("the refund cannot be paid: it needs an address and status created")
	// ErrNotBumpable: only a spend sent and not yet in a block can have
	// its fee raised.
	ErrNotBumpable = errors.New("only a spend that is sent and not yet confirmed can have its fee raised")
	// ErrBumpRate: the new fee rate is not above the spend's, or above the
	// store's ceiling.
	ErrBumpRate = errors.New("the new fee rate must be above the spend's and within the store's ceiling")
	// ErrFeeExceedsRefund: the buyer pays the network fee, and it leaves
	// them nothing worth sending (BitPay's 0208).
	ErrFeeExceedsRefund = errors.New("the network fee is larger than what the refund pays the buyer")
)

func (e *Engine) now() time.Time { return e.cfg.Clock().UTC().Truncate(time.Millisecond) }

// storeKey loads a store and parses its receiving key.
func (e *Engine) storeKey(ctx context.Context, storeID string) (merchant.Store, *wallet.Key, error) {
	st, err := e.cfg.Store.GetStore(ctx, storeID)
	if err != nil {
		return st, nil, err
	}
	k, err := key(st)
	return st, k, err
}

// key parses a store's receiving key.
func key(st merchant.Store) (*wallet.Key, error) {
	k, err := wallet.ParseKey(st.Key, st.Network)
	if err != nil {
		return nil, fmt.Errorf("store %s key: %w", st.ID, err)
	}
	return k, nil
}

// PrepareRefund makes the spend that pays a refund (or returns the open
// one it has): a refund in created with an address. The buyer receives
// the refund's satoshis, less the network fee when the buyer pays it.
func (e *Engine) PrepareRefund(ctx context.Context, refundID string) (spend.Spend, error) {
	r, err := e.cfg.Store.GetRefund(ctx, refundID)
	if err != nil {
		return spend.Spend{}, err
	}
	if open, err := e.cfg.Store.OpenSpendOf(ctx, spend.KindRefund, r.ID); err == nil {
		return open, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return spend.Spend{}, err
	}
	if r.Status != refund.StatusCreated || r.Address == "" {
		return spend.Spend{}, fmt.Errorf("refund %s (%s): %w", r.ID, r.Status, ErrNotPayable)
	}
	now := e.now()
	s := spend.Spend{ID: newID(), StoreID: r.StoreID, Kind: spend.KindRefund, SubjectID: r.ID,
		Status: spend.StatusUnsigned, CreatedAt: now, UpdatedAt: now}
	plan, err := e.plan(ctx, r.StoreID, []spend.Output{{Address: r.Address, Amount: r.Sats}}, r.BuyerPaysFee, nil)
	if err != nil {
		return spend.Spend{}, fmt.Errorf("refund %s: %w", r.ID, err)
	}
	s.Plan = plan
	if err := e.watchChange(ctx, s); err != nil {
		return spend.Spend{}, err
	}
	if err := e.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Spend(&s) }); err != nil {
		if errors.Is(err, store.ErrDuplicate) { // a concurrent call made it first
			return e.cfg.Store.OpenSpendOf(ctx, spend.KindRefund, r.ID)
		}
		return spend.Spend{}, err
	}
	e.log.Info("spend built", "spend", s.ID, "refund", r.ID, "inputs", len(plan.Inputs), "fee", int64(plan.Fee))
	if r.Immediate || r.Automatic() {
		// Immediate and automatic refunds are the hot signer's, within
		// its daily limit, when the store has one; else they wait.
		return e.signHot(ctx, s), nil
	}
	return s, nil
}

// plan builds a spend's plan from the store's free coins: those no other
// open spend holds (except is the spend being rebuilt). When the payee
// bears the fee (one output), its amount is reduced by the fee.
func (e *Engine) plan(ctx context.Context, storeID string, outputs []spend.Output, payeePaysFee bool, except *spend.Spend) (spend.Plan, error) {
	st, k, err := e.storeKey(ctx, storeID)
	if err != nil {
		return spend.Plan{}, err
	}
	src, err := e.spendable(ctx, storeID, except)
	if err != nil {
		return spend.Plan{}, err
	}
	rate, err := e.feeRate(ctx, st)
	if err != nil {
		return spend.Plan{}, err
	}
	changeIndex, err := e.cfg.Store.NextChangeIndex(ctx, storeID)
	if err != nil {
		return spend.Plan{}, err
	}
	if except != nil && except.Change > 0 {
		changeIndex = except.ChangeIndex // a rebuild keeps its change address
	}
	payees, err := payeesOf(outputs, st.Network)
	if err != nil {
		return spend.Plan{}, err
	}
	req := wallet.SpendRequest{Payees: payees, ChangeIndex: changeIndex, FeeRate: rate}
	build := func() (*wallet.Spend, error) {
		if req.Coins, err = k.Candidates(ctx, src, req); err != nil {
			return nil, err
		}
		if req.PrevTxs, err = e.prevTxs(ctx, k, req.Coins); err != nil {
			return nil, err
		}
		return k.BuildSpend(req)
	}
	built, err := build()
	if err != nil {
		return spend.Plan{}, err
	}
	// The payee bears the fee: the network fee of the transaction at the
	// rate (rate × its size), taken from its amount; what a spend without
	// change leaves to the fee on top is the merchant's. The smaller output
	// may change the coins chosen (and so the size): settle in a few
	// rounds; a selection that flips between two sizes keeps the last,
	// which differs from the exact share by at most one output's fee.
	for round := 0; payeePaysFee && round < 4; round++ {
		want := outputs[0].Amount - rate*money.Sats(built.VSize())
		if payees[0].Amount == want {
			break
		}
		payees[0].Amount = want
		if built, err = build(); errors.Is(err, wallet.ErrBadPayee) && want < outputs[0].Amount {
			return spend.Plan{}, fmt.Errorf("%w (%d sats of %d)", ErrFeeExceedsRefund, outputs[0].Amount-want, outputs[0].Amount)
		} else if err != nil {
			return spend.Plan{}, err
		}
	}
	return planOf(built, outputs, payees, rate), nil
}

// PrevTxSource gives the whole previous transaction of a coin, which a
// legacy (P2PKH) input needs in its PSBT (non_witness_utxo): the node
// client (from the coin's block) and the Esplora client implement it.
type PrevTxSource interface {
	PrevTx(ctx context.Context, txid string, height int32) ([]byte, error)
}

// prevTxs fetches the previous transactions of a legacy key's coins
// (none for segwit and taproot keys, whose inputs carry their amounts).
func (e *Engine) prevTxs(ctx context.Context, k *wallet.Key, coins []wallet.Coin) (map[string][]byte, error) {
	if k.ScriptType() != wallet.P2PKH || len(coins) == 0 {
		return nil, nil
	}
	src, ok := e.cfg.Chain.(PrevTxSource)
	if !ok {
		return nil, errors.New("the chain backend cannot give the previous transactions a legacy (P2PKH) key's spend needs")
	}
	out := make(map[string][]byte, len(coins))
	for _, c := range coins {
		if _, done := out[c.TxID]; done {
			continue
		}
		raw, err := src.PrevTx(ctx, c.TxID, c.Height)
		if err != nil {
			return nil, fmt.Errorf("previous transaction of coin %s:%d: %w", c.TxID, c.Vout, err)
		}
		out[c.TxID] = raw
	}
	return out, nil
}

// payeesOf turns a spend's outputs into the wallet's payees (the
// addresses' scripts on network).
func payeesOf(outputs []spend.Output, network string) ([]wallet.Payee, error) {
	payees := make([]wallet.Payee, len(outputs))
	for i, o := range outputs {
		script, err := wallet.ScriptForAddress(o.Address, network)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i+1, err)
		}
		payees[i] = wallet.Payee{Script: script, Amount: o.Amount}
	}
	return payees, nil
}

// planOf records a built spend: the outputs with what they receive.
func planOf(b *wallet.Spend, outputs []spend.Output, payees []wallet.Payee, rate money.Sats) spend.Plan {
	p := spend.Plan{Change: b.Change, ChangeIndex: b.ChangeIndex, FeeRate: rate, Fee: b.Fee, PSBT: b.PSBT}
	for _, c := range b.Inputs {
		p.Inputs = append(p.Inputs, spend.Input{TxID: c.TxID, Vout: c.Vout, Amount: c.Amount, Script: c.Script,
			Branch: c.Branch, Index: c.Index})
	}
	for i, o := range outputs {
		p.Outputs = append(p.Outputs, spend.Output{Address: o.Address, Amount: payees[i].Amount})
	}
	return p
}

// spendable is a store's coins a new spend may use, as the wallet's
// CoinSource: confirmed (a buyer's unconfirmed payment can still be
// replaced, and a spend built on it would fail with it), unspent, and held
// by no other open spend. It reads the few coins wallet.Candidates asks
// for, not all of them, in Coins' order (oldest seen first).
type spendable struct {
	coins   Coins
	storeID string
	held    map[store.Outpoint]bool
}

// spendable returns the store's spendable coins: those no open spend
// holds (except is the spend being rebuilt).
func (e *Engine) spendable(ctx context.Context, storeID string, except *spend.Spend) (*spendable, error) {
	open, err := e.cfg.Store.Spends(ctx, storeID, spend.StatusUnsigned, spend.StatusSigned, spend.StatusBroadcast, spend.StatusConfirmed)
	if err != nil {
		return nil, err
	}
	held := map[store.Outpoint]bool{}
	for _, s := range open {
		if except != nil && s.ID == except.ID {
			continue
		}
		for _, in := range s.Inputs {
			held[store.Outpoint{TxID: in.TxID, Vout: in.Vout}] = true
		}
	}
	return &spendable{coins: e.cfg.Store, storeID: storeID, held: held}, nil
}

// free returns the coins of cs no open spend holds.
func (s *spendable) free(cs []store.Coin) []wallet.Coin {
	out := make([]wallet.Coin, 0, len(cs))
	for _, c := range cs {
		if !s.held[store.Outpoint{TxID: c.TxID, Vout: c.Vout}] {
			out = append(out, c.Coin)
		}
	}
	return out
}

func (s *spendable) Between(ctx context.Context, lo, hi money.Sats) ([]wallet.Coin, error) {
	cs, err := s.coins.SpendableBetween(ctx, s.storeID, lo, hi)
	return s.free(cs), err
}

func (s *spendable) FirstAbove(ctx context.Context, min money.Sats) (wallet.Coin, bool, error) {
	// Every held coin may come first: one more is the first free one.
	cs, err := s.coins.SpendableAbove(ctx, s.storeID, min, len(s.held)+1)
	if free := s.free(cs); err == nil && len(free) > 0 {
		return free[0], true, nil
	}
	return wallet.Coin{}, false, err
}

func (s *spendable) Largest(ctx context.Context, n int) ([]wallet.Coin, bool, error) {
	// At least n+held coins are at or above the (n+held)-th largest, so at
	// least n free ones; with fewer coins, all of them.
	least, ok, err := s.coins.NthLargestSpendable(ctx, s.storeID, n+len(s.held))
	if err != nil {
		return nil, false, err
	}
	cs, err := s.coins.SpendableBetween(ctx, s.storeID, least, math.MaxInt64)
	return s.free(cs), !ok, err
}

// feeRate is the node's estimate within the store's floor and ceiling
// (the floor when the node has none).
func (e *Engine) feeRate(ctx context.Context, st merchant.Store) (money.Sats, error) {
	floor, ceiling := st.FeeRates()
	rate, ok, err := e.cfg.Chain.FeeRate(ctx, e.cfg.FeeTarget)
	if err != nil {
		return 0, fmt.Errorf("fee estimate: %w", err)
	}
	if !ok {
		rate = floor
	}
	return min(max(rate, floor), ceiling), nil
}

// watchChange registers a spend's change address with the watcher.
func (e *Engine) watchChange(ctx context.Context, s spend.Spend) error {
	if s.Change == 0 || e.cfg.WatchChange == nil {
		return nil
	}
	e.mu.Lock()
	done := e.watching[s.ID] == s.ChangeIndex+1
	e.mu.Unlock()
	if done {
		return nil
	}
	_, k, err := e.storeKey(ctx, s.StoreID)
	if err != nil {
		return err
	}
	addr, err := k.DeriveChange(s.ChangeIndex)
	if err != nil {
		return fmt.Errorf("spend %s: change address: %w", s.ID, err)
	}
	e.cfg.WatchChange(s.StoreID, addr.Script, s.ChangeIndex)
	e.mu.Lock()
	e.watching[s.ID] = s.ChangeIndex + 1
	e.mu.Unlock()
	return nil
}

// Load registers every spend's change address with the watcher: what a
// node that starts watching the chain calls first.
func (e *Engine) Load(ctx context.Context) error {
	all, err := e.cfg.Store.SpendsIn(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := e.watchChange(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// PSBT returns the spend's unsigned PSBT to sign, rebuilding it first if
// its coins were spent elsewhere since it was made.
func (e *Engine) PSBT(ctx context.Context, spendID string) (spend.Spend, error) {
	s, err := e.cfg.Store.GetSpend(ctx, spendID)
	if err != nil {
		return s, err
	}
	if s.Status == spend.StatusBroadcast && s.Bump != nil {
		return s, nil // the fee bump's PSBT (spend.ToSign)
	}
	if s.Status != spend.StatusUnsigned {
		return s, fmt.Errorf("spend %s (%s): %w", s.ID, s.Status, ErrNotSignable)
	}
	next, _, err := e.freshen(ctx, s)
	return next, err
}

// freshen rebuilds an unsigned spend whose coins are no longer all
// unspent, and reports whether it did.
func (e *Engine) freshen(ctx context.Context, s spend.Spend) (spend.Spend, bool, error) {
	states, err := e.coinStates(ctx, s.Inputs)
	if err != nil {
		return s, false, err
	}
	stale := false
	for _, c := range states {
		if !c.Known || c.SpentBy != "" {
			stale = true
		}
	}
	if !stale {
		return s, false, nil
	}
	outputs, payeePaysFee, err := e.owed(ctx, s)
	if err != nil {
		return s, false, err
	}
	plan, err := e.plan(ctx, s.StoreID, outputs, payeePaysFee, &s)
	if err != nil {
		return s, false, fmt.Errorf("rebuild spend %s: %w", s.ID, err)
	}
	next, err := spend.Apply(s, spend.Rebuilt{Plan: plan}, e.now())
	if err != nil {
		return s, false, err
	}
	if err := e.watchChange(ctx, next); err != nil {
		return s, false, err
	}
	if err := e.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Spend(&next) }); err != nil {
		return s, false, err
	}
	e.log.Info("spend rebuilt: its coins were spent elsewhere", "spend", s.ID)
	return next, true, nil
}

// owed returns what the spend's subject owes, as at its creation.
func (e *Engine) owed(ctx context.Context, s spend.Spend) ([]spend.Output, bool, error) {
	switch s.Kind {
	case spend.KindRefund:
		r, err := e.cfg.Store.GetRefund(ctx, s.SubjectID)
		if err != nil {
			return nil, false, err
		}
		return []spend.Output{{Address: r.Address, Amount: r.Sats}}, r.BuyerPaysFee, nil
	}
	return nil, false, fmt.Errorf("spend %s: kind %q cannot be rebuilt", s.ID, s.Kind)
}

// Submit takes the merchant's signed upload for a spend (a PSBT in
// base64, hex or binary, finalized or not, or the raw transaction in
// hex), checks that it pays exactly what was approved, records it with
// its refund pending in one unit, and sends it. It returns the txid. A
// second upload of the same transaction returns its txid again.
func (e *Engine) Submit(ctx context.Context, spendID string, upload []byte) (spend.Spend, error) {
	return e.submit(ctx, spendID, upload, nil)
}

// submit is Submit; guard, when given, joins the unit that records the
// signed spend (the hot signer's limit) and can refuse it.
func (e *Engine) submit(ctx context.Context, spendID string, upload []byte, guard func(u *store.Unit) error) (spend.Spend, error) {
	s, err := e.cfg.Store.GetSpend(ctx, spendID)
	if err != nil {
		return s, err
	}
	st, k, err := e.storeKey(ctx, s.StoreID)
	if err != nil {
		return s, err
	}
	_, ceiling := st.FeeRates()
	plan, bumping := s.Plan, s.Status == spend.StatusBroadcast && s.Bump != nil
	if bumping {
		plan = *s.Bump
	}
	tx, err := k.CheckSigned(approved(plan), upload, ceiling*vsize(plan))
	if err != nil && bumping {
		// The transaction the bump replaces, uploaded again, is still
		// the spend's.
		if old, oerr := k.CheckSigned(approved(s.Plan), upload, ceiling*vsize(s.Plan)); oerr == nil && s.Mine(old.TxHash().String()) {
			return s, nil
		}
	}
	if err != nil {
		return s, fmt.Errorf("spend %s: %w", s.ID, err)
	}
	txid := tx.TxHash().String()
	switch {
	case s.Status.Out() && s.Mine(txid):
		return s, nil
	case bumping:
	case s.Status.Out():
		return s, fmt.Errorf("spend %s: %w", s.ID, ErrOtherTransaction)
	case s.Status != spend.StatusUnsigned:
		return s, fmt.Errorf("spend %s (%s): %w", s.ID, s.Status, ErrNotSignable)
	default:
		if next, rebuilt, err := e.freshen(ctx, s); err != nil {
			return s, err
		} else if rebuilt {
			return next, fmt.Errorf("spend %s: %w", s.ID, ErrStale)
		}
	}
	raw, err := serialize(tx)
	if err != nil {
		return s, err
	}
	next, err := spend.Apply(s, spend.Signed{TxID: txid, Tx: raw}, e.now())
	if err != nil {
		return s, err
	}
	if err := e.commitWith(ctx, &next, subjectEvent{refund: refund.Broadcast{TxID: txid, Fee: next.Fee}}, guard); err != nil {
		return s, err
	}
	signer := "merchant"
	if guard != nil {
		signer = "hot"
	}
	e.log.Info("spend signed and recorded", "spend", s.ID, "txid", txid, "signer", signer)
	e.fault(FaultRecorded)
	return e.send(ctx, next)
}

// fault calls Config.Fault at a fault-injection point.
func (e *Engine) fault(point string) {
	if e.cfg.Fault != nil {
		e.cfg.Fault(point)
	}
}

// Bump prepares a replacement of a sent, unconfirmed spend at a higher fee
// rate (RBF, which every spend signals): the same outputs paid from the
// spend's own coins, the higher fee taken from the change (the merchant
// pays it). The replacement's PSBT waits for a signature (PSBT, then
// Submit, as for any spend); until it is signed and sent, the spend's
// transaction stands, and either may be the one that confirms.
func (e *Engine) Bump(ctx context.Context, spendID string, rate money.Sats) (spend.Spend, error) {
	s, err := e.cfg.Store.GetSpend(ctx, spendID)
	if err != nil {
		return s, err
	}
	if s.Status != spend.StatusBroadcast {
		return s, fmt.Errorf("spend %s (%s): %w", s.ID, s.Status, ErrNotBumpable)
	}
	st, k, err := e.storeKey(ctx, s.StoreID)
	if err != nil {
		return s, err
	}
	if _, ceiling := st.FeeRates(); rate <= s.FeeRate || rate > ceiling {
		return s, fmt.Errorf("%w: %d sat/vB asked, the spend pays %d, the ceiling is %d", ErrBumpRate, rate, s.FeeRate, ceiling)
	}
	w := approved(s.Plan)
	payees, err := payeesOf(s.Outputs, st.Network)
	if err != nil {
		return s, fmt.Errorf("spend %s: %w", s.ID, err)
	}
	prev, err := e.prevTxs(ctx, k, w.Inputs)
	if err != nil {
		return s, err
	}
	built, err := k.BuildSpend(wallet.SpendRequest{Coins: w.Inputs, Payees: payees, ChangeIndex: s.ChangeIndex, FeeRate: rate,
		PrevTxs: prev})
	if err != nil {
		return s, fmt.Errorf("spend %s: the spend's coins cannot pay that fee: %w", s.ID, err)
	}
	plan := planOf(built, s.Outputs, payees, rate)
	// A replacement pays at least the relay fee of its own size on top
	// of what it replaces (BIP125 rule 4, 1 sat/vB).
	if plan.Fee < s.Fee+vsize(plan) {
		return s, fmt.Errorf("%w: %d sats does not outbid %d by the relay fee", ErrBumpRate, plan.Fee, s.Fee)
	}
	next, err := spend.Apply(s, spend.Bumped{Plan: plan}, e.now())
	if err != nil {
		return s, err
	}
	if err := e.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Spend(&next) }); err != nil {
		return s, err
	}
	e.log.Info("spend fee bump prepared", "spend", s.ID, "rate", int64(rate), "fee", int64(plan.Fee))
	return next, nil
}

// approved is the wallet's view of the plan kassa built.
func approved(s spend.Plan) *wallet.Spend {
	w := &wallet.Spend{PSBT: s.PSBT, Fee: s.Fee, Change: s.Change, ChangeIndex: s.ChangeIndex}
	for _, in := range s.Inputs {
		w.Inputs = append(w.Inputs, wallet.Coin{TxID: in.TxID, Vout: in.Vout, Amount: in.Amount, Script: in.Script,
			Branch: in.Branch, Index: in.Index})
	}
	return w
}

// vsize is the plan's virtual size as its fee was computed from.
func vsize(s spend.Plan) money.Sats {
	if s.FeeRate <= 0 {
		return 0
	}
	return (s.Fee + s.FeeRate - 1) / s.FeeRate
}

// send sends a signed spend's transaction; the node having it makes the
// spend broadcast. A node that is away leaves it signed for Track to send
// again; a node that refuses it leaves it signed too, unless its coins
// are spent by another transaction, which fails it.
func (e *Engine) send(ctx context.Context, s spend.Spend) (spend.Spend, error) {
	tx, err := deserialize(s.Tx)
	if err != nil {
		return s, fmt.Errorf("spend %s: %w", s.ID, err)
	}
	if _, err := e.cfg.Chain.SendTx(ctx, tx); err != nil {
		if e.cfg.Rejected != nil && errors.Is(err, e.cfg.Rejected) {
			e.log.Warn("the node refused a spend's transaction", "spend", s.ID, "txid", s.TxID, "err", err)
			return e.follow(ctx, s)
		}
		e.log.Warn("spend not sent yet; it is sent again", "spend", s.ID, "err", err)
		return s, nil
	}
	e.fault(FaultSent)
	next, err := spend.Apply(s, spend.Accepted{}, e.now())
	if err != nil || next.Status == s.Status {
		return next, err
	}
	return next, e.commit(ctx, &next, subjectEvent{})
}

// Track does one round of the engine's work: it makes the spends of
// refunds that can be paid, cancels the unsigned spends of refunds that
// were cancelled, sends the signed ones again, moves spends with the chain
// (mined, unmined, conflicted), and carries the change to their refunds.
// Run calls it on a timer.
func (e *Engine) Track(ctx context.Context) error {
	var errs []error
	toPay, err := e.cfg.Store.RefundsToPay(ctx)
	if err != nil {
		return err
	}
	for _, r := range toPay {
		_, err := e.PrepareRefund(ctx, r.ID)
		if errors.Is(err, ErrFeeExceedsRefund) {
			err = e.failRefund(ctx, r.ID, err.Error())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("refund %s: %w", r.ID, err))
		}
	}
	unsigned, err := e.cfg.Store.SpendsIn(ctx, spend.StatusUnsigned)
	if err != nil {
		return err
	}
	for _, s := range unsigned {
		if err := e.cancelIfUnowed(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("spend %s: %w", s.ID, err))
		}
	}
	open, err := e.cfg.Store.SpendsIn(ctx, spend.StatusSigned, spend.StatusBroadcast, spend.StatusConfirmed)
	if err != nil {
		return err
	}
	for _, s := range slices.Concat(unsigned, open) {
		// A spend built or rebuilt by another process (kassa spend psbt)
		// has its change registered here; registering again is harmless.
		if err := e.watchChange(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("spend %s: %w", s.ID, err))
		}
	}
	for _, s := range open {
		if s.Status == spend.StatusSigned {
			_, err = e.send(ctx, s)
		} else {
			_, err = e.follow(ctx, s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spend %s: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

// failRefund fails a refund that cannot be paid at all.
func (e *Engine) failRefund(ctx context.Context, refundID, reason string) error {
	r, err := e.cfg.Store.GetRefund(ctx, refundID)
	if err != nil {
		return err
	}
	next, notes, err := refund.Apply(r, refund.Fail{Reason: reason}, e.now())
	if err != nil {
		return err
	}
	e.log.Warn("refund failed", "refund", r.ID, "reason", reason)
	return e.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Refund(&next, notes) })
}

// cancelIfUnowed cancels an unsigned refund spend whose refund no longer
// waits for it (cancelled, failed), freeing its coins.
func (e *Engine) cancelIfUnowed(ctx context.Context, s spend.Spend) error {
	if s.Kind != spend.KindRefund {
		return nil
	}
	r, err := e.cfg.Store.GetRefund(ctx, s.SubjectID)
	if err != nil {
		return err
	}
	if r.Status == refund.StatusCreated {
		return nil
	}
	next, err := spend.Apply(s, spend.Cancel{Reason: "refund " + string(r.Status)}, e.now())
	if err != nil {
		return err
	}
	return e.cfg.Store.Unit(ctx, func(u *store.Unit) error { return u.Spend(&next) })
}

// Run tracks spends every interval until ctx is done.
func (e *Engine) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := e.Track(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("tracking spends", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// follow moves a spend that is out with what the chain says of its coins.
func (e *Engine) follow(ctx context.Context, s spend.Spend) (spend.Spend, error) {
	states, err := e.coinStates(ctx, s.Inputs)
	if err != nil {
		return s, err
	}
	tip, err := e.cfg.Store.ProcessedTip(ctx)
	if err != nil {
		return s, err
	}
	var (
		ev      spend.Event
		subject subjectEvent
		mine    = 0
		height  int32
	)
	var by string // the spend's transaction that spends its coins
	for _, c := range states {
		switch {
		case c.SpentBy != "" && !s.Mine(c.SpentBy):
			ev = spend.Conflicted{By: c.SpentBy}
		case c.SpentBy != "":
			mine++
			height, by = c.SpentHeight, c.SpentBy
		}
	}
	switch {
	case ev != nil:
		subject.refund = refund.Fail{Reason: "its coins were spent by another transaction"}
		// A spend in a block that a reorg replaced with a block spending
		// its coins elsewhere: its refund leaves success before it fails.
		subject.unpaid = s.Status == spend.StatusConfirmed
	case mine == len(states) && height > 0:
		ev = spend.Mined{TxID: by, Height: height, Depth: tip - height + 1}
		subject.refund, subject.paid = refund.Confirmed{}, true
		if by != s.TxID {
			subject.paidBy = by // a transaction a fee bump replaced confirmed
		}
	case mine == len(states) && s.Status == spend.StatusConfirmed:
		ev, subject.refund = spend.Unmined{}, refund.Dropped{}
	case mine == 0 && (s.Status == spend.StatusConfirmed || s.Status == spend.StatusBroadcast):
		// Gone from the chain and the mempool (or the watcher has not
		// seen it yet): it is sent again, which is harmless either way.
		if s.Status == spend.StatusConfirmed {
			ev, subject.refund = spend.Unmined{Gone: true}, refund.Dropped{}
			break
		}
		return e.resend(ctx, s)
	default:
		return s, nil
	}
	next, err := spend.Apply(s, ev, e.now())
	if err != nil || same(next, s) {
		return next, err
	}
	if subject.paid && s.Status == spend.StatusConfirmed {
		subject = subjectEvent{} // deeper in the chain: the refund knows already
	}
	if err := e.commit(ctx, &next, subject); err != nil {
		return s, err
	}
	if next.Status == spend.StatusSigned {
		return e.send(ctx, next)
	}
	return next, nil
}

func same(a, b spend.Spend) bool { return a.Status == b.Status && a.Height == b.Height }

// resend sends a broadcast spend's transaction again, without changing it.
func (e *Engine) resend(ctx context.Context, s spend.Spend) (spend.Spend, error) {
	tx, err := deserialize(s.Tx)
	if err != nil {
		return s, err
	}
	if _, err := e.cfg.Chain.SendTx(ctx, tx); err != nil {
		e.log.Debug("resending a spend", "spend", s.ID, "err", err)
	}
	return s, nil
}

// subjectEvent is what a spend's change does to its subject: a refund
// event, and for a paid refund the invoice's 1016. unpaid says the
// spend's transaction left the chain first: a refund in success goes back
// to pending (refund.Dropped) before its event.
type subjectEvent struct {
	refund refund.Event
	paid   bool
	// paidBy is the transaction that paid the refund when it is not the
	// one the refund names (one a fee bump replaced).
	paidBy string
	// unpaid: the refund's confirmed transaction lost its block; the
	// refund leaves success before the event.
	unpaid bool
}

// commit stores a spend's change with its subject's, in one unit.
func (e *Engine) commit(ctx context.Context, s *spend.Spend, sub subjectEvent) error {
	return e.commitWith(ctx, s, sub, nil)
}

// commitWith is commit with guard, if not nil, run first in the unit.
func (e *Engine) commitWith(ctx context.Context, s *spend.Spend, sub subjectEvent, guard func(u *store.Unit) error) error {
	for attempt := 0; ; attempt++ {
		err := e.cfg.Store.Unit(ctx, func(u *store.Unit) error {
			if guard != nil {
				if err := guard(u); err != nil {
					return err
				}
			}
			if err := u.Spend(s); err != nil {
				return err
			}
			if sub.refund == nil || s.Kind != spend.KindRefund {
				return nil
			}
			return e.refundChange(ctx, u, s, sub)
		})
		if !errors.Is(err, store.ErrConflict) || attempt >= 3 {
			return err
		}
		// The refund or invoice moved meanwhile (the spend's own version
		// is ours alone): apply again to what is stored now.
		cur, gerr := e.cfg.Store.GetSpend(ctx, s.ID)
		if gerr != nil {
			return gerr
		}
		if cur.Version != s.Version {
			return err
		}
	}
}

// refundChange applies a spend's consequence to its refund and, for a
// paid one, announces it on the invoice (1016).
func (e *Engine) refundChange(ctx context.Context, u *store.Unit, s *spend.Spend, sub subjectEvent) error {
	r, err := e.cfg.Store.GetRefund(ctx, s.SubjectID)
	if err != nil {
		return err
	}
	if b, ok := sub.refund.(refund.Broadcast); ok && r.BuyerPaysFee && len(s.Outputs) == 1 {
		// The refund's fee is the share the buyer bore: what the refund
		// owed less what its output pays (a spend without change leaves
		// the rest of its coin to the network fee, at the merchant's cost).
		b.Fee = r.Sats - s.Outputs[0].Amount
		sub.refund = b
	}
	var notes []refund.Notification
	if sub.paidBy != "" && sub.paidBy != r.TxID {
		if r, notes, err = refund.Apply(r, refund.Broadcast{TxID: sub.paidBy, Fee: r.Fee}, e.now()); err != nil {
			return err
		}
	}
	if sub.unpaid && r.Status == refund.StatusSuccess {
		var dropped []refund.Notification
		if r, dropped, err = refund.Apply(r, refund.Dropped{}, e.now()); err != nil {
			return err
		}
		notes = append(notes, dropped...)
	}
	next, more, err := refund.Apply(r, sub.refund, e.now())
	if err != nil {
		return err
	}
	notes = append(notes, more...)
	if len(notes) == 0 && next.Version == r.Version && next.Status == r.Status {
		return nil
	}
	if err := u.Refund(&next, notes); err != nil {
		return err
	}
	if !sub.paid || next.Status != refund.StatusSuccess {
		return nil
	}
	inv, err := e.cfg.Store.GetInvoice(ctx, r.InvoiceID)
	if err != nil {
		return err
	}
	tip, err := e.cfg.Store.ProcessedTip(ctx)
	if err != nil {
		return err
	}
	nextInv, invNotes, err := invoice.Apply(inv, invoice.RefundComplete{}, invoice.Env{Now: e.now(), Tip: tip, Policy: e.cfg.Policy})
	if err != nil {
		return err
	}
	return u.Invoices([]store.Change{{Invoice: &nextInv, Notes: invNotes}})
}
