// Package spend holds kassa's spends: the durable record of a payment out
// of a store's wallet (a refund today, a payout batch later) and the pure
// state machine that follows it from the PSBT kassa builds to the
// transaction's sixth confirmation.
//
// A spend is built (unsigned: its PSBT waits for the merchant's wallet, or
// the hot signer), then signed: the signed transaction is recorded before
// it is ever sent, so that a crash between the two sends the same
// transaction again and never builds a second one. Once the node accepts
// it the spend is broadcast; a block makes it confirmed, six make it
// final. A reorg sends it back; a transaction of someone else's that
// spends one of its coins fails it. Nothing here does I/O or reads the
// clock.
package spend

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
)

// Kind says what a spend pays.
type Kind string

// The kinds of spend.
const (
	KindRefund Kind = "refund"
	KindPayout Kind = "payout"
)

// Status is where a spend is.
type Status string

// The spend statuses.
const (
	// StatusUnsigned: built; its PSBT waits for a signature.
	StatusUnsigned Status = "unsigned"
	// StatusSigned: the signed transaction is recorded and may or may not
	// have reached the node: it is (re)sent until the node has it.
	StatusSigned Status = "signed"
	// StatusBroadcast: the node accepted the transaction; not in a block.
	StatusBroadcast Status = "broadcast"
	// StatusConfirmed: in a block, fewer than FinalDepth deep.
	StatusConfirmed Status = "confirmed"
	// StatusFinal: FinalDepth blocks deep.
	StatusFinal Status = "final"
	// StatusFailed: another transaction spent one of its coins, or the
	// node refuses it for good.
	StatusFailed Status = "failed"
	// StatusCancelled: dropped before it was signed.
	StatusCancelled Status = "cancelled"
)

// FinalDepth is the confirmations after which a spend is final.
const FinalDepth = 6

// Open reports whether the spend still holds its coins: every status but
// failed and cancelled (a final spend's coins are spent for good).
func (s Status) Open() bool {
	return s == StatusUnsigned || s == StatusSigned || s == StatusBroadcast || s == StatusConfirmed
}

// Out reports whether the spend's transaction may be on the network:
// once it is signed, a spend can no longer be cancelled or rebuilt.
func (s Status) Out() bool {
	return s == StatusSigned || s == StatusBroadcast || s == StatusConfirmed || s == StatusFinal
}

// Output is a destination the spend pays: an address of the spend's
// network and the satoshis it receives.
type Output struct {
	Address string     `json:"address"`
	Amount  money.Sats `json:"amount"`
}

// Input is a coin the spend uses: its outpoint, what it holds, its
// script and where the store's key derives it (branch 0 receive, 1
// change).
type Input struct {
	TxID   string     `json:"txid"`
	Vout   uint32     `json:"vout"`
	Amount money.Sats `json:"amount"`
	Script []byte     `json:"script"`
	Branch uint32     `json:"branch"`
	Index  uint32     `json:"index"`
}

// Plan is what a build decided: the coins, the fee and the change, and
// the PSBT that carries them for the signer.
type Plan struct {
	Inputs  []Input
	Outputs []Output
	// Change goes to the store's change branch at ChangeIndex; 0 when
	// there is no change output.
	Change      money.Sats
	ChangeIndex uint32
	FeeRate     money.Sats // satoshis per vbyte
	Fee         money.Sats
	// PSBT is the unsigned PSBT (BIP174, binary) as built: what the
	// signer is asked to sign and what an upload is checked against.
	PSBT []byte
}

// Spend is a payment out of a store's wallet.
type Spend struct {
	ID        string
	StoreID   string
	Kind      Kind
	SubjectID string // the refund's (or payout batch's) id

	Status Status
	Plan

	// TxID and Tx are the signed transaction (its id and its
	// serialization), recorded before it is sent.
	TxID string
	Tx   []byte
	// Height is the block the transaction is in, 0 while it is not.
	Height int32
	// Replaced are the txids of the spend's earlier transactions that a
	// fee bump replaced: any of them may still be the one that confirms.
	Replaced []string
	// Bump is a replacement at a higher fee waiting for its signature:
	// the same outputs from the same coins (RBF).
	Bump *Plan

	CreatedAt  time.Time
	UpdatedAt  time.Time
	FailReason string
	Version    int64
}

// Mine reports whether txid is one of the spend's transactions: the
// current one or one a fee bump replaced.
func (s *Spend) Mine(txid string) bool {
	return txid != "" && (txid == s.TxID || slices.Contains(s.Replaced, txid))
}

// ToSign returns the PSBT waiting for a signature: a fee bump's, or the
// spend's own while it is unsigned (nil when nothing waits).
func (s *Spend) ToSign() []byte {
	switch {
	case s.Status == StatusBroadcast && s.Bump != nil:
		return s.Bump.PSBT
	case s.Status == StatusUnsigned:
		return s.PSBT
	}
	return nil
}

// Total returns what the spend's outputs pay, change not included.
func (s *Spend) Total() money.Sats {
	var t money.Sats
	for _, o := range s.Outputs {
		t += o.Amount
	}
	return t
}

// The state machine's errors; Apply wraps them.
var (
	ErrIllegalTransition = errors.New("illegal spend transition")
	ErrBadEvent          = errors.New("invalid spend event")
	ErrUnknownEvent      = errors.New("unknown spend event")
)

// Event is an input to the state machine.
type Event interface{ event() }

// Rebuilt replaces an unsigned spend's plan: its coins were spent
// elsewhere, or the fee rate moved, before anything was signed.
type Rebuilt struct{ Plan Plan }

// Signed records the signed transaction before it is sent.
type Signed struct {
	TxID string
	Tx   []byte
}

