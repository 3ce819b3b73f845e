package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/kassatest"
)

// TestOfficialSDK runs the official BitPay Node SDK and the older btcpay
// client (test/sdk, pinned with a lockfile) against this API on loopback:
// compatibility proven by others' code. make tools installs them with npm ci.
func TestOfficialSDK(t *testing.T) {
	dir := sdkDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the official SDK conformance test needs Node.js")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bitpay-sdk")); err != nil {
		t.Fatalf("bitpay-sdk is not installed in %s: run make tools (npm ci)", dir)
	}
	e := newEnv(t)
	now := time.Now().UTC()
	var codes []string
	for range 3 {
		code := auth.Token{Value: auth.NewTokenValue(), StoreID: e.storeID, Facade: auth.FacadeMerchant,
			PairingCode: auth.NewPairingCode(), PairingExpiresAt: now.Add(auth.PairingTTL), CreatedAt: now}
		if err := e.db.CreateToken(context.Background(), code); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code.PairingCode)
	}
	// An invoice paid and complete for the refunds test.
	paid, err := e.gw.CreateInvoice(context.Background(), e.storeID, gateway.NewInvoice{Price: "10", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	kassatest.Pay(t, e.db, paid.ID, 20_000, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "sdk.test.mjs", "btcpay.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KASSA_URL="+e.url, "KASSA_POS_TOKEN="+e.pos,
		"KASSA_PAIRING_CODE="+codes[0], "KASSA_PAIRING_CODE_BTCPAY="+codes[1],
		"KASSA_PAIRING_CODE_REFUNDS="+codes[2], "KASSA_PAID_INVOICE="+paid.ID)
	out, err := cmd.CombinedOutput()
	t.Logf("official SDK:\n%s", out)
	if err != nil {
		t.Fatalf("the official SDK failed against kassa: %v", err)
	}
}

// sdkDir finds test/sdk above the working directory.
func sdkDir(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "test", "sdk")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
