package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
)

func TestFindInvoices(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		s := newStore(t, db, 100)
		ctx := context.Background()
		var ids []string
		for i := range 5 {
			inv := newInvoice(s.ID)
			inv.CreatedAt = testEpoch.Add(time.Duration(i) * time.Hour)
			inv.Fields.OrderID = map[bool]string{true: "even", false: "odd"}[i%2 == 0]
			inv.Fields.ItemCode = map[bool]string{true: "bitcoindonation", false: ""}[i == 3]
			if err := db.CreateInvoice(ctx, inv, createdNote(inv), trivialAddress); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, inv.ID)
		}
		find := func(f InvoiceFilter) []string {
			t.Helper()
			invs, err := db.FindInvoices(ctx, s.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, inv := range invs {
				out = append(out, inv.ID)
			}
			return out
		}
		eq := func(name string, got, want []string) {
			t.Helper()
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("%s: want %s, have %s", name, w, g)
			}
		}
		eq("all, newest first", find(InvoiceFilter{}), []string{ids[4], ids[3], ids[2], ids[1], ids[0]})
		eq("date range", find(InvoiceFilter{From: testEpoch.Add(time.Hour), To: testEpoch.Add(3 * time.Hour)}), []string{ids[2], ids[1]})
		eq("order id", find(InvoiceFilter{OrderID: "odd"}), []string{ids[3], ids[1]})
		eq("item code", find(InvoiceFilter{ItemCode: "bitcoindonation"}), []string{ids[3]})
		eq("status", find(InvoiceFilter{Status: invoice.StatusExpired}), nil)
		eq("page", find(InvoiceFilter{Limit: 2, Offset: 1}), []string{ids[3], ids[2]})
	})
}
