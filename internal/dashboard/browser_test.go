package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/regtest"
)

// chromium is the browser the dashboard test drives (Debian's package).
const chromium = "/usr/bin/chromium"

// TestDashboardInBrowser runs test/sdk/dashboard.test.mjs: a real
// Chromium, driven by playwright-core, against kassa on loopback (SQLite,
// the gateway with fixed rates, the BitPay API, the checkout pages and the
// dashboard, on the wall clock). The script runs the setup wizard with a
// tpub and checks the live address preview against the addresses this
// test derives, turns on 2FA and signs in with a TOTP code it computes,
// creates a bearer pos token and an invoice with it through the official
// SDK, approves a pairing code the SDK requested, and checks that an
// employee cannot reach the tokens. It saves a screenshot of every page
// in artifacts/dashboard/.
func TestDashboardInBrowser(t *testing.T) {
	root, err := regtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(root, "test", "sdk")
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the dashboard browser test needs Node.js")
	}
	for _, need := range []string{filepath.Join(sdk, "node_modules", "playwright-core"), filepath.Join(sdk, "node_modules", "bitpay-sdk"),
		filepath.Join(sdk, "node_modules", "jsqr"), chromium} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run make tools (npm ci) and install chromium", need)
		}
	}
	h := newHarness(t, options{realTime: true, checkout: true, invoicePages: true})
	key := regtestKey(t, "browser wizard")
	artifacts := filepath.Join(root, "artifacts", "dashboard")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "--test-reporter=spec", "--test-concurrency=1", "dashboard.test.mjs")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(), "KASSA_URL="+h.url, "KASSA_TPUB="+key,
		"KASSA_ADDRESSES="+strings.Join(addresses(t, key, 3), ","), "KASSA_MAINNET_XPUB="+mainnetKey(t),
		"CHROMIUM="+chromium, "ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard browser test:\n%s", out)
	if err != nil {
		t.Fatalf("the dashboard failed in the browser (screenshots in %s): %v", artifacts, err)
	}
	// What the browser did is in the database too.
	users, err := h.db.ListUsers(context.Background())
	if err != nil || len(users) != 2 || users[0].TOTPSecret == "" || users[1].Kind != "member" {
		t.Fatalf("accounts after the browser test: %+v, %v", users, err)
	}
}
