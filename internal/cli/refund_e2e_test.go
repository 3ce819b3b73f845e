//go:build node

package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/regtest"
)

// TestRefundEndToEnd is a refund as a merchant and a buyer live it, on one
// kassa serve with a real btcd regtest node, SQLite, an SMTP server and an
// IPN receiver on loopback: an invoice (extended notifications, the
// buyer's email) is paid and completed on the node; the official BitPay
// Node SDK (test/sdk/refund-create.mjs) creates a refund of it without an
// address; the buyer's mail is caught, its link opened in Chromium
// (test/sdk/refund.test.mjs), where the buyer gives an address; the
// merchant exports the PSBT (kassa spend list, spend psbt), their wallet
// (test/psbtsign, independent of kassa's builder) signs it, kassa spend
// submit sends it and a block confirms it. The refund is then success, the
// receiver has had refund_success and the invoice's IPN 1016, and the
// invoice shows the refund in refundInfo and refundAddresses.
func TestRefundEndToEnd(t *testing.T) {
	root, sdk, nodeBin := browserTools(t, "bitpay-sdk")
	if os.Getenv("KASSA_PSBTSIGN") == "" {
		t.Skip("KASSA_PSBTSIGN is not set: run `make tools` and `make test`, or set it to .tools/bin/psbtsign")
	}
	const name = "refund end to end"
	ctx := context.Background()
	node := regtest.MustStart(t, regtest.Options{Mature: true})

	in, smtpURL := startInbox(t)
	vars := newVars(t, node.RPCURL())
	base := "http://" + vars["KASSA_LISTEN"]
	vars["KASSA_PUBLIC_URL"] = base
	vars["KASSA_IPN_ALLOW_PRIVATE"] = "true"
	vars["KASSA_SMTP_URL"] = smtpURL
	out, errs, code := run(t, vars, "store", "create", "--name", "Browser Refund Shop", "--xpub", kassatest.Key(t, name))
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)
	out, errs, code = run(t, vars, "token", "create", "--store", storeID, "--facade", "merchant")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	merchant := strings.TrimSpace(out)
	pairing, errs, code := run(t, vars, "pairing", "create", "--store", storeID, "--facade", "merchant")
	if code != 0 {
		t.Fatalf("pairing create: %s", errs)
	}
	s := startServe(t, vars)
	waitFor(t, "ready", func() bool { code, _ := readyz(t, s.addr); return code == 200 })
	r := &paymentRig{t: t, node: node, url: base, db: openTestDB(t, vars), merchant: merchant}

	// The receiver keeps every extended body: the invoice's IPNs and the
	// refund webhooks go to the invoice's notificationURL.
	type hook struct {
		code int
		name string
		data map[string]any
	}
	var mu sync.Mutex
	var hooks []hook
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Event struct {
				Code int    `json:"code"`
				Name string `json:"name"`
			} `json:"event"`
			Data map[string]any `json:"data"`
		}
		_ = json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body)
		mu.Lock()
		hooks = append(hooks, hook{body.Event.Code, body.Event.Name, body.Data})
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	received := func(code int, name string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, h := range hooks {
				if h.code == code && h.name == name {
					return true
				}
			}
			return false
		}
	}

	// Paid and completed on the node.
	invID := r.call(http.MethodPost, "/invoices", map[string]any{"token": merchant, "price": 10, "currency": "USD",
		"notificationURL": rc.URL + "/ipn", "extendedNotifications": true,
		"buyer": map[string]any{"email": "jo@buyer.example"}})["id"].(string)
	r.pay(invID)
	waitFor(t, "paid", received(1003, "invoice_paidInFull"))
	r.mine(6)
	waitFor(t, "complete", received(1006, "invoice_completed"))

	// The refund, through the official SDK, without an address.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, nodeBin, "refund-create.mjs")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "KASSA_URL="+base, "KASSA_PAIRING_CODE="+strings.TrimSpace(pairing),
		"KASSA_INVOICE="+invID, "REFUND_AMOUNT=5")
	cmd.Stderr = os.Stderr
	created, err := cmd.Output()
	if err != nil {
		t.Fatalf("the SDK's createRefund: %v\n%s", err, created)
	}
	var ref struct{ ID, Status string }
	if err := json.Unmarshal(created, &ref); err != nil || ref.ID == "" {
		t.Fatalf("the SDK script printed %q: %v", created, err)
	}

	// The buyer's mail, its link opened in Chromium, an address given.
	var link string
	waitFor(t, "the buyer's mail", func() bool {
		for _, m := range in.mails("jo@buyer.example") {
			if l := refundLink(t, m, base); l != "" {
				link = l
			}
		}
		return link != ""
	})
	buyer, err := node.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := r.db.GetInvoice(ctx, invID)
	if err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(root, "artifacts")
	cmd = exec.CommandContext(sctx, nodeBin, "--test", "--test-reporter=spec", "refund.test.mjs")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "REFUND_LINK="+link, "REFUND_ADDRESS="+buyer,
		"STORE_ADDRESS="+inv.Method(invoice.MethodBTC).Destination, "CHROMIUM="+chromium, "ARTIFACTS="+artifacts)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the refund page failed in the browser (screenshots in %s): %v\n%s", artifacts, err, out)
	}

	// The merchant's side: the spend kassa made for the refund, its PSBT,
	// signed by the wallet, submitted, mined.
	var spend struct {
		ID, Kind, Status string
		Outputs          []struct {
			Address string
			Amount  int64
		}
	}
	waitFor(t, "the refund's spend", func() bool {
		out, errs, code := run(t, vars, "spend", "list", "--store", storeID)
		if code != 0 {
			t.Fatalf("spend list: %d %s", code, errs)
		}
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("spend list: %v\n%s", err, out)
		}
		return len(list) == 1 && json.Unmarshal(list[0], &spend) == nil
	})
	if spend.Kind != "refund" || spend.Status != "unsigned" || len(spend.Outputs) < 1 || spend.Outputs[0].Address != buyer ||
		spend.Outputs[0].Amount != 10_000 {
		t.Fatalf("the refund's spend: %+v", spend)
	}
	psbt, errs, code := run(t, vars, "spend", "psbt", spend.ID)
	if code != 0 {
		t.Fatalf("spend psbt: %d %s", code, errs)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(psbt))
	if err != nil {
		t.Fatalf("spend psbt must print base64: %v", err)
	}
	signed := kassatest.SignPSBT(t, name, raw)
	withStdin(t, string(signed), func() {
		if out, errs, code := run(t, vars, "spend", "submit", spend.ID); code != 0 {
			t.Fatalf("spend submit: %d %s %s", code, out, errs)
		}
	})
	waitFor(t, "refund_pending", received(5002, "refund_pending"))
	r.mine(1)

	waitFor(t, "the refund's success", func() bool {
		return r.call(http.MethodGet, "/refunds/"+ref.ID+"?token="+merchant, nil)["status"] == "success"
	})
	waitFor(t, "refund_success", received(5003, "refund_success"))
	waitFor(t, "the invoice's IPN 1016", received(1016, "invoice_refundComplete"))
	mu.Lock()
	for _, h := range hooks {
		if h.code == 5003 && h.data["id"] != ref.ID {
			t.Errorf("refund_success names refund %v, want %s", h.data["id"], ref.ID)
		}
		if h.code == 1016 && h.data["id"] != invID {
			t.Errorf("IPN 1016 names invoice %v, want %s", h.data["id"], invID)
		}
	}
	mu.Unlock()

	// The invoice as the merchant reads it.
	got, err := r.getInvoice(invID)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := got["refundInfo"].(map[string]any)
	amounts, _ := info["amounts"].(map[string]any)
	addrs, _ := got["refundAddresses"].([]any)
	if info["supportRequest"] != ref.ID || info["currency"] != "USD" || amounts["USD"] != float64(5) || amounts["BTC"] != 0.0001 {
		t.Errorf("refundInfo: %v", got["refundInfo"])
	}
	if len(addrs) != 1 || addrs[0].(map[string]any)[buyer] == nil || got["refundAddressRequestPending"] != false {
		t.Errorf("refundAddresses %v, refundAddressRequestPending %v", got["refundAddresses"], got["refundAddressRequestPending"])
	}
}
