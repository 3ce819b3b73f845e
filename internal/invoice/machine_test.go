package invoice

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/money"
)

// t0 is when every test invoice is created; it expires 15 minutes later.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	due     = 100_000 // sats due on every test invoice
	baseTip = 100     // the chain tip when a test starts
)

func newTestInvoice(speed Speed) Invoice {
	return Invoice{
		ID:        "TestInvoice",
		Status:    StatusNew,
		Speed:     speed,
		Methods:   []Method{{ID: MethodBTC, Currency: "BTC", Due: due, Destination: "bcrt1qtest"}},
		CreatedAt: t0,
		ExpiresAt: t0.Add(15 * time.Minute),
		UpdatedAt: t0,
		Version:   1,
	}
}

// seen reports output txid:0 of amount sats at height (0 = mempool).
func seen(txid string, amount int64, height int32) PaymentSeen {
	return PaymentSeen{Payment: Payment{Method: MethodBTC, TxID: txid, Amount: money.Sats(amount), Height: height}}
}

func removed(txid string) PaymentRemoved { return PaymentRemoved{TxID: txid} }

// step is one event applied at a time since creation and a chain tip, and
// the notification codes it must emit (or the error it must return).
type step struct {
	at   time.Duration
	tip  int32
	ev   Event
	want []Code
	err  error
}

// Shorthands for the steps of the table.
var (
	none   = []Code(nil)
	minute = time.Minute
	hour   = time.Hour
)

