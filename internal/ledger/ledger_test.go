package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/shopspring/decimal"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testInvoice is a 20 USD invoice at 61,234.57 USD a bitcoin: 32,662 sats
// due (rounded up), a rate whose fiat values need rounding.
func testInvoice() invoice.Invoice {
	return invoice.Invoice{ID: "inv", StoreID: "st", Status: invoice.StatusNew, Speed: invoice.SpeedMedium,
		Price: decimal.RequireFromString("20"), Currency: "USD",
		Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("61234.57"),
			Due: 32_662, Destination: "bcrt1qtest"}},
		CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), UpdatedAt: t0, Version: 1}
}

func apply(t *testing.T, inv invoice.Invoice, ev invoice.Event, at time.Duration, tip int32) invoice.Invoice {
	t.Helper()
	next, _, err := invoice.Apply(inv, ev, invoice.Env{Now: t0.Add(at), Tip: tip})
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func seen(txid string, sats money.Sats, height int32) invoice.Event {
	return invoice.PaymentSeen{Payment: invoice.Payment{Method: invoice.MethodBTC, TxID: txid, Amount: sats, Height: height}}
}

func find(lines []Line, a Account) Line {
	for _, l := range lines {
		if l.Account == a {
			return l
		}
	}
	return Line{Account: a, Fiat: decimal.Zero}
}

func TestInvoiceBooks(t *testing.T) {
	inv := testInvoice()
	if lines := Invoice(&inv); lines != nil {
		t.Fatalf("a new invoice books %v", lines)
	}
	// Paid in full, confirmed: not final, nothing booked yet.
	inv = apply(t, inv, seen("a", 32_662, 0), time.Minute, 100)
	inv = apply(t, inv, seen("a", 32_662, 101), 2*time.Minute, 101)
	if inv.Status != invoice.StatusConfirmed || Invoice(&inv) != nil {
		t.Fatalf("%s books %v", inv.Status, Invoice(&inv))
	}
	// Six deep: complete, the sale.
	inv = apply(t, inv, invoice.Tick{}, 3*time.Minute, 106)
	sale := Invoice(&inv)
	if inv.Status != invoice.StatusComplete || !Balanced(sale) || len(sale) != 2 ||
		find(sale, Wallet).Sats != 32_662 || find(sale, Sales).Sats != -32_662 ||
		find(sale, Wallet).Fiat.String() != "20" {
		t.Fatalf("the sale: %s %v", inv.Status, sale)
	}
	// A reorg takes the payment away: the books call for nothing, the
	// difference reverses the sale.
	gone := apply(t, inv, invoice.PaymentRemoved{TxID: "a"}, 4*time.Minute, 106)
	rev := Diff(sale, Invoice(&gone))
	if !Balanced(rev) || find(rev, Wallet).Sats != -32_662 || find(rev, Sales).Sats != 32_662 {
		t.Fatalf("the reversal: %s %v", gone.Status, rev)
	}
}

func TestOverAndPartialPayments(t *testing.T) {
	over := testInvoice()
	over = apply(t, over, seen("a", 40_000, 101), time.Minute, 106)
	lines := Invoice(&over)
	if over.Exception != invoice.ExceptionPaidOver || !Balanced(lines) || find(lines, Sales).Sats != -32_662 ||
		find(lines, BuyerCredit).Sats != -(40_000-32_662) || find(lines, Wallet).Sats != 40_000 {
		t.Fatalf("over-paid %s/%s: %v", over.Status, over.Exception, lines)
	}
	// Crediting the over payment makes it all the sale.
	credited := apply(t, over, invoice.AcceptOverpayment{}, 2*time.Minute, 106)
	diff := Diff(lines, Invoice(&credited))
	if !Balanced(diff) || find(diff, Sales).Sats != -(40_000-32_662) || find(diff, BuyerCredit).Sats != 40_000-32_662 {
		t.Fatalf("credited: %v", diff)
	}
	if CodeOf(SubjectInvoice, diff) != CodeSale || CodeOf(SubjectInvoice, []Line{{Account: BuyerCredit}}) != CodeBuyerCredit {
		t.Fatal("codes")
	}

	partial := testInvoice()
	partial = apply(t, partial, seen("p", 10_000, 101), time.Minute, 106)
	partial = apply(t, partial, invoice.Tick{}, 16*time.Minute, 106)
	lines = Invoice(&partial)
	if partial.Status != invoice.StatusExpired || !Balanced(lines) || find(lines, BuyerCredit).Sats != -10_000 ||
		find(lines, Sales).Sats != 0 {
		t.Fatalf("expired part-paid: %v", lines)
	}
}

func TestRefundBooks(t *testing.T) {
	inv := testInvoice()
	r := refund.Refund{ID: "r", InvoiceID: "inv", Status: refund.StatusPending, Sats: 10_000, Fee: 300}
	if Refund(&r, &inv, Refunds) != nil {
		t.Fatal("a pending refund books")
	}
	r.Status = refund.StatusSuccess
	lines := Refund(&r, &inv, Refunds)
	if !Balanced(lines) || find(lines, Refunds).Sats != 10_000 || find(lines, NetworkFees).Sats != 300 ||
		find(lines, Wallet).Sats != -10_300 || CodeOf(SubjectRefund, lines) != CodeInvoiceRefund {
		t.Fatalf("a refund the merchant's fee: %v", lines)
	}
	r.BuyerPaysFee = true
	lines = Refund(&r, &inv, BuyerCredit)
	if !Balanced(lines) || find(lines, BuyerCredit).Sats != 10_000 || find(lines, Wallet).Sats != -10_000 ||
		find(lines, NetworkFees).Sats != 0 {
		t.Fatalf("a refund whose buyer bore the fee: %v", lines)
	}
}

// TestRandomHistories drives invoices through random histories of
// payments, removals, reorgs, ticks and credits and books each change as
// the difference to what the state calls for: every posting balances, an
// unchanged state posts nothing, and the books always equal what the
// state calls for, with the wallet at what was received whenever the
// invoice is booked.
func TestRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var sales, credits, reversals int
	for run := range 2000 {
		inv := testInvoice()
		var books []Line
		at, tip := time.Duration(0), int32(100)
		for step := range 12 {
			at += time.Duration(rng.IntN(8)) * time.Minute
			if rng.IntN(3) == 0 {
				tip += int32(rng.IntN(4))
			}
			var ev invoice.Event
			switch rng.IntN(6) {
			case 0, 1:
				h := int32(0)
				if rng.IntN(2) == 0 {
					h = tip - int32(rng.IntN(3))
				}
				ev = seen(fmt.Sprintf("t%d", rng.IntN(3)), money.Sats(5_000+rng.IntN(40_000)), h)
			case 2:
				ev = invoice.PaymentRemoved{TxID: fmt.Sprintf("t%d", rng.IntN(3))}
			case 3:
				ev = invoice.AcceptOverpayment{}
			case 4:
				ev = invoice.AcceptPartial{}
			default:
				ev = invoice.Tick{}
			}
			next, _, err := invoice.Apply(inv, ev, invoice.Env{Now: t0.Add(at), Tip: tip})
			if err != nil {
				continue // an event the state refuses changes nothing
			}
			target := Invoice(&next)
			post := Diff(books, target)
			if !Balanced(post) || !Balanced(target) {
				t.Fatalf("run %d step %d: unbalanced: post %v target %v", run, step, post, target)
			}
			if same := Diff(target, Invoice(&next)); len(same) != 0 {
				t.Fatalf("run %d step %d: the same state posts %v", run, step, same)
			}
			if find(post, Sales).Sats < 0 {
				sales++
			}
			if find(post, Sales).Sats > 0 || find(post, Wallet).Sats < 0 {
				reversals++
			}
			if find(post, BuyerCredit).Sats < 0 {
				credits++
			}
			books = Sum(books, post)
			if len(Diff(books, target)) != 0 {
				t.Fatalf("run %d step %d: books %v, state calls for %v", run, step, books, target)
			}
			if len(target) > 0 && find(books, Wallet).Sats != next.Received() {
				t.Fatalf("run %d step %d: wallet %d, received %d", run, step, find(books, Wallet).Sats, next.Received())
			}
			if s := -find(books, Sales).Sats; s > next.Due() || s < 0 {
				t.Fatalf("run %d step %d: sales %d of %d due", run, step, s, next.Due())
			}
			inv = next
		}
	}
	// The histories reach what the books are about.
	if sales < 100 || credits < 100 || reversals < 20 {
		t.Fatalf("too few histories book: %d sales, %d credits, %d reversals", sales, credits, reversals)
	}
	t.Logf("%d sales, %d buyer credits, %d reversals posted", sales, credits, reversals)
}
