package notify_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// TestWantIPN is spec §4.3 as a table: for each setting, which events
// become IPNs.
func TestWantIPN(t *testing.T) {
	type ev struct {
		code   invoice.Code
		status invoice.Status
	}
	events := []ev{
		{1001, "new"}, {1002, "new"}, {1003, "paid"}, {1003, "confirmed"}, {1005, "confirmed"}, {1006, "complete"},
		{1004, "expired"}, {1010, "expired"}, {1009, "expired"}, {1013, "invalid"}, {1008, "invalid"},
		{1017, "declined"}, {1012, "paid"}, {1015, "complete"}, {3001, "invalid"}, {3002, "paid"},
		{1016, "complete"},
	}
	// want lists the events sent, as "code/status"; "1006/complete*" is
	// sent only when no invoice_confirmed came before it.
	tests := []struct {
		name  string
		speed invoice.Speed
		full  bool
		ext   bool
		want  string
	}{
		{"default medium", invoice.SpeedMedium, false, false, "1005/confirmed 1006/complete* 1012/paid"},
		{"default high", invoice.SpeedHigh, false, false, "1005/confirmed 1006/complete* 1012/paid"},
		{"default low", invoice.SpeedLow, false, false, "1006/complete 1012/paid"},
		{"full", invoice.SpeedMedium, true, false, "1003/paid 1005/confirmed 1006/complete 1012/paid"},
		{"full low", invoice.SpeedLow, true, false, "1003/paid 1005/confirmed 1006/complete 1012/paid"},
		{"extended", invoice.SpeedMedium, true, true, "1003/paid 1003/confirmed 1005/confirmed 1006/complete " +
			"1004/expired 1010/expired 1009/expired 1013/invalid 1008/invalid 1017/declined 1012/paid " +
			"1015/complete 3001/invalid 3002/paid 1016/complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &invoice.Invoice{Speed: tt.speed, Fields: invoice.Fields{FullNotifications: tt.full, ExtendedNotifications: tt.ext}}
			for _, confirmedBefore := range []bool{false, true} {
				var sent []string
				for _, e := range events {
					earlier := func(c invoice.Code) (bool, error) { return c == invoice.CodeConfirmed && confirmedBefore, nil }
					ok, err := notify.WantIPN(inv, e.code, e.status, earlier)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						sent = append(sent, strconv.Itoa(int(e.code))+"/"+string(e.status))
					}
				}
				want := strings.Fields(tt.want)
				for i, w := range want {
					if strings.HasSuffix(w, "*") {
						if confirmedBefore {
							want = append(want[:i:i], want[i+1:]...)
						} else {
							want[i] = strings.TrimSuffix(w, "*")
						}
						break
					}
				}
				if strings.Join(sent, " ") != strings.Join(want, " ") {
					t.Errorf("confirmed before %v: sent %v, want %v", confirmedBefore, sent, want)
				}
			}
		})
	}
}

func TestWantEmail(t *testing.T) {
	want := map[invoice.Code]bool{1003: true, 1005: true, 1006: true, 1004: true, 1010: true, 1013: true, 1008: true, 1017: true}
	for _, c := range []invoice.Code{1001, 1002, 1003, 1004, 1005, 1006, 1008, 1009, 1010, 1012, 1013, 1015, 1017, 3001, 3002} {
		if got := notify.WantEmail(c, "paid"); got != want[c] {
			t.Errorf("WantEmail(%d) = %v", c, got)
		}
	}
	if notify.WantEmail(invoice.CodePaidInFull, invoice.StatusConfirmed) {
		t.Error("the high-speed paidInFull that comes with confirmed is mailed")
	}
}

