package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// chainRig is kassa serve's payment path on a real btcd regtest node: the
// fixture's gateway fed by a processor and the node watcher, the BitPay API
// on loopback, and the notify Service.
type chainRig struct {
	*fixture
	node *regtest.Node
	proc *gateway.Processor
	api  *httptest.Server
}

func startNode(tb testing.TB) *regtest.Node {
	tb.Helper()
	node, err := regtest.Start(context.Background(), regtest.Options{Mature: true})
	if err != nil {
		tb.Fatalf("start btcd (run scripts/install-btcd.sh): %v", err)
	}
	tb.Cleanup(func() { _ = node.Stop() })
	return node
}

func newChainRig(tb testing.TB, node *regtest.Node, dbURL string, poll time.Duration) *chainRig {
	tb.Helper()
	r := &chainRig{fixture: newFixture(tb, dbURL, invoice.SpeedMedium), node: node}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	r.proc = gateway.NewProcessor(r.g, gateway.ProcessorConfig{Store: r.db})
	backend, err := chain.Open(ctx, chain.Options{URL: node.RPCURL(), Network: "regtest", Sink: r.proc, PollInterval: poll, Log: r.log})
	if err != nil {
		tb.Fatal(err)
	}
	r.proc.Attach(backend)
	if err := r.proc.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	wg.Go(func() { _ = backend.Run(ctx) })
	wg.Go(func() { _ = r.proc.Run(ctx, poll) })
	a, err := api.New(api.Config{Store: r.db, Invoices: r.g, Rates: r.rs, PublicURL: publicURL, Tip: r.proc.Tip,
		IPNAllowPrivate: true, Log: r.log, InvoiceLimits: func(string) merchant.Limits { return merchant.Limits{} }})
	if err != nil {
		tb.Fatal(err)
	}
	r.api = httptest.NewServer(a)
	tb.Cleanup(r.api.Close)
	return r
}

// call sends a JSON request to the API and decodes its data.
func (r *chainRig) call(method, path string, body any) map[string]any {
	r.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, r.api.URL+path, bytes.NewReader(raw))
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
func (r *chainRig) getInvoice(id string) (map[string]any, error) {
	resp, err := http.Get(r.api.URL + "/invoices/" + id + "?token=" + r.merchant)
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

func (r *chainRig) pay(id string) {
	r.t.Helper()
	inv, err := r.db.GetInvoice(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.node.Wallet().Pay(context.Background(), inv.Address, inv.Due); err != nil {
		r.t.Fatal(err)
	}
}

func (r *chainRig) mine(n int) {
	r.t.Helper()
	if _, err := r.node.Mine(context.Background(), n); err != nil {
		r.t.Fatal(err)
	}
}

// checked is an IPN and what a GET of its invoice said right after.
type checked struct {
	ipn
	data map[string]any // the IPN's invoice fields (data of an extended body)
	get  map[string]any
	err  error
}

// TestPaymentIPNs pays three invoices on the real node, one per
// notification setting, and follows them to complete: each receives the
// IPNs spec §4.3 prescribes, in order, and a GET made on receipt agrees
// with every IPN on status, buyer and amountPaid. A resend (POST
// /invoices/:id/notifications) arrives as event 1012.
func TestPaymentIPNs(t *testing.T) {
	r := newChainRig(t, startNode(t), backends()[0].url(t), 50*time.Millisecond)
	var mu sync.Mutex
	var got []checked
	var rc *receiver
	rc = newReceiver(t, func(w http.ResponseWriter, req *http.Request, n int) {
		in := rc.received("")[n-1]
		var env struct {
			Data map[string]any `json:"data"`
		}
		var data map[string]any
		if in.code != 0 {
			_ = json.Unmarshal(in.body, &env)
			data = env.Data
		} else {
			_ = json.Unmarshal(in.body, &data)
		}
		get, err := r.getInvoice(in.invoiceID)
		mu.Lock()
		got = append(got, checked{ipn: in, data: data, get: get, err: err})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	buyer := map[string]any{"name": "Ada Lovelace", "address1": "12 St James's Sq", "address2": "Flat 3",
		"locality": "London", "postalCode": "SW1Y 4JH", "country": "GB", "email": "ada@example.org", "notify": true}
	create := func(extra map[string]any) string {
		body := map[string]any{"token": r.merchant, "price": 10, "currency": "USD", "transactionSpeed": "medium",
			"notificationURL": rc.url("/ipn"), "buyer": buyer, "orderId": "order-1"}
		for k, v := range extra {
			body[k] = v
		}
		return r.call(http.MethodPost, "/invoices", body)["id"].(string)
	}
	def := create(nil)
	full := create(map[string]any{"fullNotifications": true})
	ext := create(map[string]any{"extendedNotifications": true})
	r.start(nil)

	arrived := func(id, status string, n int) func() bool {
		return func() bool {
			c := 0
			for _, in := range rc.received(id) {
				if in.status == status {
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
			ds := r.deliveries(id, store.ChannelIPN)
			return allIn(len(ds), store.DeliveryDelivered)(ds)
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
		if ds := r.deliveries(id, store.ChannelIPN); len(ds) != len(w) {
			t.Errorf("invoice %s: %d deliveries for %d IPNs", id, len(ds), len(w))
		}
	}
	if rs := r.deliveries(def, store.ChannelIPN); rs[len(rs)-1].Code != invoice.CodeManuallyNotified {
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