func TestApplyTransitions(t *testing.T) {
	tests := []struct {
		name   string
		speed  Speed
		steps  []step
		status Status
		exc    Exception
	}{
		{
			name:  "high: new to confirmed at 0-conf, complete at 6",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003, 1005}},
				{at: 11 * minute, tip: 101, ev: seen("a", due, 101), want: none},
				{at: hour, tip: 105, ev: Tick{}, want: none},
				{at: hour, tip: 106, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "medium: new to paid to confirmed to complete",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 11 * minute, tip: 101, ev: seen("a", due, 101), want: []Code{1005}},
				{at: hour, tip: 105, ev: Tick{}, want: none},
				{at: hour, tip: 106, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "low: new to paid to complete, skipping confirmed",
			speed: SpeedLow,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 11 * minute, tip: 101, ev: seen("a", due, 101), want: none},
				{at: hour, tip: 105, ev: Tick{}, want: none},
				{at: hour, tip: 106, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "partial payment stays new with paidPartial",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: Tick{}, want: none},
			},
			status: StatusNew,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "partial then topped up",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 5 * minute, tip: 100, ev: seen("b", 60_000, 0), want: []Code{1002, 1003}},
			},
			status: StatusPaid,
		},
		{
			name:  "over-payment",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 150_000, 0), want: []Code{1002, 1003}},
				{at: 11 * minute, tip: 101, ev: seen("a", 150_000, 101), want: []Code{1005}},
			},
			status: StatusConfirmed,
			exc:    ExceptionPaidOver,
		},
		{
			name:  "multiple payments summed, confirmed only when the last confirms",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 30_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: seen("b", 30_000, 0), want: []Code{1002}},
				{at: 3 * minute, tip: 101, ev: seen("a", 30_000, 101), want: none},
				{at: 4 * minute, tip: 101, ev: seen("c", 40_000, 0), want: []Code{1002, 1003}},
				{at: 5 * minute, tip: 102, ev: seen("b", 30_000, 102), want: none},
				{at: 6 * minute, tip: 103, ev: seen("c", 40_000, 103), want: []Code{1005}},
			},
			status: StatusConfirmed,
		},
		{
			name:  "payment first seen 6 deep on medium passes every milestone",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 95), want: []Code{1002, 1003, 1005, 1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "payment first seen 6 deep on high",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 95), want: []Code{1002, 1003, 1005, 1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "payment first seen 6 deep on low",
			speed: SpeedLow,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 95), want: []Code{1002, 1003, 1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "payment first seen 1 deep on medium",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 100), want: []Code{1002, 1003, 1005}},
			},
			status: StatusConfirmed,
		},
		{
			name:  "expiry unpaid",
			speed: SpeedMedium,
			steps: []step{
				{at: 14 * minute, tip: 100, ev: Tick{}, want: none},
				{at: 15 * minute, tip: 100, ev: Tick{}, want: []Code{1004}},
				{at: 16 * minute, tip: 100, ev: Tick{}, want: none},
			},
			status: StatusExpired,
		},
		{
			name:  "expiry with a partial payment",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 15 * minute, tip: 100, ev: Tick{}, want: []Code{1010}},
				{at: 20 * minute, tip: 101, ev: seen("a", 40_000, 101), want: none},
			},
			status: StatusExpired,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "late payment after expiry",
			speed: SpeedMedium,
			steps: []step{
				{at: 15 * minute, tip: 100, ev: Tick{}, want: []Code{1004}},
				{at: 16 * minute, tip: 100, ev: seen("a", due, 0), want: []Code{1009}},
				{at: 30 * minute, tip: 106, ev: seen("a", due, 101), want: none},
			},
			status: StatusExpired,
			exc:    ExceptionPaidLate,
		},
		{
			name:  "payment at the expiry instant expires first and is late",
			speed: SpeedMedium,
			steps: []step{
				{at: 15 * minute, tip: 100, ev: seen("a", due, 0), want: []Code{1004, 1009}},
			},
			status: StatusExpired,
			exc:    ExceptionPaidLate,
		},
		{
			name:  "partial, then the top-up arrives after expiry",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 16 * minute, tip: 100, ev: seen("b", 60_000, 0), want: []Code{1010, 1009}},
			},
			status: StatusExpired,
			exc:    ExceptionPaidLate,
		},
		{
			name:  "late payment on a paid invoice is reported, not counted",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: seen("b", 5_000, 0), want: []Code{1002}},
			},
			status: StatusPaid,
		},
		{
			name:  "late payment on a complete invoice is reported, not counted",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 95), want: []Code{1002, 1003, 1005, 1006}},
				{at: 2 * hour, tip: 110, ev: seen("b", 5_000, 0), want: []Code{1002}},
				{at: 2 * hour, tip: 110, ev: removed("b"), want: []Code{3001}},
			},
			status: StatusComplete,
		},
		{
			name:  "invalid after an hour unconfirmed, complete later",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 60 * minute, tip: 100, ev: Tick{}, want: none},
				{at: 61 * minute, tip: 100, ev: Tick{}, want: []Code{1013}},
				{at: 62 * minute, tip: 100, ev: Tick{}, want: none},
				{at: 70 * minute, tip: 101, ev: seen("a", due, 101), want: none},
				{at: 2 * hour, tip: 105, ev: Tick{}, want: none},
				{at: 2 * hour, tip: 106, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "invalid on low speed only while unconfirmed",
			speed: SpeedLow,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 30 * minute, tip: 101, ev: seen("a", due, 101), want: none},
				{at: 2 * hour, tip: 101, ev: Tick{}, want: none},
			},
			status: StatusPaid,
		},
		{
			name:  "a confirmation arriving after the window beats the invalid rule",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * hour, tip: 101, ev: seen("a", due, 101), want: []Code{1005}},
			},
			status: StatusConfirmed,
		},
		{
			name:  "high speed never becomes invalid",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003, 1005}},
				{at: 3 * hour, tip: 100, ev: Tick{}, want: none},
			},
			status: StatusConfirmed,
		},
		{
			name:  "cancel a new unpaid invoice",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: Cancel{}, want: []Code{1004}},
				{at: 2 * minute, tip: 100, ev: Cancel{}, err: ErrNotCancellable},
			},
			status: StatusExpired,
		},
		{
			name:  "cancel refused once partly paid",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 1_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: Cancel{}, err: ErrNotCancellable},
			},
			status: StatusNew,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "cancel refused once paid",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: Cancel{}, err: ErrNotCancellable},
			},
			status: StatusPaid,
		},
		{
			name:  "cancel refused after the window closed",
			speed: SpeedMedium,
			steps: []step{
				{at: 20 * minute, tip: 100, ev: Cancel{}, err: ErrNotCancellable},
			},
			status: StatusNew,
		},
		{
			name:  "mark a new invoice invalid",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 1_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: MarkInvalid{}, want: []Code{1008}},
				{at: 3 * minute, tip: 100, ev: MarkInvalid{}, want: none},
				{at: 4 * minute, tip: 100, ev: seen("b", due, 0), want: []Code{1002}},
			},
			status: StatusInvalid,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "mark a paid invoice invalid",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: MarkInvalid{}, want: []Code{1008}},
			},
			status: StatusInvalid,
		},
		{
			name:  "mark a confirmed invoice invalid",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003, 1005}},
				{at: 2 * minute, tip: 100, ev: MarkInvalid{}, want: []Code{1008}},
			},
			status: StatusInvalid,
		},
		{
			name:  "mark invalid refused on complete",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 95), want: []Code{1002, 1003, 1005, 1006}},
				{at: 2 * minute, tip: 100, ev: MarkInvalid{}, err: ErrIllegalTransition},
			},
			status: StatusComplete,
		},
		{
			name:  "mark invalid refused on expired",
			speed: SpeedMedium,
			steps: []step{
				{at: 15 * minute, tip: 100, ev: Tick{}, want: []Code{1004}},
				{at: 16 * minute, tip: 100, ev: MarkInvalid{}, err: ErrIllegalTransition},
			},
			status: StatusExpired,
		},
		{
			name:  "resend changes nothing and sends 1012",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: Resend{}, want: []Code{1012}},
				{at: 2 * minute, tip: 100, ev: Resend{}, want: []Code{1012}},
			},
			status: StatusPaid,
		},
		{
			name:  "reorg moves a confirmed payment back to the mempool",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 101, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005}},
				{at: 12 * minute, tip: 101, ev: seen("a", due, 0), want: []Code{3002}},
				{at: 13 * minute, tip: 101, ev: seen("a", due, 0), want: none},
				{at: 20 * minute, tip: 102, ev: seen("a", due, 102), want: []Code{1005}},
			},
			status: StatusConfirmed,
		},
		{
			// The processor may apply the reorg's facts at a tip that has
			// already rewound below the orphaned block (tip 101, block
			// 102): the payment still lost its confirmation.
			name:  "reorg back to the mempool seen at a tip below the orphaned block",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 102, ev: seen("a", due, 102), want: []Code{1002, 1003, 1005}},
				{at: 12 * minute, tip: 101, ev: Tick{}, want: none},
				{at: 12 * minute, tip: 101, ev: seen("a", due, 0), want: []Code{3002}},
			},
			status: StatusPaid,
		},
		{
			name:  "reorg to a later block seen at a tip below it",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 106, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005, 1006}},
				{at: hour, tip: 100, ev: seen("a", due, 103), want: []Code{3002}},
			},
			status: StatusPaid,
		},
		{
			name:  "reorg moves a complete payment to a later block",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 106, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005, 1006}},
				{at: hour, tip: 106, ev: seen("a", due, 103), want: []Code{3002}},
				{at: hour, tip: 108, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "reorg on low speed takes complete back to paid",
			speed: SpeedLow,
			steps: []step{
				{at: minute, tip: 106, ev: seen("a", due, 101), want: []Code{1002, 1003, 1006}},
				{at: hour, tip: 106, ev: seen("a", due, 0), want: []Code{3002}},
			},
			status: StatusPaid,
		},
		{
			name:  "reorg back to the mempool after the invalid window",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 101, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005}},
				{at: 2 * hour, tip: 101, ev: seen("a", due, 0), want: []Code{3002, 1013}},
				{at: 2 * hour, tip: 101, ev: seen("a", due, 0), want: none},
				{at: 3 * hour, tip: 107, ev: seen("a", due, 102), want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "complete is not left by a tick at a lower tip",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 106, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005, 1006}},
				{at: hour, tip: 100, ev: Tick{}, want: none},
				{at: 5 * hour, tip: 100, ev: Tick{}, want: none},
			},
			status: StatusComplete,
		},
		{
			name:  "double-spend of the paying transaction",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: removed("a"), want: []Code{3001, 1013}},
				{at: 3 * minute, tip: 100, ev: removed("a"), want: none},
			},
			status: StatusInvalid,
		},
		{
			name:  "removal leaving a partial payment",
			speed: SpeedHigh,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: seen("b", 60_000, 0), want: []Code{1002, 1003, 1005}},
				{at: 3 * minute, tip: 100, ev: removed("b"), want: []Code{3001, 1013}},
			},
			status: StatusInvalid,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "removal from a complete invoice",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 106, ev: seen("a", due, 101), want: []Code{1002, 1003, 1005, 1006}},
				{at: hour, tip: 107, ev: removed("a"), want: []Code{3001, 1013}},
			},
			status: StatusInvalid,
		},
		{
			name:  "removal of the excess of an over-payment keeps the status",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: minute, tip: 100, ev: seen("b", 5_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: removed("b"), want: []Code{3001}},
			},
			status: StatusPaid,
		},
		{
			name:  "removal of a partial payment on a new invoice",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: 2 * minute, tip: 100, ev: removed("a"), want: []Code{3001}},
			},
			status: StatusNew,
		},
		{
			name:  "removal of a late payment",
			speed: SpeedMedium,
			steps: []step{
				{at: 16 * minute, tip: 100, ev: seen("a", due, 0), want: []Code{1004, 1009}},
				{at: 17 * minute, tip: 100, ev: removed("a"), want: []Code{3001}},
				{at: 18 * minute, tip: 100, ev: removed("a"), want: none},
			},
			status: StatusExpired,
		},
		{
			name:  "removal of an unknown payment changes nothing",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: removed("zz"), want: none},
			},
			status: StatusNew,
		},
		{
			name:  "a removed payment that comes back is counted once, invalid until complete",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", due, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: removed("a"), want: []Code{3001, 1013}},
				{at: 3 * minute, tip: 101, ev: seen("a", due, 101), want: []Code{1002}},
				{at: 4 * minute, tip: 101, ev: seen("a", due, 101), want: none},
				{at: hour, tip: 106, ev: Tick{}, want: []Code{1006}},
			},
			status: StatusComplete,
		},
		{
			name:  "duplicate events are idempotent",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: []Code{1002}},
				{at: minute, tip: 100, ev: seen("a", 40_000, 0), want: none},
				{at: 2 * minute, tip: 100, ev: seen("b", 60_000, 0), want: []Code{1002, 1003}},
				{at: 2 * minute, tip: 100, ev: seen("b", 60_000, 0), want: none},
				{at: 11 * minute, tip: 101, ev: seen("a", 40_000, 101), want: none},
				{at: 11 * minute, tip: 101, ev: seen("b", 60_000, 101), want: []Code{1005}},
				{at: 11 * minute, tip: 101, ev: seen("b", 60_000, 101), want: none},
				{at: hour, tip: 106, ev: Tick{}, want: []Code{1006}},
				{at: hour, tip: 106, ev: Tick{}, want: none},
			},
			status: StatusComplete,
		},
		{
			name:  "a payment without an amount is refused",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: seen("a", 0, 0), err: ErrInvalidPayment},
				{at: minute, tip: 100, ev: seen("a", -5, 0), err: ErrInvalidPayment},
				{at: minute, tip: 100, ev: seen("", 5, 0), err: ErrInvalidPayment},
				{at: minute, tip: 100, ev: seen("a", 5, 0), want: []Code{1002}},
				{at: minute, tip: 100, ev: seen("a", 6, 0), err: ErrInvalidPayment},
			},
			status: StatusNew,
			exc:    ExceptionPaidPartial,
		},
		{
			name:  "unknown events are refused",
			speed: SpeedMedium,
			steps: []step{
				{at: minute, tip: 100, ev: nil, err: ErrUnknownEvent},
				{at: minute, tip: 100, ev: &Tick{}, err: ErrUnknownEvent},
			},
			status: StatusNew,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInvoice(tt.speed)
			for i, s := range tt.steps {
				env := Env{Now: t0.Add(s.at), Tip: s.tip}
				next, out, err := Apply(inv, s.ev, env)
				if s.err != nil {
					if !errors.Is(err, s.err) {
						t.Fatalf("step %d (%T): err = %v, want %v", i, s.ev, err, s.err)
					}
					if out != nil || !equalInvoices(next, inv) {
						t.Fatalf("step %d (%T): failed event changed the invoice or notified %v", i, s.ev, codes(out))
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d (%T): %v", i, s.ev, err)
				}
				if got := codes(out); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%T): codes = %v, want %v", i, s.ev, got, s.want)
				}
				inv = next
			}
			if inv.Status != tt.status || inv.Exception != tt.exc {
				t.Errorf("final = %s/%q, want %s/%q", inv.Status, inv.Exception, tt.status, tt.exc)
			}
		})
	}
}

