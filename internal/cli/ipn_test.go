package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestIPNCommands: an IPN fails once and is then delivered; `kassa ipn
// list` shows the delivery and `kassa ipn attempts` both attempts.
func TestIPNCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KASSA_DATA_DIR": dir, "KASSA_NETWORK": "regtest", "KASSA_RATES": "fixed:BTC_USD=50000"}
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 {
		t.Fatalf("store create: %d %s", code, errs)
	}
	storeID := strings.TrimSpace(out)

	var calls atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
		}
	}))
	defer rc.Close()
	out, errs, code = run(t, vars, "invoice", "create", "--store", storeID, "--price", "10", "--notification-url", rc.URL+"/ipn")
	if code != 0 {
		t.Fatalf("invoice create: %d %s", code, errs)
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}

	// A resend, delivered by a notify service on the same database.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "kassa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inv, err := db.GetInvoice(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	note := invoice.Notification{Code: invoice.CodeManuallyNotified, Status: inv.Status, At: time.Now()}
	if err := db.UpdateInvoice(ctx, &inv, []invoice.Notification{note}); err != nil {
		t.Fatal(err)
	}
	svc, err := notify.New(notify.Config{Store: db, PublicURL: "http://127.0.0.1:8430", AllowPrivate: true,
		RetryBase: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(sctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ds, err := db.Deliveries(ctx, created.ID)
		if err == nil && len(ds) == 1 && ds[0].State == store.DeliveryDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPN not delivered: %+v %v", ds, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done

	out, errs, code = run(t, vars, "ipn", "list", "--invoice", created.ID)
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("ipn list: %d %s %s", code, out, errs)
	}
	if len(list) != 1 || list[0]["channel"] != "ipn" || list[0]["state"] != "delivered" || list[0]["attempts"] != float64(2) ||
		list[0]["event"] != "invoice_manuallyNotified" || list[0]["target"] != rc.URL+"/ipn" || list[0]["delivered"] == nil {
		t.Errorf("ipn list: %s", out)
	}
	out, errs, code = run(t, vars, "ipn", "attempts", "--invoice", created.ID)
	var atts []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &atts) != nil {
		t.Fatalf("ipn attempts: %d %s %s", code, out, errs)
	}
	if len(atts) != 2 || atts[0]["status"] != float64(503) || !strings.Contains(atts[0]["error"].(string), "try later") ||
		atts[1]["status"] != float64(200) || atts[1]["error"] != nil || atts[1]["attempt"] != float64(2) || atts[1]["latency"] == "" {
		t.Errorf("ipn attempts: %s", out)
	}

	if _, errs, code := run(t, vars, "ipn", "list"); code != 2 || !strings.Contains(errs, "--invoice") {
		t.Errorf("ipn list without --invoice: %d %s", code, errs)
	}
	if _, errs, code := run(t, vars, "ipn", "list", "--invoice", "nope"); code != 1 || !strings.Contains(errs, "no invoice") {
		t.Errorf("ipn list of a missing invoice: %d %s", code, errs)
	}

	// Signing: on (with a warning while the store has no token), off.
	if _, errs, code := run(t, vars, "ipn", "sign", "--store", storeID); code != 0 || !strings.Contains(errs, "no active merchant or pos token") {
		t.Errorf("ipn sign: %d %s", code, errs)
	}
	if st, _ := db.GetStore(ctx, storeID); !st.SignIPN {
		t.Error("ipn sign did not turn signing on")
	}
	if _, _, code := run(t, vars, "token", "create", "--store", storeID, "--facade", "merchant"); code != 0 {
		t.Fatal("token create failed")
	}
	if _, errs, code := run(t, vars, "ipn", "sign", "--store", storeID); code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("ipn sign with a token: %d %s", code, errs)
	}
	if _, _, code := run(t, vars, "ipn", "sign", "--store", storeID, "--off"); code != 0 {
		t.Error("ipn sign --off failed")
	}
	if st, _ := db.GetStore(ctx, storeID); st.SignIPN {
		t.Error("ipn sign --off did not turn signing off")
	}
}
