package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/money"
)

// refundEnv is an API with a signing merchant client and invoices of 10
// USD (20,000 sats).
type refundEnv struct {
	*env
	c        client
	merchant string // the client's merchant token
}

func newRefundEnv(t *testing.T) *refundEnv {
	e := newEnv(t)
	c := newClient(t)
	tok := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant, SIN: c.sin, Active: true,
		CreatedAt: time.Now()}
	if err := e.db.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return &refundEnv{env: e, c: c, merchant: tok.Value}
}

// invoice creates an invoice paid with sats, confirmed confs times (none
// when sats is 0), and returns its id and resource token.
func (e *refundEnv) invoice(sats int64, confs int32) (string, string) {
	e.t.Helper()
	_, m := e.do(nil, "POST", "/invoices", map[string]any{"token": e.pos, "price": 10, "currency": "USD"})
	d := data(e.t, m)
	id := d["id"].(string)
	if sats > 0 {
		kassatest.Pay(e.t, e.db, id, money.Sats(sats), confs)
	}
	return id, d["token"].(string)
}

// TestLegacyRefunds: seed 002's 2014 shape and the PHP client's make the
// same refunds the v2 endpoints serve.
func TestLegacyRefunds(t *testing.T) {
	e := newRefundEnv(t)
	id, tok := e.invoice(20_000, 6)
	addr := kassatest.Address(t, "api refund buyer")
	status, m := e.do(nil, "POST", "/invoices/"+id+"/refunds", map[string]any{"token": tok, "bitcoinAddress": addr,
		"amount": "0.0001", "currency": "BTC"})
	d := data(t, m)
	if status != 200 || d["status"] != "pending" || d["id"] == "" || d["token"] == "" || d["requestDate"] == "" || len(d) != 4 {
		t.Fatalf("2014 refund: %d %v", status, m)
	}
	rid := d["id"].(string)
	status, m = e.do(&e.c, "GET", "/refunds/"+rid+"?token="+e.merchant, nil)
	if r := data(t, m); status != 200 || r["refundAddress"] != addr || r["status"] != "created" || r["transactionAmount"] != 0.0001 ||
		r["invoice"] != id || r["token"] != d["token"] {
		t.Fatalf("GET /refunds/:id of the 2014 refund: %d %v", status, m)
	}
	// PHP: {guid, refundEmail, amount, currency} with the invoice token.
	status, m = e.do(nil, "POST", "/invoices/"+id+"/refunds", map[string]any{"token": tok, "guid": "php-1",
		"refundEmail": "jo@example.com", "amount": 2, "currency": "USD"})
	if status != 200 || m["success"] != true {
		t.Fatalf("PHP refund: %d %v", status, m)
	}
	php := data(t, m)["id"].(string)
	status, m = e.do(nil, "GET", "/invoices/"+id+"/refunds?token="+tok, nil)
	list, _ := m["data"].([]any)
	if status != 200 || len(list) != 2 || list[0].(map[string]any)["status"] != "pending" ||
		list[1].(map[string]any)["refundEmail"] != "jo@example.com" {
		t.Fatalf("list: %d %v", status, m)
	}
	// The invoice: one refund waits for the buyer's address.
	status, m = e.do(nil, "GET", "/invoices/"+id+"?token="+tok, nil)
	inv := data(t, m)
	if status != 200 || inv["refundAddressRequestPending"] != true || len(inv["refundAddresses"].([]any)) != 1 ||
		inv["refundInfo"].(map[string]any)["supportRequest"] != php {
		t.Fatalf("invoice refund fields: %d %v", status, inv)
	}
	if status, m = e.do(nil, "GET", "/invoices/"+id+"/refunds/"+php+"?token="+tok, nil); status != 200 || data(t, m)["id"] != php {
		t.Fatalf("PHP get: %d %v", status, m)
	}
	if status, m = e.do(nil, "DELETE", "/invoices/"+id+"/refunds/"+php+"?token="+tok, nil); status != 200 || data(t, m)["status"] != "cancelled" {
		t.Fatalf("PHP cancel: %d %v", status, m)
	}
	if status, m = e.do(nil, "GET", "/invoices/"+id, nil); status != 200 || data(t, m)["refundInfo"] != nil {
		t.Fatalf("the public view shows no refunds: %d %v", status, m)
	}
}

