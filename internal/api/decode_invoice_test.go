package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
)

func TestDecodeInvoiceRequestLeniency(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, q InvoiceRequest)
	}{
		{"price number keeps digits", `{"price":10.50,"currency":"USD"}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Price, "10.50")
			eq(t, q.Currency, "USD")
		}},
		{"price string", `{"price":"10.00"}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Price, "10.00") }},
		{"price exponent (python)", `{"price":1e-05,"currency":"BTC"}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Price, "1e-05") }},
		{"orderId", `{"price":1,"orderId":"A-1"}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.OrderID, "A-1") }},
		{"orderID (PHP1, bp_lib)", `{"price":1,"orderID":"A-2"}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.OrderID, "A-2") }},
		{"orderId number", `{"price":1,"orderId":12345}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.OrderID, "12345") }},
		{"last repeat wins", `{"price":1,"orderId":"a","orderID":"b"}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.OrderID, "b") }},
		{"url fields any case", `{"price":1,"notificationUrl":"https://n","redirectUrl":"https://r","closeURL":"https://c","notificationEmail":"m@x"}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.Fields.NotificationURL, "https://n")
				eq(t, q.Fields.RedirectURL, "https://r")
				eq(t, q.Fields.CloseURL, "https://c")
				eq(t, q.Fields.NotificationEmail, "m@x")
			}},
		{"item fields", `{"price":1,"itemDesc":"Tee","itemCode":"bitcoindonation","physical":"true"}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.ItemDesc, "Tee")
			eq(t, q.Fields.ItemCode, "bitcoindonation")
			eq(t, q.Fields.Physical, true)
		}},
		{"posData string kept byte-exact", `{"price":1,"posData":"{\"ref\": 1, \"h\":\"a/b\"}"}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.PosData, `{"ref": 1, "h":"a/b"}`)
		}},
		{"posData object kept as its JSON text", `{"price":1,"posData": {"ref": 1,"x":[1, 2]} }`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.PosData, `{"ref": 1,"x":[1, 2]}`)
		}},
		{"posData number", `{"price":1,"posData":42}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.PosData, "42") }},
		{"autoRedirect", `{"price":1,"autoRedirect":true}`, func(t *testing.T, q InvoiceRequest) { eq(t, q.Fields.AutoRedirect, true) }},
		{"redirectAutomatically (BTCPay)", `{"price":1,"redirectAutomatically":"true"}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.AutoRedirect, true)
		}},
		{"full notifications from string", `{"price":1,"fullNotifications":"true"}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.FullNotifications, true)
			eq(t, q.Fields.ExtendedNotifications, false)
		}},
		{"extended implies full", `{"price":1,"extendedNotifications":1,"fullNotifications":false}`, func(t *testing.T, q InvoiceRequest) {
			eq(t, q.Fields.FullNotifications, true)
			eq(t, q.Fields.ExtendedNotifications, true)
		}},
		{"stripped fields stay zero", `{"price":1}`, func(t *testing.T, q InvoiceRequest) {
			if !reflect.DeepEqual(q.Fields, invoice.Fields{}) || q.AcceptanceWindow != 0 || q.TransactionSpeed != "" {
				t.Errorf("fields: %+v", q)
			}
		}},
		{"nulls are absent", `{"price":1,"orderId":null,"buyer":null,"physical":null,"merchantName":null,"acceptanceWindow":null}`,
			func(t *testing.T, q InvoiceRequest) {
				if !reflect.DeepEqual(q.Fields, invoice.Fields{}) || q.AcceptanceWindow != 0 {
					t.Errorf("fields: %+v", q.Fields)
				}
			}},
		{"buyer BitPay names", `{"price":1,"buyer":{"name":"Jo","address1":"1 St","address2":"Apt 2","locality":"Town","region":"CA","postalCode":"90000","country":"US","email":"jo@x","phone":"555","notify":true}}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.Fields.Buyer, invoice.Buyer{Name: "Jo", Address1: "1 St", Address2: "Apt 2", Locality: "Town", Region: "CA",
					PostalCode: "90000", Country: "US", Email: "jo@x", Phone: "555", Notify: true})
			}},
		{"buyer NBitpayClient names", `{"price":1,"buyer":{"Name":"Jo","city":"Town","state":"CA","zip":"90000","notify":"false"}}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.Fields.Buyer, invoice.Buyer{Name: "Jo", Locality: "Town", Region: "CA", PostalCode: "90000"})
			}},
		{"flat buyer fields", `{"price":1,"buyerName":"Jo","buyerAddress1":"1 St","buyerAddress2":"Apt 2","buyerCity":"Town","buyerState":"CA","buyerZip":"90000","buyerCountry":"US","buyerEmail":"jo@x","buyerPhone":"555","buyerNotify":"1"}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.Fields.Buyer, invoice.Buyer{Name: "Jo", Address1: "1 St", Address2: "Apt 2", Locality: "Town", Region: "CA",
					PostalCode: "90000", Country: "US", Email: "jo@x", Phone: "555", Notify: true})
			}},
		{"buyer object wins over flat fields", `{"price":1,"buyerEmail":"flat@x","buyerName":"Flat","buyer":{"email":"obj@x"}}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.Fields.Buyer, invoice.Buyer{Name: "Flat", Email: "obj@x"})
			}},
		{"speed, window, session", `{"price":1,"transactionSpeed":"high","acceptanceWindow":"1200000","sessionId":"s1","requestNumber":"2","guid":"g-1","token":"T","nonce":1795451067160}`,
			func(t *testing.T, q InvoiceRequest) {
				eq(t, q.TransactionSpeed, "high")
				eq(t, q.AcceptanceWindow, int64(1200000))
				eq(t, q.SessionID, "s1")
				eq(t, q.RequestNumber, int64(2))
				eq(t, q.GUID, "g-1")
				eq(t, q.Fields.GUID, "g-1")
				eq(t, q.Token, "T")
			}},
		{"extra fields echoed verbatim, canonical names and order", `{"price":1,"merchantName":"Shop","paymentcurrencies":["BTC"],
			"itemizedDetails":[ {"amount": 5.0, "description":"x","isFee":false} ],"jsonPayProRequired":"true","bitpayIdRequired":0,
			"buyerSms":"+1555","buyerProvidedInfo":{"name":"Jo"},"expirationTime":"1795451206570","billId":"b1",
			"refundAddresses":[],"taxIncluded":1.5,"defaultPaymentMethod":"BTC","forcedBuyerSelectedWallet":"bitpay",
			"forcedBuyerSelectedTransactionCurrency":"BTC","selectedTransactionCurrency":"BTC","unknownThing":{"a":1}}`,
			func(t *testing.T, q InvoiceRequest) {
				want := `{"paymentCurrencies":["BTC"],"jsonPayProRequired":true,"bitpayIdRequired":false,"merchantName":"Shop",` +
					`"itemizedDetails":[{"amount":5.0,"description":"x","isFee":false}],"buyerSms":"+1555","forcedBuyerSelectedWallet":"bitpay",` +
					`"forcedBuyerSelectedTransactionCurrency":"BTC","selectedTransactionCurrency":"BTC","refundAddresses":[],"billId":"b1",` +
					`"buyerProvidedInfo":{"name":"Jo"},"taxIncluded":1.5,"defaultPaymentMethod":"BTC","expirationTime":1795451206570}`
				eq(t, string(q.Fields.Extra), want)
				if !json.Valid(q.Fields.Extra) {
					t.Error("Extra is not valid JSON")
				}
				eq(t, q.Fields.Buyer, invoice.Buyer{})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := DecodeInvoiceRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			tt.check(t, q)
		})
	}
}

func TestDecodeInvoiceRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string // "" for a whole-body 400
	}{
		{"empty body", ``, ""},
		{"not JSON", `price=10`, ""},
		{"array", `[{"price":1}]`, ""},
		{"string", `"x"`, ""},
		{"truncated", `{"price":1,`, ""},
		{"trailing garbage", `{"price":1} {}`, ""},
		{"missing price", `{"currency":"USD"}`, "price"},
		{"null price", `{"price":null}`, "price"},
		{"price word", `{"price":"ten"}`, "price"},
		{"price object", `{"price":{"amount":1}}`, "price"},
		{"price bool", `{"price":true}`, "price"},
		{"orderId object", `{"price":1,"orderId":{}}`, "orderId"},
		{"currency array", `{"price":1,"currency":["USD"]}`, "currency"},
		{"bool field word", `{"price":1,"fullNotifications":"sometimes"}`, "fullNotifications"},
		{"buyer string", `{"price":1,"buyer":"Jo"}`, "buyer"},
		{"buyer field object", `{"price":1,"buyer":{"email":{"a":1}}}`, "buyer.email"},
		{"flat buyer bool", `{"price":1,"buyerEmail":false}`, "buyerEmail"},
		{"negative window", `{"price":1,"acceptanceWindow":-1}`, "acceptanceWindow"},
		{"fractional window", `{"price":1,"acceptanceWindow":1.5}`, "acceptanceWindow"},
		{"requestNumber word", `{"price":1,"requestNumber":"x"}`, "requestNumber"},
		{"extra bool wrong", `{"price":1,"jsonPayProRequired":"perhaps"}`, "jsonPayProRequired"},
		{"extra int wrong", `{"price":1,"expirationTime":"soon"}`, "expirationTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeInvoiceRequest([]byte(tt.body))
			if err == nil {
				t.Fatal("accepted")
			}
			e := bitpay.AsError(err)
			if e.Status != 400 {
				t.Fatalf("want a 400, have %d: %v", e.Status, err)
			}
			if e.Param != tt.field {
				t.Errorf("param: want %q, have %q (%v)", tt.field, e.Param, err)
			}
			if !errors.Is(err, gateway.ErrInvalid) {
				t.Errorf("every decode error must match gateway.ErrInvalid: %v", err)
			}
		})
	}
}

func TestDecodeInvoiceRequestMissingPrice(t *testing.T) {
	_, err := DecodeInvoiceRequest([]byte(`{"currency":"USD"}`))
	if e := bitpay.AsError(err); e.Code != bitpay.CodeMissingParams || e.Param != "price" {
		t.Fatalf("want a missing-parameter error for price, have %+v", e)
	}
}

func TestToNewInvoice(t *testing.T) {
	q, err := DecodeInvoiceRequest([]byte(`{"price":"10.50","currency":"usd","transactionSpeed":" High ","acceptanceWindow":1200000,"orderId":"o"}`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.ToNewInvoice()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, n.Price, "10.50")
	eq(t, n.Currency, "usd")
	eq(t, n.Speed, invoice.SpeedHigh)
	eq(t, n.Window, 20*time.Minute)
	eq(t, n.Fields.OrderID, "o")

	q.AcceptanceWindow = 1 << 62 // would overflow a Duration
	if n, _ = q.ToNewInvoice(); n.Window != gateway.MaxWindow {
		t.Errorf("window not clamped: %v", n.Window)
	}
	q.AcceptanceWindow = 0
	if n, _ = q.ToNewInvoice(); n.Window != 0 {
		t.Errorf("absent window: %v", n.Window)
	}
	q.AcceptanceWindow = -5
	var in *gateway.InputError
	if _, err := q.ToNewInvoice(); !errors.As(err, &in) || in.Field != "acceptanceWindow" {
		t.Errorf("negative window: %v", err)
	}
}

// TestDecodeVectorBodies decodes every invoice-create body that real
// clients sent (shared/spec/vectors) and checks each field against the
// raw JSON.
func TestDecodeVectorBodies(t *testing.T) {
	bodies := vectorInvoiceBodies(t)
	if len(bodies) < 5 {
		t.Fatalf("found only %d invoice bodies in the vectors", len(bodies))
	}
	for _, vb := range bodies {
		t.Run(vb.name, func(t *testing.T) {
			q, err := DecodeInvoiceRequest([]byte(vb.body))
			if err != nil {
				t.Fatalf("decode %s: %v", vb.body, err)
			}
			dec := json.NewDecoder(strings.NewReader(vb.body))
			dec.UseNumber()
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			eq(t, q.Price, text(raw["price"]))
			eq(t, q.Currency, text(raw["currency"]))
			eq(t, q.Token, text(raw["token"]))
			eq(t, q.GUID, text(raw["guid"]))
			eq(t, q.Fields.GUID, text(raw["guid"]))
			eq(t, q.Fields.OrderID, text(raw["orderId"]))
			eq(t, q.Fields.ItemDesc, text(raw["itemDesc"]))
			eq(t, q.Fields.NotificationURL, text(raw["notificationURL"]))
			eq(t, q.Fields.RedirectURL, text(raw["redirectURL"]))
			eq(t, q.Fields.ExtendedNotifications, raw["extendedNotifications"] == true)
			eq(t, q.Fields.FullNotifications, raw["extendedNotifications"] == true || raw["fullNotifications"] == true)
			if b, ok := raw["buyer"].(map[string]any); ok {
				eq(t, q.Fields.Buyer.Email, text(b["email"]))
				eq(t, q.Fields.Buyer.Name, text(b["name"]))
				eq(t, q.Fields.Buyer.Notify, b["notify"] == true)
			}
			if _, err := q.ToNewInvoice(); err != nil {
				t.Errorf("ToNewInvoice: %v", err)
			}
		})
	}
}

type vectorBody struct{ name, body string }

// vectorInvoiceBodies reads the POST /invoices (and legacy /api/invoice)
// bodies from the recorded requests.
func vectorInvoiceBodies(t *testing.T) []vectorBody {
	t.Helper()
	dir := findVectors(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in %s", dir)
	}
	head := regexp.MustCompile(`^### (\d+) POST (/invoices/?|/api/invoice/?)(\?\S*)?\s`)
	var out []vectorBody
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		section, name := "", ""
		for line := 1; sc.Scan(); line++ {
			s := sc.Text()
			switch {
			case strings.HasPrefix(s, "## SECTION "):
				section = strings.TrimPrefix(s, "## SECTION ")
			case head.MatchString(s):
				name = filepath.Base(f) + "/" + section + "/" + head.FindStringSubmatch(s)[1]
			case name != "" && strings.HasPrefix(s, "body: "):
				out = append(out, vectorBody{name, strings.TrimPrefix(s, "body: ")})
				name = ""
			case strings.HasPrefix(s, "### "):
				name = ""
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// findVectors walks up from the working directory to shared/spec/vectors.
func findVectors(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		for _, cand := range []string{filepath.Join(dir, "shared", "spec", "vectors"), filepath.Join(dir, "spec", "vectors")} {
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/spec/vectors not found above the working directory; the BitPay request vectors are required")
		}
		dir = parent
	}
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

func eq[T comparable](t *testing.T, have, want T) {
	t.Helper()
	if have != want {
		t.Errorf("have %v, want %v", have, want)
	}
}
