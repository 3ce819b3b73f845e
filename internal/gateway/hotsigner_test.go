//go:build node

package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/hotwallet"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// immediate marks a refund to be paid at once.
func immediate(r *refund.Refund) { r.Immediate = true }

// TestHotSignedRefund pays immediate refunds with the store's hot key on a
// real node: the first is signed, sent and confirmed with no merchant
// step; the second would pass the daily limit and waits unsigned, until
// the merchant's wallet signs it; a wrong passphrase is a clear error at
// start and leaves a spend unsigned. Neither the key nor the passphrase
// ever reaches the log.
func TestHotSignedRefund(t *testing.T) {
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	h := newHarness(t, node, invoice.SpeedMedium)

	invs, buyer := h.paidInvoices(2)

	// The merchant turns the hot signer on with a 30,000 sats limit.
	const passphrase = "the test hot wallet passphrase"
	secret := kassatest.AccountPriv(t, "gateway merchant")
	st, err := h.db.GetStore(ctx, h.storeID)
	if err != nil {
		t.Fatal(err)
	}
	signer := hotwallet.New(h.db, []byte(passphrase))
	sealed, err := signer.Seal(st, []byte(secret), hotwallet.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.PutHotKey(ctx, store.HotKey{StoreID: h.storeID, Sealed: sealed, DailyLimit: 30_000, CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// A wrong passphrase is said at start, naming the store.
	_, err = hotwallet.New(h.db, []byte("not the passphrase at all")).Check(ctx)
	if !errors.Is(err, hotwallet.ErrWrongPassphrase) || !strings.Contains(err.Error(), h.storeID) {
		t.Fatalf("a wrong passphrase at start: %v", err)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng := h.engineWith(signer, log)

	// Within the limit: signed and sent by PrepareRefund itself.
	r := h.refundTo(invs[0], buyer, 15_000, false, immediate)
	s, err := eng.PrepareRefund(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != spend.StatusBroadcast || s.TxID == "" {
		t.Fatalf("the immediate refund's spend: %+v", s)
	}
	h.refundNow(r.ID, "pending", func(r refund.Refund) bool { return r.Status == refund.StatusPending && r.TxID == s.TxID })
	h.confirmRefund(eng, s, r.ID)

	// Over the limit (15,000 and its fee signed already): it waits.
	r2 := h.refundTo(invs[1], buyer, 20_000, false, immediate)
	s2, err := eng.PrepareRefund(ctx, r2.ID)
	if err != nil {
		t.Fatalf("a refund over the limit is not an error for the caller: %v", err)
	}
	if s2.Status != spend.StatusUnsigned {
		t.Fatalf("the spend over the limit: %+v", s2)
	}
	if got, _ := h.db.GetRefund(ctx, r2.ID); got.Status != refund.StatusCreated {
		t.Fatalf("the refund over the limit: %s", got.Status)
	}
	var limit, signed money.Sats
	if err := h.db.Unit(ctx, func(u *store.Unit) (err error) {
		limit, signed, err = u.HotBudget(h.storeID, h.clock.Now().Add(-spender.HotWindow))
		return err
	}); err != nil || limit != 30_000 || signed != 15_000+s.Fee {
		t.Fatalf("hot budget: %d of %d, %v; want %d", signed, limit, err, 15_000+s.Fee)
	}
	// The merchant's wallet signs it the usual way.
	out2, err := eng.Submit(ctx, s2.ID, signPSBT(t, s2.PSBT))
	if err != nil || out2.Status != spend.StatusBroadcast {
		t.Fatalf("the merchant signs the waiting spend: %+v, %v", out2, err)
	}

	// A wrong passphrase in serve: the spend waits, with a warning.
	h.mine(1)
	h.coinWhere("the first change confirmed", func(c store.Coin) bool { return c.TxID == s.TxID && c.Branch == 1 && c.Height > 0 })
	wrong := h.engineWith(hotwallet.New(h.db, []byte("not the passphrase at all")), log)
	r3 := h.refundTo(invs[0], buyer, 3_000, false, immediate)
	s3, err := wrong.PrepareRefund(ctx, r3.ID)
	if err != nil || s3.Status != spend.StatusUnsigned {
		t.Fatalf("with a wrong passphrase: %+v, %v", s3, err)
	}

	// An automatic refund (an invoice's exception) is the hot signer's
	// too, within the limit.
	r4 := h.refundTo(invs[1], buyer, 3_000, true, func(r *refund.Refund) { r.GUID = refund.AutoPrefix + invs[1].ID })
	s4, err := eng.PrepareRefund(ctx, r4.ID)
	if err != nil || s4.Status != spend.StatusBroadcast {
		t.Fatalf("the automatic refund's spend: %+v, %v", s4, err)
	}

	text := logs.String()
	for _, want := range []string{"spend signed by the hot signer", "over the hot signer's daily limit", "cannot open the store's key"} {
		if !strings.Contains(text, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	for _, leak := range []string{secret, secret[4:30], passphrase, "not the passphrase at all", "prv"} {
		if strings.Contains(text, leak) {
			t.Fatalf("the log shows a secret (%q…)", leak[:4])
		}
	}
}