func TestApplyNotificationContents(t *testing.T) {
	tests := []struct {
		name  string
		speed Speed
		ev    Event
		want  []Notification
	}{
		{
			name:  "medium milestones carry the status each reached",
			speed: SpeedMedium,
			ev:    seen("a", 150_000, 95),
			want: []Notification{
				{Code: CodeReceivedPayment, Status: StatusNew, Exception: ExceptionPaidOver},
				{Code: CodePaidInFull, Status: StatusPaid, Exception: ExceptionPaidOver},
				{Code: CodeConfirmed, Status: StatusConfirmed, Exception: ExceptionPaidOver},
				{Code: CodeCompleted, Status: StatusComplete, Exception: ExceptionPaidOver},
			},
		},
		{
			name:  "high sends paidInFull and confirmed, both as confirmed",
			speed: SpeedHigh,
			ev:    seen("a", due, 0),
			want: []Notification{
				{Code: CodeReceivedPayment, Status: StatusNew},
				{Code: CodePaidInFull, Status: StatusConfirmed},
				{Code: CodeConfirmed, Status: StatusConfirmed},
			},
		},
		{
			name:  "a partial payment reports paidPartial",
			speed: SpeedLow,
			ev:    seen("a", 1, 0),
			want: []Notification{
				{Code: CodeReceivedPayment, Status: StatusNew, Exception: ExceptionPaidPartial},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(minute)
			_, out, err := Apply(newTestInvoice(tt.speed), tt.ev, Env{Now: now, Tip: baseTip})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].At = now
			}
			if !slices.Equal(out, tt.want) {
				t.Errorf("notifications:\n got  %+v\n want %+v", out, tt.want)
			}
		})
	}
}

