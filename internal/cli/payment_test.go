//go:build node

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// paymentRig is kassa serve on a real btcd regtest node, spoken to as a
// plugin does: over its API with a merchant token.
type paymentRig struct {
	t        *testing.T
	node     *regtest.Node
	url      string
	db       *store.DB
	merchant string
}

// call sends a JSON request to the API and decodes its data.
func (r *paymentRig) call(method, path string, body any) map[string]any {
	r.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader(raw))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Data json.RawMessage `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil {
		r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		// {"data":"Success"}
		return map[string]any{"value": string(m.Data)}
	}
	return out
}

// getInvoice is what a plugin does on an IPN: GET the invoice with its
// merchant token.
func (r *paymentRig) getInvoice(id string) (map[string]any, error) {
	resp, err := http.Get(r.url + "/invoices/" + id + "?token=" + r.merchant)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m struct {
		Data map[string]any `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	return m.Data, nil
}

func (r *paymentRig) pay(id string) {
	r.t.Helper()
	inv, err := r.db.GetInvoice(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.node.Wallet().Pay(context.Background(), inv.Method(invoice.MethodBTC).Destination, inv.Due()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *paymentRig) mine(n int) {
	r.t.Helper()
	if _, err := r.node.Mine(context.Background(), n); err != nil {
		r.t.Fatal(err)
	}
}

// ipnDeliveries returns an invoice's IPN deliveries.
func (r *paymentRig) ipnDeliveries(id string) []store.Delivery {
	r.t.Helper()
	ds, err := r.db.Deliveries(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return slices.DeleteFunc(ds, func(d store.Delivery) bool { return d.Channel != store.ChannelIPN })
}

// checked is an IPN and what a GET of its invoice said right after.
type checked struct {
	invoiceID, status string
	code              int            // the extended body's event code, 0 for a standard body
	data              map[string]any // the IPN's invoice fields (data of an extended body)
	get               map[string]any
	err               error
}

// TestPaymentIPNs pays three invoices on the real node, one per
// notification setting, and follows them to complete: each receives the
// IPNs spec §4.3 prescribes, in order, and a GET made on receipt agrees
// with every IPN on status, buyer and amountPaid. A resend (POST
// /invoices/:id/notifications) arrives as event 1012.
func TestPaymentIPNs(t *testing.T) {
	const publicURL = "https://pay.example.com"
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	vars := newVars(t, node.RPCURL())
	vars["KASSA_IPN_ALLOW_PRIVATE"] = "true"
	vars["KASSA_PUBLIC_URL"] = publicURL
	storeID := createStore(t, vars, "medium")
	out, errs, code := run(t, vars, "token", "create", "--store", storeID, "--facade", "merchant")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	s := startServe(t, vars)
	waitFor(t, "ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	r := &paymentRig{t: t, node: node, url: "http://" + s.addr, db: openTestDB(t, vars), merchant: strings.TrimSpace(out)}

	var mu sync.Mutex
	var got []checked
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		var c checked
		var env struct {
			Event struct {
				Code int `json:"code"`
			} `json:"event"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(body, &env) == nil && env.Event.Code != 0 {
			c.code, c.data = env.Event.Code, env.Data
		} else {
			_ = json.Unmarshal(body, &c.data)
		}
		c.invoiceID, _ = c.data["id"].(string)
		c.status, _ = c.data["status"].(string)
		c.get, c.err = r.getInvoice(c.invoiceID)
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	buyer := map[string]any{"name": "Ada Lovelace", "address1": "12 St James's Sq", "address2": "Flat 3",
		"locality": "London", "postalCode": "SW1Y 4JH", "country": "GB", "email": "ada@example.org", "notify": true}
	create := func(extra map[string]any) string {
		body := map[string]any{"token": r.merchant, "price": 10, "currency": "USD", "transactionSpeed": "medium",
			"notificationURL": rc.URL + "/ipn", "buyer": buyer, "orderId": "order-1"}
		for k, v := range extra {
			body[k] = v
		}
		return r.call(http.MethodPost, "/invoices", body)["id"].(string)
	}
	def := create(nil)
	full := create(map[string]any{"fullNotifications": true})
	ext := create(map[string]any{"extendedNotifications": true})

	arrived := func(id, status string, n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			c := 0
			for _, in := range got {
				if in.invoiceID == id && in.status == status {
					c++
				}
			}
			return c >= n
		}
	}
	for _, id := range []string{def, full, ext} {
		r.pay(id)
	}
	waitFor(t, "paid IPNs", func() bool { return arrived(full, "paid", 1)() && arrived(ext, "paid", 1)() })
	r.mine(1)
	waitFor(t, "confirmed IPNs", func() bool {
		return arrived(def, "confirmed", 1)() && arrived(full, "confirmed", 1)() && arrived(ext, "confirmed", 1)()
	})
	r.mine(5)
	waitFor(t, "complete IPNs", func() bool { return arrived(full, "complete", 1)() && arrived(ext, "complete", 1)() })
	if v := r.call(http.MethodPost, "/invoices/"+def+"/notifications", map[string]any{"token": r.merchant}); v["value"] != `"Success"` {
		t.Fatalf("resend answered %v", v)
	}
	waitFor(t, "the resent IPN", arrived(def, "complete", 1))

	// Everything planned and delivered: what arrived is final.
	for _, id := range []string{def, full, ext} {
		waitFor(t, "every event planned and delivered", func() bool {
			evs, err := r.db.Outbox(context.Background(), id)
			if err != nil {
				return false
			}
			for _, ev := range evs {
				if ev.DeliveredAt.IsZero() {
					return false
				}
			}
			for _, d := range r.ipnDeliveries(id) {
				if d.State != store.DeliveryDelivered {
					return false
				}
			}
			return true
		})
	}
	want := map[string][]string{
		def:  {"0 confirmed", "0 complete"},
		full: {"0 paid", "0 confirmed", "0 complete"},
		ext:  {"1003 paid", "1005 confirmed", "1006 complete"},
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		var seq []string
		for _, c := range got {
			if c.invoiceID == id {
				seq = append(seq, fmt.Sprintf("%d %s", c.code, c.status))
			}
		}
		if strings.Join(seq, ", ") != strings.Join(w, ", ") {
			t.Errorf("invoice %s IPNs: %v, want %v", id, seq, w)
		}
		if ds := r.ipnDeliveries(id); len(ds) != len(w) {
			t.Errorf("invoice %s: %d deliveries for %d IPNs", id, len(ds), len(w))
		}
	}
	if rs := r.ipnDeliveries(def); invoice.Code(rs[len(rs)-1].Code) != invoice.CodeManuallyNotified {
		t.Errorf("the resend was delivered as event %d", rs[len(rs)-1].Code)
	}
	for _, c := range got {
		if c.err != nil {
			t.Fatalf("GET after the IPN: %v", c.err)
		}
		buyerGot, _ := c.get["buyer"].(map[string]any)
		bf, _ := c.data["buyerFields"].(map[string]any)
		if c.get["status"] != c.data["status"] || c.get["amountPaid"] != c.data["amountPaid"] ||
			c.data["amountPaid"] != float64(20000) {
			t.Errorf("IPN %d %s of %s: GET says status %v amountPaid %v, IPN %v %v", c.code, c.status, c.invoiceID,
				c.get["status"], c.get["amountPaid"], c.data["status"], c.data["amountPaid"])
		}
		for ipnKey, getKey := range map[string]string{"buyerName": "name", "buyerEmail": "email", "buyerAddress1": "address1",
			"buyerAddress2": "address2", "buyerCity": "locality", "buyerZip": "postalCode", "buyerCountry": "country"} {
			if bf[ipnKey] == nil || bf[ipnKey] != buyerGot[getKey] {
				t.Errorf("IPN %s.%s = %v, GET buyer.%s = %v", c.invoiceID, ipnKey, bf[ipnKey], getKey, buyerGot[getKey])
			}
		}
		if c.data["url"] != publicURL+"/invoice?id="+c.invoiceID || c.data["orderId"] != "order-1" {
			t.Errorf("IPN url %v orderId %v", c.data["url"], c.data["orderId"])
		}
	}
}