// Accepted: the node has the transaction (it accepted it, or already
// had it).
type Accepted struct{}

// Mined: the spend's transaction TxID (the current one when empty, or
// one a fee bump replaced) is in the block at Height (0 < Height), with
// Depth confirmations on the current chain.
type Mined struct {
	TxID   string
	Height int32
	Depth  int32
}

// Bumped records a replacement of a broadcast spend at a higher fee,
// waiting for its signature; Signed with its transaction replaces the
// spend's.
type Bumped struct{ Plan Plan }

// Unmined: a reorg took the transaction's block away; it is back in the
// mempool (Gone false) or gone from it too (Gone true: it is sent again).
type Unmined struct{ Gone bool }

// Conflicted: another transaction spent one of the spend's coins.
type Conflicted struct{ By string }

// Cancel drops a spend that was never signed.
type Cancel struct{ Reason string }

func (Rebuilt) event()    {}
func (Signed) event()     {}
func (Accepted) event()   {}
func (Mined) event()      {}
func (Unmined) event()    {}
func (Conflicted) event() {}
func (Cancel) event()     {}
func (Bumped) event()     {}

// Apply moves a spend through one event at now. It is pure; on error the
// spend is returned unchanged. An event that changes nothing returns the
// spend as it was (same UpdatedAt).
func Apply(s Spend, ev Event, now time.Time) (Spend, error) {
	next, err := apply(s, ev)
	if err != nil {
		return s, fmt.Errorf("apply %T to spend %s: %w", ev, s.ID, err)
	}
	if same(next, s) {
		return s, nil
	}
	next.UpdatedAt = now
	return next, nil
}

// same compares what events change; a plan is its PSBT, which encodes
// every coin, output and amount of it.
func same(a, b Spend) bool {
	return a.Status == b.Status && a.TxID == b.TxID && a.Height == b.Height && a.FailReason == b.FailReason &&
		slices.Equal(a.PSBT, b.PSBT) && slices.Equal(a.Tx, b.Tx) && (a.Bump == nil) == (b.Bump == nil) &&
		(a.Bump == nil || slices.Equal(a.Bump.PSBT, b.Bump.PSBT)) && slices.Equal(a.Replaced, b.Replaced)
}

func apply(s Spend, ev Event) (Spend, error) {
	switch e := ev.(type) {
	case Rebuilt:
		if s.Status != StatusUnsigned {
			break
		}
		if len(e.Plan.Inputs) == 0 || len(e.Plan.Outputs) == 0 || len(e.Plan.PSBT) == 0 {
			return s, ErrBadEvent
		}
		s.Plan = e.Plan
		return s, nil
	case Signed:
		if e.TxID == "" || len(e.Tx) == 0 {
			return s, ErrBadEvent
		}
		switch {
		case s.Status == StatusUnsigned:
			s.Status, s.TxID, s.Tx = StatusSigned, e.TxID, e.Tx
			return s, nil
		case s.Status.Out() && s.Mine(e.TxID):
			return s, nil // the same transaction again (witnesses may differ; the first is kept)
		case s.Status == StatusBroadcast && s.Bump != nil:
			// The fee bump's transaction: it replaces the spend's.
			s.Replaced = append(slices.Clone(s.Replaced), s.TxID)
			s.Plan, s.Bump = *s.Bump, nil
			s.Status, s.TxID, s.Tx = StatusSigned, e.TxID, e.Tx
			return s, nil
		}
	case Bumped:
		if s.Status != StatusBroadcast {
			break
		}
		if len(e.Plan.Inputs) == 0 || len(e.Plan.PSBT) == 0 || e.Plan.Fee <= s.Fee {
			return s, ErrBadEvent
		}
		p := e.Plan
		s.Bump = &p
		return s, nil
	case Accepted:
		switch s.Status {
		case StatusSigned:
			s.Status = StatusBroadcast
			return s, nil
		case StatusBroadcast, StatusConfirmed, StatusFinal:
			return s, nil
		}
	case Mined:
		if e.Height <= 0 || e.Depth <= 0 {
			return s, ErrBadEvent
		}
		if !s.Status.Out() || (e.TxID != "" && !s.Mine(e.TxID)) {
			break
		}
		if e.TxID != "" && e.TxID != s.TxID {
			// A transaction the bump replaced confirmed after all.
			s.Replaced = append(slices.DeleteFunc(slices.Clone(s.Replaced), func(t string) bool { return t == e.TxID }), s.TxID)
			s.TxID = e.TxID
		}
		s.Bump = nil
		s.Height = e.Height
		s.Status = StatusConfirmed
		if e.Depth >= FinalDepth {
			s.Status = StatusFinal
		}
		return s, nil
	case Unmined:
		if !s.Status.Out() {
			break
		}
		s.Height = 0
		s.Status = StatusBroadcast
		if e.Gone {
			s.Status = StatusSigned
		}
		return s, nil
	case Conflicted:
		if e.By == "" {
			return s, ErrBadEvent
		}
		switch s.Status {
		case StatusFailed:
			return s, nil
		case StatusUnsigned, StatusSigned, StatusBroadcast, StatusConfirmed:
			s.Status, s.Height = StatusFailed, 0
			s.FailReason = "its coins were spent by transaction " + e.By
			return s, nil
		}
	case Cancel:
		switch s.Status {
		case StatusCancelled:
			return s, nil
		case StatusUnsigned:
			s.Status, s.FailReason = StatusCancelled, e.Reason
			return s, nil
		}
	default:
		return s, ErrUnknownEvent
	}
	return s, fmt.Errorf("%w: %T in status %s", ErrIllegalTransition, ev, s.Status)
}