// TestRefundBadRequestsChangeNothing: every bad refund request is a clear
// 4xx in BitPay's envelope, and nothing is stored: no refund, no event,
// the invoice as it was.
func TestRefundBadRequestsChangeNothing(t *testing.T) {
	e := newRefundEnv(t)
	paid, paidTok := e.invoice(20_000, 6)
	unpaid, _ := e.invoice(0, 0)
	expired, _ := e.invoice(0, 0)
	if _, err := e.gw.Act(context.Background(), expired, invoice.Cancel{}); err != nil {
		t.Fatal(err)
	}
	_, otherTok := e.invoice(20_000, 6)
	own := ""
	if inv, err := e.db.GetInvoice(context.Background(), paid); err == nil {
		own = inv.Method(invoice.MethodBTC).Destination
	}
	// A refund with a guid exists: a replay for another amount is refused.
	if status, m := e.do(&e.c, "POST", "/refunds", map[string]any{"token": e.merchant, "invoiceId": paid, "amount": 1, "guid": "g-1"}); status != 200 {
		t.Fatalf("the guid's refund: %d %v", status, m)
	}
	v2 := func(fields map[string]any) []byte {
		body := map[string]any{"token": e.merchant, "invoiceId": paid, "amount": 1, "currency": "USD"}
		for k, v := range fields {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		b, _ := json.Marshal(body)
		return b
	}
	legacy := func(fields map[string]any) []byte {
		body := map[string]any{"token": paidTok, "amount": 1, "currency": "USD", "bitcoinAddress": kassatest.Address(t, "api refund buyer")}
		for k, v := range fields {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		return b
	}
	for _, c := range []struct {
		name   string
		path   string
		body   []byte
		status int
		code   string
	}{
		{"above what was paid", "/refunds", v2(map[string]any{"amount": 10.01}), 400, "010202"},
		{"above what was paid, in BTC", "/refunds", v2(map[string]any{"amount": "0.00019", "currency": "BTC"}), 400, "010202"},
		{"an unpaid invoice", "/refunds", v2(map[string]any{"invoiceId": unpaid}), 409, "010207"},
		{"an expired unpaid invoice", "/refunds", v2(map[string]any{"invoiceId": expired}), 409, "010207"},
		{"an unknown invoice", "/refunds", v2(map[string]any{"invoiceId": "nope"}), 404, "010201"},
		{"an unknown currency", "/refunds", v2(map[string]any{"currency": "XYZ"}), 400, "010202"},
		{"another fiat currency", "/refunds", v2(map[string]any{"currency": "EUR"}), 400, "010202"},
		{"no amount", "/refunds", v2(map[string]any{"amount": nil}), 400, "010203"},
		{"no invoice", "/refunds", v2(map[string]any{"invoiceId": nil}), 400, "010203"},
		{"amount not a number", "/refunds", v2(map[string]any{"amount": "ten"}), 400, "010202"},
		{"a replayed guid for another amount", "/refunds", v2(map[string]any{"guid": "g-1", "amount": 2}), 409, "010204"},
		{"a pos token", "/refunds", v2(map[string]any{"token": e.pos}), 403, "010200"},
		{"an unknown token", "/refunds", v2(map[string]any{"token": "nope"}), 401, "010200"},
		{"no token", "/refunds", v2(map[string]any{"token": nil}), 400, "010203"},
		{"garbage", "/refunds", []byte("{garbage"), 400, "010202"},
		{"not an object", "/refunds", []byte(`["a"]`), 400, "010202"},
		{"a wrong-network address", "/invoices/" + paid + "/refunds", legacy(map[string]any{"bitcoinAddress": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}), 400, "010202"},
		{"the store's own address", "/invoices/" + paid + "/refunds", legacy(map[string]any{"bitcoinAddress": own}), 400, "010202"},
		{"another invoice's token", "/invoices/" + paid + "/refunds", legacy(map[string]any{"token": otherTok}), 401, "010200"},
		{"a pos token on an invoice", "/invoices/" + paid + "/refunds", legacy(map[string]any{"token": e.pos}), 403, "010200"},
		{"legacy garbage", "/invoices/" + paid + "/refunds", []byte("\x00\x01"), 400, "010202"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(paid, unpaid, expired)
			status, m := e.doRaw(&e.c, "POST", c.path, c.body)
			if status != c.status || m["status"] != "error" || m["code"] != c.code || m["error"] == "" || m["message"] != m["error"] {
				t.Fatalf("want %d %s in the envelope, have %d %v", c.status, c.code, status, m)
			}
			if after := e.snapshot(paid, unpaid, expired); after != before {
				t.Fatalf("the store changed: %s → %s", before, after)
			}
		})
	}
}

// snapshot sums up what a refund could change: each invoice's version and
// status, its refunds and its events.
func (e *refundEnv) snapshot(ids ...string) string {
	e.t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	for _, id := range ids {
		inv, err := e.db.GetInvoice(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		rs, err := e.db.InvoiceRefunds(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		evs, err := e.db.Outbox(ctx, id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range rs {
			more, _ := e.db.Outbox(ctx, r.ID)
			evs = append(evs, more...)
		}
		b.WriteString(id + ":" + string(inv.Status) + ":" + itoa(inv.Version) + ":" + itoa(int64(len(rs))) + ":" + itoa(int64(len(evs))) + " ")
	}
	return b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
