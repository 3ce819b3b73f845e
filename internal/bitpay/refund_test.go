package bitpay

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/shopspring/decimal"
)

func testRefunds() []refund.Refund {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := refund.Refund{ID: "Rf1", StoreID: "s", InvoiceID: "Inv1", Token: "rtok", GUID: "g-1", Status: refund.StatusPreview,
		Amount: decimal.RequireFromString("12.50"), Currency: "USD", Rate: decimal.RequireFromString("50000"), Sats: 25_000,
		Immediate: false, Cancellable: true, NotificationURL: "https://shop.example/ipn", RequestedAt: at, UpdatedAt: at}
	pending := base
	pending.Status, pending.Address, pending.TxID, pending.Fee, pending.BuyerPaysFee = refund.StatusPending, "bcrt1qbuyer", "ab12", 1_000, true
	btc := base
	btc.Status, btc.Currency, btc.Amount, btc.Rate, btc.GUID, btc.Reference = refund.StatusSuccess, "BTC",
		decimal.RequireFromString("0.00025"), decimal.NewFromInt(1), "", "order-7"
	btc.Fee, btc.TxID, btc.Address = 500, "cd34", "bcrt1qbuyer"
	return []refund.Refund{base, pending, btc}
}

// TestRenderRefund: the amounts, the fee in both currencies, the dates
// and the token only where asked for.
func TestRenderRefund(t *testing.T) {
	rs := testRefunds()
	j := RenderRefund(&rs[1], true)
	if j.Amount != "12.5" || j.TransactionAmount != "0.00024" || j.TransactionRefundFee != "0.00001" || j.RefundFee != "0.5" ||
		j.RequestDate != "2026-03-01T12:00:00.000Z" || j.Token != "rtok" || j.Status != "pending" || j.Preview ||
		j.TransactionCurrency != "BTC" || j.RefundAddress != "bcrt1qbuyer" || j.TxID != "ab12" || !j.BuyerPaysRefundFee {
		t.Errorf("pending refund: %+v", j)
	}
	if j := RenderRefund(&rs[0], false); j.Token != "" || !j.Preview || j.TransactionAmount != "0.00025" {
		t.Errorf("preview without token: %+v", j)
	}
	if j := RenderRefund(&rs[2], true); j.RefundFee != "0.000005" || j.TransactionAmount != "0.00025" {
		t.Errorf("a BTC refund: %+v", j)
	}
	w := RenderRefundWebhook(&rs[1], refund.CodePending, rs[1].RequestedAt.Add(time.Minute))
	b, _ := json.Marshal(w)
	if !strings.Contains(string(b), `"event":{"code":5002,"name":"refund_pending"}`) || w.Data.Token != "" ||
		w.Data.LastRefundNotification != "2026-03-01T12:01:00.000Z" {
		t.Errorf("webhook: %s", b)
	}
}

// TestRefundMatchesSDKSchema parses every rendered refund with the zod
// schema the official SDK ships for refunds (Refund.zod.js), in Node.
func TestRefundMatchesSDKSchema(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the SDK schema check needs Node.js")
	}
	_, file, _, _ := runtime.Caller(0)
	schema := filepath.Join(filepath.Dir(file), "..", "..", "test", "sdk", "node_modules", "bitpay-sdk", "dist", "Model",
		"Invoice", "Refund.zod.js")
	if _, err := os.Stat(schema); err != nil {
		t.Fatalf("%s is missing: run make tools (npm ci in test/sdk)", schema)
	}
	var docs []RefundJSON
	for _, r := range testRefunds() {
		docs = append(docs, RenderRefund(&r, true), RenderRefund(&r, false))
		docs = append(docs, RenderRefundWebhook(&r, refund.CodeCreated, r.RequestedAt).Data)
	}
	body, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "refunds.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `const {refundInterfaceSchema} = require(process.argv[1]);
const docs = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
for (const d of docs) refundInterfaceSchema.parse(d);
console.log('parsed ' + docs.length);`
	out, err := exec.Command(node, "-e", script, schema, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "parsed 9") {
		t.Fatalf("the SDK's refund schema refuses kassa's refunds: %v\n%s", err, out)
	}
	// The check can fail: a refund without its amount does not parse.
	bad := strings.Replace(string(body), `"amount":12.5,`, ``, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "-e", script, schema, path).CombinedOutput(); err == nil {
		t.Fatalf("a refund without amount passed the schema:\n%s", out)
	}
}