func TestApplyBookkeeping(t *testing.T) {
	inv := newTestInvoice(SpeedMedium)
	inv.Payments = make([]Payment, 1, 4) // spare capacity the machine must not write into
	inv.Payments[0] = Payment{Method: MethodBTC, TxID: "a", Amount: 40_000, SeenAt: t0}
	before := slices.Clone(inv.Payments[:cap(inv.Payments)])

	now := t0.Add(5 * minute)
	next, _, err := Apply(inv, seen("b", 60_000, 0), Env{Now: now, Tip: baseTip})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("caller's payments untouched", func(t *testing.T) {
		if !slices.Equal(inv.Payments[:cap(inv.Payments)], before) {
			t.Errorf("caller's backing array changed: %+v", inv.Payments[:cap(inv.Payments)])
		}
	})
	t.Run("changed invoice", func(t *testing.T) {
		if !next.UpdatedAt.Equal(now) || !next.PaidAt.Equal(now) || next.Version != inv.Version {
			t.Errorf("UpdatedAt %v, PaidAt %v, Version %d", next.UpdatedAt, next.PaidAt, next.Version)
		}
		if p := next.Payments[1]; !p.SeenAt.Equal(now) || p.Late || p.Removed {
			t.Errorf("new payment recorded as %+v", p)
		}
		if next.Paid() != due || next.Remaining() != 0 {
			t.Errorf("Paid %d, Remaining %d", next.Paid(), next.Remaining())
		}
	})
	t.Run("unchanged invoice keeps UpdatedAt", func(t *testing.T) {
		later := now.Add(minute)
		for _, ev := range []Event{Tick{}, Resend{}, seen("b", 60_000, 0)} {
			again, _, err := Apply(next, ev, Env{Now: later, Tip: baseTip})
			if err != nil {
				t.Fatal(err)
			}
			if !again.UpdatedAt.Equal(now) {
				t.Errorf("%T moved UpdatedAt to %v", ev, again.UpdatedAt)
			}
		}
	})
	t.Run("PaidAt is set once", func(t *testing.T) {
		again, _, err := Apply(next, seen("b", 60_000, 101), Env{Now: now.Add(hour), Tip: 101})
		if err != nil {
			t.Fatal(err)
		}
		if !again.PaidAt.Equal(now) || !again.UpdatedAt.Equal(now.Add(hour)) {
			t.Errorf("PaidAt %v, UpdatedAt %v", again.PaidAt, again.UpdatedAt)
		}
	})
	t.Run("late payment is flagged", func(t *testing.T) {
		again, _, err := Apply(next, seen("c", 1, 0), Env{Now: now, Tip: baseTip})
		if err != nil {
			t.Fatal(err)
		}
		if p := again.Payments[2]; !p.Late || again.Paid() != due || again.Received() != due+1 {
			t.Errorf("late payment %+v, Paid %d, Received %d", p, again.Paid(), again.Received())
		}
	})
	t.Run("cancel sets the flag", func(t *testing.T) {
		c, _, err := Apply(newTestInvoice(SpeedLow), Cancel{}, Env{Now: t0, Tip: baseTip})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Cancelled || c.Status != StatusExpired {
			t.Errorf("cancelled invoice: %s, Cancelled %v", c.Status, c.Cancelled)
		}
	})
}