// TestRenderIPN checks both body formats against the API's rendering of
// the same invoice: the fields a receiver compares with a GET agree.
func TestRenderIPN(t *testing.T) {
	at := time.UnixMilli(1_790_000_000_000).UTC()
	inv := invoice.Invoice{
		ID: "Hpqc62dfE1ZjzeeH4kEycF", StoreID: "s", Token: "tok", Status: invoice.StatusConfirmed,
		Exception: invoice.ExceptionPaidOver, Speed: invoice.SpeedMedium,
		Price: decimal.RequireFromString("10.50"), Currency: "USD",
		Methods: []invoice.Method{{ID: invoice.MethodBTC, Currency: "BTC", Rate: decimal.RequireFromString("55000.1"), Due: 19091,
			Destination: "bcrt1qexample"}},
		CreatedAt: at, ExpiresAt: at.Add(15 * time.Minute), UpdatedAt: at,
		Payments: []invoice.Payment{{Method: invoice.MethodBTC, TxID: "aa", Amount: 20000, Height: 100, SeenAt: at}},
		Fields: invoice.Fields{OrderID: "20210510_abc", PosData: `{"ref":711454,"a":"<&>"}`, NotificationURL: "https://shop.example/ipn",
			Buyer: invoice.Buyer{Name: "John Doe", Address1: "1 Main", Address2: "Apt 2", Locality: "Richmond", Region: "VA",
				PostalCode: "23242", Country: "US", Email: "john@doe.com", Phone: "555", Notify: true}},
	}
	snap, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	// The event happened at paid; the snapshot is already confirmed (one
	// commit passed two milestones): the body reports the event's status.
	ev := store.OutboxEvent{ID: "ev1", Subject: store.SubjectInvoice, SubjectID: inv.ID, Code: int(invoice.CodePaidInFull), Name: "invoice_paidInFull",
		Status: string(invoice.StatusPaid), Exception: string(invoice.ExceptionPaidOver), CreatedAt: at.Add(time.Minute), Snapshot: snap}
	body, err := notify.RenderIPN(ev, "https://pay.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	view := bitpay.RenderInvoice(&inv, bitpay.ViewMerchant, "https://pay.example.com", 100, at)
	checks := map[string]any{
		"id": inv.ID, "url": "https://pay.example.com/invoice?id=" + inv.ID, "posData": inv.Fields.PosData,
		"status": "paid", "price": 10.5, "currency": "USD", "invoiceTime": float64(at.UnixMilli()),
		"expirationTime": float64(at.Add(15 * time.Minute).UnixMilli()), "currentTime": float64(at.Add(time.Minute).UnixMilli()),
		"exceptionStatus": "paidOver", "amountPaid": float64(view.AmountPaid), "orderId": "20210510_abc",
		"transactionCurrency": "BTC", "btcPrice": view.BTCPrice, "btcPaid": view.BTCPaid, "btcDue": view.BTCDue,
		"rate": 55000.1,
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if sub := got["paymentSubtotals"].(map[string]any); sub["BTC"] != float64(19091) {
		t.Errorf("paymentSubtotals = %v", sub)
	}
	if ex := got["exchangeRates"].(map[string]any)["BTC"].(map[string]any); ex["USD"] != 55000.1 {
		t.Errorf("exchangeRates = %v", ex)
	}
	bf := got["buyerFields"].(map[string]any)
	want := map[string]any{"buyerName": "John Doe", "buyerAddress1": "1 Main", "buyerAddress2": "Apt 2", "buyerCity": "Richmond",
		"buyerState": "VA", "buyerZip": "23242", "buyerCountry": "US", "buyerPhone": "555", "buyerNotify": true,
		"buyerEmail": "john@doe.com"}
	for k, w := range want {
		if bf[k] != w {
			t.Errorf("buyerFields.%s = %v, want %v", k, bf[k], w)
		}
	}
	if bf["buyerName"] != view.Buyer.Name || bf["buyerEmail"] != view.Buyer.Email || bf["buyerAddress1"] != view.Buyer.Address1 ||
		bf["buyerAddress2"] != view.Buyer.Address2 {
		t.Error("buyerFields disagree with the API's buyer")
	}
	for _, k := range []string{"token", "buyer", "transactions", "event", "data"} {
		if _, ok := got[k]; ok {
			t.Errorf("standard body has %q", k)
		}
	}
	if !strings.Contains(string(body), `"<&>`) {
		t.Errorf("posData is HTML-escaped: %s", body)
	}
	again, _ := notify.RenderIPN(ev, "https://pay.example.com/")
	if string(again) != string(body) {
		t.Error("the body is not the same on every attempt")
	}

	// Extended: the same data in an envelope with the event.
	inv.Fields.ExtendedNotifications, inv.Fields.FullNotifications = true, true
	ev.Snapshot, _ = json.Marshal(inv)
	body, err = notify.RenderIPN(ev, "https://pay.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var ext notify.Extended
	if err := json.Unmarshal(body, &ext); err != nil {
		t.Fatal(err)
	}
	if ext.Event.Code != 1003 || ext.Event.Name != "invoice_paidInFull" || ext.Data.ID != inv.ID || ext.Data.Status != "paid" ||
		ext.Data.BuyerFields.BuyerName != "John Doe" {
		t.Errorf("extended body = %s", body)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	if len(raw) != 2 {
		t.Errorf("extended body has keys %v, want event and data", raw)
	}
	// Without a buyer, buyerFields is an empty object (not missing).
	inv.Fields = invoice.Fields{}
	ev.Snapshot, _ = json.Marshal(inv)
	body, _ = notify.RenderIPN(ev, "https://pay.example.com")
	if !strings.Contains(string(body), `"buyerFields":{}`) {
		t.Errorf("body without a buyer: %s", body)
	}
	if _, err := notify.RenderIPN(store.OutboxEvent{Snapshot: []byte("{")}, ""); err == nil {
		t.Error("a broken snapshot rendered")
	}
}
