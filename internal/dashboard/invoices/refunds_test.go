package invoices

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// TestDetailRefunds: the invoice page lists the invoice's refunds (status,
// amount, satoshis, address, transaction) and links each to the spend
// that pays it; text the buyer typed is escaped; a refund of another
// invoice is not shown.
func TestDetailRefunds(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			hs := newHarness(t, b.URL(t), Config{})
			hs.h.cfg.Refunds = hs.db // the database the harness opened
			inv := hs.createInvoice(hs.store.ID, hs.now.Add(-2*time.Hour), nil)
			other := hs.createInvoice(hs.store.ID, hs.now.Add(-2*time.Hour), nil)
			txid := strings.Repeat("cd", 32)
			paid := hs.refund(inv.ID, refund.StatusPending, "bcrt1qpaid", 15_000, txid)
			waiting := hs.refund(inv.ID, refund.StatusCreated, `<b>addr</b>`, 9_000, "")
			hs.refund(other.ID, refund.StatusCreated, "bcrt1qother", 1_234, "")
			// The pending refund's spend was rebuilt once: the failed first
			// try and the one that sent its transaction.
			first := hs.spend(paid.ID, spend.StatusFailed, "")
			sent := hs.spend(paid.ID, spend.StatusBroadcast, txid)
			open := hs.spend(waiting.ID, spend.StatusUnsigned, "")

			r := hs.get(hs.root()+"/invoices/"+inv.ID, "employee")
			if r.status != http.StatusOK {
				t.Fatalf("detail: %d %s", r.status, r.body)
			}
			section := r.body[strings.Index(r.body, `id="refunds"`):]
			section = section[:strings.Index(section, `id="timeline"`)]
			spends := "/dashboard/stores/" + hs.store.ID + "/spends/"
			mustContain(t, section, `id="refund-`+paid.ID+`"`, "pending", "0.00015000 BTC", "0.00015", "bcrt1qpaid",
				`href="`+spends+sent.ID+`" class="mono">`+txid+`</a>`,
				`id="refund-`+waiting.ID+`"`, "created", "&lt;b&gt;addr&lt;/b&gt;", `href="`+spends+open.ID+`">spend</a>`)
			mustLack(t, section, "bcrt1qother", spends+first.ID, "<b>addr</b>", `id="create-refund"`)
			if strings.Index(section, paid.ID) > strings.Index(section, waiting.ID) {
				t.Error("refunds are not in the order they were asked for")
			}

			// An invoice without refunds says so.
			fresh := hs.createInvoice(hs.store.ID, hs.now, nil)
			mustContain(t, hs.get(hs.root()+"/invoices/"+fresh.ID, "employee").body, "No refunds.")
		})
	}
}

// TestDetailRefundsFailure: refunds that cannot be loaded leave the rest
// of the page intact.
func TestDetailRefundsFailure(t *testing.T) {
	hs := newHarness(t, backends[0].URL(t), Config{Refunds: failingRefunds{}})
	inv := hs.createInvoice(hs.store.ID, hs.now, nil)
	r := hs.get(hs.root()+"/invoices/"+inv.ID, "manager")
	if r.status != http.StatusOK {
		t.Fatalf("detail: %d", r.status)
	}
	mustContain(t, r.body, "The refunds could not be loaded.", "invoice_created")
	mustLack(t, r.body, "No refunds.")
}

type failingRefunds struct{}

func (failingRefunds) InvoiceRefunds(context.Context, string) ([]refund.Refund, error) {
	return nil, errors.New("database away")
}

func (failingRefunds) SpendsOf(context.Context, string, spend.Kind, ...string) ([]spend.Spend, error) {
	return nil, errors.New("database away")
}

// refund stores a refund of an invoice of the harness's store, asked for
// a minute after the last.
func (hs *harness) refund(invoiceID string, status refund.Status, address string, sats money.Sats, txid string) refund.Refund {
	hs.t.Helper()
	hs.seq++
	at := hs.now.Add(time.Duration(hs.seq) * time.Minute)
	r := refund.Refund{ID: auth.NewID(), StoreID: hs.store.ID, InvoiceID: invoiceID, Token: auth.NewResourceToken(),
		Status: status, Amount: sats.Decimal(), Currency: "BTC", Rate: decimal.NewFromInt(1), Sats: sats,
		Address: address, TxID: txid, RequestedAt: at, UpdatedAt: at}
	if err := hs.db.Unit(context.Background(), func(u *store.Unit) error { return u.Refund(&r, nil) }); err != nil {
		hs.t.Fatal(err)
	}
	return r
}

// spend stores a spend paying a refund, made a minute after the last.
func (hs *harness) spend(refundID string, status spend.Status, txid string) spend.Spend {
	hs.t.Helper()
	hs.seq++
	at := hs.now.Add(time.Duration(hs.seq) * time.Minute)
	s := spend.Spend{ID: auth.NewID(), StoreID: hs.store.ID, Kind: spend.KindRefund, SubjectID: refundID, Status: status,
		Plan: spend.Plan{Inputs: []spend.Input{{TxID: strings.Repeat("ee", 32), Amount: 90_000}},
			Outputs: []spend.Output{{Address: "bcrt1qbuyer", Amount: 40_000}}, FeeRate: 2, Fee: 300, PSBT: []byte("psbt\xff")},
		TxID: txid, CreatedAt: at, UpdatedAt: at}
	if txid != "" {
		s.Tx = []byte{1}
	}
	if err := hs.db.Unit(context.Background(), func(u *store.Unit) error { return u.Spend(&s) }); err != nil {
		hs.t.Fatal(err)
	}
	return s
}