func TestApplyPolicy(t *testing.T) {
	policy := Policy{CompleteConfirmations: 2, InvalidAfter: 10 * time.Minute}
	tests := []struct {
		name string
		at   time.Duration
		tip  int32
		ev   Event
		want []Code
	}{
		{"complete at the policy's confirmations", 2 * minute, 101, Tick{}, []Code{1005, 1006}},
		{"one short of it", 2 * minute, 100, Tick{}, []Code{1005}},
		{"invalid after the policy's window", 11 * minute, 0, Tick{}, []Code{1013}},
		{"not before it", 10*minute + 59*time.Second, 0, Tick{}, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInvoice(SpeedMedium)
			inv, _, err := Apply(inv, seen("a", due, 100), Env{Now: t0.Add(minute), Tip: 0, Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			_, out, err := Apply(inv, tt.ev, Env{Now: t0.Add(tt.at), Tip: tt.tip, Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(out); !slices.Equal(got, tt.want) {
				t.Errorf("codes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		s            Status
		valid, final bool
	}{
		{StatusNew, true, false},
		{StatusPaid, true, false},
		{StatusConfirmed, true, false},
		{StatusComplete, true, true},
		{StatusExpired, true, true},
		{StatusInvalid, true, false},
		{StatusDeclined, true, true},
		{"", false, false},
		{"Paid", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if tt.s.Valid() != tt.valid || tt.s.IsFinal() != tt.final {
				t.Errorf("Valid %v IsFinal %v, want %v %v", tt.s.Valid(), tt.s.IsFinal(), tt.valid, tt.final)
			}
		})
	}
}

func codes(ns []Notification) []Code {
	var cs []Code
	for _, n := range ns {
		cs = append(cs, n.Code)
	}
	return cs
}

// equalInvoices compares the fields the machine may change.
func equalInvoices(a, b Invoice) bool {
	return sameState(a, b) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Version == b.Version
}

// sameState compares the invoice's state: what a change must be notified of.
func sameState(a, b Invoice) bool {
	return a.Status == b.Status && a.Exception == b.Exception && a.PaidAt.Equal(b.PaidAt) &&
		a.Cancelled == b.Cancelled && slices.Equal(a.Payments, b.Payments) && slices.EqualFunc(a.Methods, b.Methods, sameMethod)
}

// sameMethod compares every field of two payment methods.
func sameMethod(a, b Method) bool {
	return a.ID == b.ID && a.Currency == b.Currency && a.Rate.Equal(b.Rate) && a.Due == b.Due &&
		a.Destination == b.Destination && bytes.Equal(a.Script, b.Script) && a.KeyIndex == b.KeyIndex && a.Reused == b.Reused
}
