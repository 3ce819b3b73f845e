//go:build node || chaos

package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/store"
)

// plan sizes one chaos run.
type plan struct {
	seed       uint64
	kills      int           // kill -9 of kassa during the payment storm
	reorgs     []int         // depth of each reorganisation
	rbf        int           // RBF replacements of invoice payments in the mempool
	rpcOutage  time.Duration // how long the node's RPC is gone
	ipnFailFor time.Duration // how long the receiver answers 500
	diskFull   bool          // run the disk-full check when a tmpfs can be mounted
	// lazyIPNs lets the checks before the IPN phase skip waiting for every
	// IPN: a kill during a delivery leaves a lease that runs out only after
	// 50 s, which the bounded run spends on the next phases instead. The
	// later checks still require every IPN.
	lazyIPNs bool
	// refunds is how many refunds the refund storm pays (refunds.go); with
	// none there is no refund storm and the reorgs spend no refunds.
	refunds int
	// refundKills is the kill -9 of kassa serve during the refund storm.
	refundKills int
}

// totals are the figures a run prints.
type totals struct {
	payments, kills, reorgs, doubleSpends int
	ipns, losses, duplicates              int
	refusedWrites                         int
	// The refund storm's: refunds created, kill -9 of kassa spend submit
	// (at its fault-injection points and from outside), kills of kassa
	// serve while spends were out and not yet in a block, and refunds paid
	// more than once (or by more than one live spend).
	refunds, submitKills, inFlightKills, doublePayments int
}

// tracked is an invoice the harness created.
type tracked struct {
	id, address string
	script      string // hex output script of address
	due         int64
	token       string // the invoice's resource token
}

type harness struct {
	t    *testing.T
	ctx  context.Context
	plan plan
	rng  *rand.Rand

	bin, addr, dataDir, dbPath, logPath string
	env                                 []string
	a, b                                *regtest.Node
	startHeight                         int64
	storeID, pos                        string
	recv                                *receiver
	recvURL                             string
	merchantPriv                        string // the store's account tprv, for psbtsign

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	gen     int // incarnation of the kassa process, 1 for the first
	tracked []*tracked
	byID    map[string]*tracked
	totals  totals
	refunds []*trackedRefund
	// refunded holds the invoices the harness refunded.
	refunded map[string]bool

	blocks map[chainhash.Hash]*wire.MsgBlock // chain scan cache
}

// seed returns KASSA_CHAOS_SEED, or a fresh seed the test logs so a failing
// run can be replayed.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("KASSA_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KASSA_CHAOS_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

func runChaos(t *testing.T, p plan) {
	if testing.Short() {
		t.Skip("chaos: builds kassa, starts two btcd nodes and kills processes")
	}
	h := &harness{t: t, ctx: context.Background(), plan: p, rng: rand.New(rand.NewPCG(p.seed, p.seed^0x9e3779b97f4a7c15)),
		byID: map[string]*tracked{}, refunded: map[string]bool{}, blocks: map[chainhash.Hash]*wire.MsgBlock{}}
	t.Logf("chaos seed %d", p.seed)
	h.setup()
	defer h.stop()

	wait := !p.lazyIPNs
	h.phaseStorm()
	h.check("storm", false, wait)
	if p.refunds > 0 {
		h.phaseRefunds()
		h.check("refund storm", false, wait)
		h.checkRefunds("refund storm", true)
	}
	for _, depth := range p.reorgs {
		h.phaseReorg(depth)
	}
	h.check("reorgs", false, wait)
	h.checkRefunds("reorgs", false)
	h.phaseRBF()
	h.check("rbf", false, wait)
	h.phaseIPN()
	h.check("ipn faults", false, true)
	h.phaseRPCOutage()
	h.check("rpc outage", false, true)
	if h.plan.diskFull {
		h.phaseDiskFull()
		h.check("disk full", false, true)
	}
	// Six blocks settle everything: every paid invoice must complete.
	h.mine(6)
	h.check("final", true, true)
	h.checkRefunds("final", true)
	tt := h.totals
	t.Logf("chaos totals: payments=%d kills=%d reorgs=%d double-spends=%d ipns=%d losses=%d duplicates-beyond-at-least-once=%d refused-writes(disk full)=%d "+
		"refunds=%d submit-kills=%d kills-with-spends-out=%d double-payments=%d",
		tt.payments, tt.kills, tt.reorgs, tt.doubleSpends, tt.ipns, tt.losses, tt.duplicates, tt.refusedWrites,
		tt.refunds, tt.submitKills, tt.inFlightKills, tt.doublePayments)
	fmt.Printf("CHAOS TOTALS payments=%d kills=%d reorgs=%d double-spends=%d ipns=%d losses=%d duplicates=%d refunds=%d submit-kills=%d double-payments=%d\n",
		tt.payments, tt.kills, tt.reorgs, tt.doubleSpends, tt.ipns, tt.losses, tt.duplicates, tt.refunds, tt.submitKills, tt.doublePayments)
}

// setup builds kassa, starts the two btcd nodes, the receiver and kassa.
func (h *harness) setup() {
	t := h.t
	root, err := regtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	h.bin = filepath.Join(t.TempDir(), "kassa")
	build := exec.Command("go", "build", "-o", h.bin, "./cmd/kassa")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h.a, h.b = regtest.MustStartPair(t, regtest.Options{Mature: true})
	if h.startHeight, err = h.a.BlockCount(h.ctx); err != nil {
		t.Fatal(err)
	}

	h.dataDir = t.TempDir()
	if h.plan.diskFull {
		if os.Geteuid() != 0 {
			t.Log("disk-full check SKIPPED: not running as root, cannot mount a tmpfs")
			h.plan.diskFull = false
		} else if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "kassa-chaos", h.dataDir).Run(); err != nil {
			t.Logf("disk-full check SKIPPED: mount -t tmpfs failed: %v", err)
			h.plan.diskFull = false
		} else {
			dir := h.dataDir
			t.Cleanup(func() {
				if err := exec.Command("umount", dir).Run(); err != nil {
					t.Errorf("umount %s: %v", dir, err)
				}
			})
		}
	}
	if h.plan.refunds > 0 && psbtsign() == "" {
		t.Log("refund storm SKIPPED: no test wallet (set KASSA_PSBTSIGN or run `make tools`)")
		h.plan.refunds = 0
	}
	h.dbPath = filepath.Join(h.dataDir, "kassa.db")
	h.logPath = filepath.Join(t.TempDir(), "serve.log")
	h.addr = freeAddr(t)
	h.env = append(os.Environ(), "KASSA_NETWORK=regtest", "KASSA_DATA_DIR="+h.dataDir, "KASSA_LISTEN="+h.addr,
		"KASSA_CHAIN="+h.a.RPCURL(), "KASSA_RATES=fixed:BTC_USD=50000", "KASSA_IPN_ALLOW_PRIVATE=true",
		"KASSA_CHAIN_POLL=250ms", "KASSA_LOG_FORMAT=text", "KASSA_METRICS_LISTEN=off")

	key, priv, err := merchantKey()
	if err != nil {
		t.Fatal(err)
	}
	h.merchantPriv = priv
	h.storeID = h.cli("store", "create", "--name", "Chaos", "--xpub", key)
	h.pos = h.cli("token", "create", "--store", h.storeID, "--facade", "pos")

	h.recv = &receiver{h: h, arrivals: map[string][]arrival{}}
	srv := httptest.NewServer(h.recv)
	t.Cleanup(func() {
		h.recv.setMode(modeOK)
		srv.Close()
	})
	h.recvURL = srv.URL
	h.startKassa()
	h.waitReady()
}

func (h *harness) cli(args ...string) string {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("kassa %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func (h *harness) startKassa() {
	h.t.Helper()
	f, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "serve")
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	f.Close() // the child holds its own descriptor
	h.mu.Lock()
	h.cmd = cmd
	h.gen++
	h.mu.Unlock()
}

// kill9 kills kassa with SIGKILL and reaps it.
func (h *harness) kill9() {
	h.mu.Lock()
	cmd := h.cmd
	h.cmd = nil
	h.gen++ // arrivals after this are from no process, or the next one
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (h *harness) generation() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

func (h *harness) stop() {
	h.kill9()
	if h.t.Failed() {
		b, _ := os.ReadFile(h.logPath)
		if len(b) > 60000 {
			b = b[len(b)-60000:]
		}
		h.t.Logf("--- kassa log (tail) ---\n%s", b)
	}
}

type ready struct {
	Status string `json:"status"`
	Tip    int32  `json:"tip"`
}

func (h *harness) readyz() (ready, error) {
	var r ready
	resp, err := http.Get("http://" + h.addr + "/readyz")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r)
	return r, err
}

// waitReady waits until kassa answers /readyz with ready.
func (h *harness) waitReady() {
	h.t.Helper()
	h.waitFor(90*time.Second, "kassa ready", func() (bool, string) {
		r, err := h.readyz()
		if err != nil {
			return false, err.Error()
		}
		return r.Status == "ready", r.Status
	})
}

// waitFor polls cond until it holds or the deadline passes, then fails
// with its last explanation.
func (h *harness) waitFor(limit time.Duration, what string, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s not reached within %v: %s", what, limit, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createInvoice creates an invoice over HTTP with the pos token.
func (h *harness) createInvoice(order string) (*tracked, int, string, error) {
	body, _ := json.Marshal(map[string]any{"price": 10, "currency": "USD", "token": h.pos, "orderId": order,
		"notificationURL": h.recvURL, "fullNotifications": true})
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/invoices", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Accept-Version", "2.0.0")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Data struct {
			ID             string           `json:"id"`
			Token          string           `json:"token"`
			BitcoinAddress string           `json:"bitcoinAddress"`
			PaymentTotals  map[string]int64 `json:"paymentTotals"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 || out.Data.ID == "" {
		return nil, resp.StatusCode, string(raw), fmt.Errorf("create invoice: %d %s", resp.StatusCode, raw)
	}
	script, err := scriptOf(out.Data.BitcoinAddress)
	if err != nil {
		return nil, resp.StatusCode, string(raw), err
	}
	inv := &tracked{id: out.Data.ID, address: out.Data.BitcoinAddress, script: script, due: out.Data.PaymentTotals["BTC"],
		token: out.Data.Token}
	h.mu.Lock()
	h.tracked = append(h.tracked, inv)
	h.byID[inv.id] = inv
	h.mu.Unlock()
	return inv, resp.StatusCode, string(raw), nil
}

// mustCreate retries creation while kassa restarts.
func (h *harness) mustCreate(order string) *tracked {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		inv, _, _, err := h.createInvoice(order)
		if err == nil {
			return inv
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("create invoice %s: %v", order, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) pay(inv *tracked, amount int64) chainhash.Hash {
	h.t.Helper()
	txid, err := h.a.Wallet().Pay(h.ctx, inv.address, money.Sats(amount))
	if err != nil {
		h.t.Fatalf("pay %s: %v", inv.id, err)
	}
	h.mu.Lock()
	h.totals.payments++
	h.mu.Unlock()
	return txid
}

func (h *harness) mine(n int) {
	h.t.Helper()
	if _, err := h.a.Mine(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
}

// payRandomly pays inv exactly, in two parts, or too much.
func (h *harness) payRandomly(inv *tracked) {
	switch h.rng.IntN(3) {
	case 0:
		h.pay(inv, inv.due)
	case 1:
		part := inv.due / 3
		h.pay(inv, part)
		h.pay(inv, inv.due-part)
	default:
		h.pay(inv, inv.due+int64(1000+h.rng.IntN(20000)))
	}
}

// phaseStorm creates and pays invoices while a killer kills kassa at
// random instants and restarts it on the same data directory.
func (h *harness) phaseStorm() {
	done, killerErr := h.killer(h.plan.kills, rand.New(rand.NewPCG(h.plan.seed+1, 7)), nil)
	for i := 0; ; i++ {
		select {
		case <-done:
			if err := <-killerErr; err != nil {
				h.t.Fatal(err)
			}
			return
		default:
		}
		inv := h.mustCreate(fmt.Sprintf("storm-%d", i))
		h.payRandomly(inv)
		if h.rng.IntN(3) == 0 {
			h.mine(1)
		}
	}
}

// killer kills kassa serve kills times at random instants, calling
// before (when set) just before each kill, and restarts it on the same
// data directory each time. done closes when it is through; its error (nil
// for none) is then in errc.
func (h *harness) killer(kills int, r *rand.Rand, before func()) (done chan struct{}, errc chan error) {
	done, errc = make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(done)
		for range kills {
			time.Sleep(time.Duration(200+r.IntN(1800)) * time.Millisecond)
			if before != nil {
				before()
			}
			h.kill9()
			h.mu.Lock()
			h.totals.kills++
			h.mu.Unlock()
			if r.IntN(2) == 0 {
				time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond) // down for a while
			}
			f, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				errc <- err
				return
			}
			cmd := exec.Command(h.bin, "serve")
			cmd.Env = h.env
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Start(); err != nil {
				errc <- err
				return
			}
			f.Close()
			h.mu.Lock()
			h.cmd = cmd
			h.gen++
			h.mu.Unlock()
			// Wait until it serves again before the next kill, so every
			// kill hits a running process.
			deadline := time.Now().Add(90 * time.Second)
			for {
				if r, err := h.readyz(); err == nil && r.Status == "ready" {
					break
				}
				if time.Now().After(deadline) {
					errc <- errors.New("kassa not ready 90 s after a restart")
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		errc <- nil
	}()
	return done, errc
}

// phaseReorg pays two invoices (and with a refund storm, two refunds),
// confirms them on a alone, waits for kassa to see them confirmed, then
// lets b's chain win: one payment (and refund) goes back to the mempool,
// the other is double-spent in b's chain.
func (h *harness) phaseReorg(depth int) {
	t := h.t
	back, err := h.a.Wallet().NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	stays := h.mustCreate(fmt.Sprintf("reorg%d-stays", depth))
	spent := h.mustCreate(fmt.Sprintf("reorg%d-doublespent", depth))
	h.pay(stays, stays.due)
	txid := h.pay(spent, spent.due)
	conflict, err := h.a.Wallet().Replacement(h.ctx, txid, back)
	if err != nil {
		t.Fatal(err)
	}
	conflicts := []*wire.MsgTx{conflict}
	var refundStays, refundSpent *trackedRefund
	if h.plan.refunds > 0 {
		refundStays, _ = h.refundOut(fmt.Sprintf("reorg%d-stays", depth), false)
		// A spend FinalDepth blocks deep is final: kassa no longer follows
		// it (as a complete invoice stays complete), so the deepest reorg
		// double-spends no refund.
		if depth < spend.FinalDepth {
			var other *wire.MsgTx
			refundSpent, other = h.refundOut(fmt.Sprintf("reorg%d-doublespent", depth), true)
			conflicts = append(conflicts, other)
		}
	}
	if err := h.a.Disconnect(h.ctx, h.b); err != nil {
		t.Fatal(err)
	}
	h.mine(depth)
	tip, _ := h.a.BlockCount(h.ctx)
	h.waitTip(tip)
	h.waitStatus(stays, invoice.StatusConfirmed, invoice.StatusComplete)
	h.waitStatus(spent, invoice.StatusConfirmed, invoice.StatusComplete)
	for _, r := range []*trackedRefund{refundStays, refundSpent} {
		if r != nil {
			h.waitRefund(r, refund.StatusSuccess)
		}
	}
	if _, err := h.b.MineBlock(h.ctx, conflicts...); err != nil {
		t.Fatal(err)
	}
	if _, err := regtest.Overtake(h.ctx, h.a, h.b); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.totals.reorgs++
	h.totals.doubleSpends++
	h.mu.Unlock()
	tip, _ = h.a.BlockCount(h.ctx)
	h.waitTip(tip)
	// kassa must take the double-spent payment away and un-confirm the
	// other, each with its event.
	h.waitEvent(spent, invoice.CodePaymentReversed)
	if depth < 6 {
		h.waitEvent(stays, invoice.CodeConfirmationsLost)
	}
	t.Logf("reorg of depth %d: %s went back to the mempool, %s was double-spent", depth, stays.id, spent.id)
	if refundSpent != nil {
		// The refund whose coins went elsewhere fails; the other is paid
		// again by the same transaction once it is mined.
		h.waitRefund(refundSpent, refund.StatusFailure)
		t.Logf("reorg of depth %d: refund %s went back to the mempool, refund %s was double-spent", depth, refundStays.id, refundSpent.id)
	} else if refundStays != nil {
		t.Logf("reorg of depth %d: refund %s went back to the mempool", depth, refundStays.id)
	}
}

// phaseRBF replaces an invoice's payment in the mempool by one paying the
// wallet.
func (h *harness) phaseRBF() {
	for i := range h.plan.rbf {
		inv := h.mustCreate(fmt.Sprintf("rbf-%d", i))
		txid := h.pay(inv, inv.due)
		h.waitStatus(inv, invoice.StatusPaid)
		back, err := h.a.Wallet().NewAddress()
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.a.Wallet().Replace(h.ctx, txid, back); err != nil {
			h.t.Fatal(err)
		}
		h.mu.Lock()
		h.totals.doubleSpends++
		h.mu.Unlock()
		h.waitEvent(inv, invoice.CodePaymentReversed)
	}
}

// phaseIPN makes the receiver fail, then hang, then recover, while
// invoices are paid.
func (h *harness) phaseIPN() {
	t := h.t
	h.recv.setMode(modeFail)
	before := h.recv.count(modeFail)
	inv := h.mustCreate("ipn-fail")
	h.pay(inv, inv.due)
	h.waitFor(60*time.Second, "the receiver failing an IPN", func() (bool, string) {
		return h.recv.count(modeFail) > before, "no IPN arrived"
	})
	time.Sleep(h.plan.ipnFailFor) // the fault lasts this long; not an assertion
	h.recv.setMode(modeHang)
	hung := h.recv.count(modeHang)
	inv = h.mustCreate("ipn-hang")
	h.pay(inv, inv.due)
	h.waitFor(60*time.Second, "an IPN to hang", func() (bool, string) {
		return h.recv.count(modeHang) > hung, "no IPN arrived"
	})
	// kassa gives up on the hung request after its timeout; the receiver
	// recovers once kassa has given up on at least one.
	h.waitFor(60*time.Second, "kassa to abandon a hung IPN", func() (bool, string) {
		return h.recv.abandoned() > 0, "still hanging"
	})
	h.recv.setMode(modeOK)
	h.mine(1)
	t.Logf("receiver answered %d IPNs with 500 and held %d until kassa gave up", h.recv.count(modeFail), h.recv.abandoned())
}

// phaseRPCOutage kills btcd (its data directory stays), keeps kassa
// running and creating invoices, then restarts btcd.
func (h *harness) phaseRPCOutage() {
	t := h.t
	inv := h.mustCreate("outage-before")
	h.pay(inv, inv.due)
	h.mine(1)
	tip, _ := h.a.BlockCount(h.ctx)
	h.waitTip(tip)
	if err := h.a.Kill(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var during []*tracked
	for i := 0; time.Since(t0) < h.plan.rpcOutage; i++ {
		if inv, code, body, err := h.createInvoice(fmt.Sprintf("outage-%d", i)); err == nil {
			during = append(during, inv)
		} else if i == 0 {
			t.Logf("invoice creation while the node is down: %d %s", code, strings.TrimSpace(body))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := h.a.Restart(h.ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Connect(h.ctx, h.b); err != nil {
		t.Fatal(err)
	}
	if err := regtest.WaitSynced(h.ctx, h.a, h.b); err != nil {
		t.Fatal(err)
	}
	t.Logf("node RPC down for %v; kassa created %d invoices meanwhile", time.Since(t0).Round(time.Millisecond), len(during))
	if len(during) == 0 {
		during = append(during, h.mustCreate("outage-after"))
	}
	for _, inv := range during {
		h.payRandomly(inv)
	}
	h.mine(1)
}

// phaseDiskFull fills the tmpfs under kassa's data directory while
// invoices are created and paid, then frees it.
func (h *harness) phaseDiskFull() {
	t := h.t
	waiting := h.mustCreate("disk-paid-while-full")
	// An empty WAL makes the next commit need new space: checkpoint and
	// truncate it, so the full disk bites at once.
	db := h.rawDB()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Logf("disk full: wal_checkpoint: %v", err)
	}
	db.Close()
	logStart := h.logSize()
	filler := filepath.Join(h.dataDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<16)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC
		}
	}
	_ = f.Sync()
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Close()
	h.pay(waiting, waiting.due)
	h.mine(1)
	var acked []*tracked
	var refusals []string
	// Up to 10 creations, stopping after 3 refusals: a refusal may take
	// as long as the client's 30 s timeout when kassa's writer is stuck.
	for i := 0; i < 10 && len(refusals) < 3; i++ {
		asked := time.Now()
		inv, code, body, err := h.createInvoice(fmt.Sprintf("disk-full-%d", i))
		if err != nil && code == 0 {
			body = fmt.Sprintf("no answer after %v: %v", time.Since(asked).Round(time.Millisecond), err)
		}
		if err == nil {
			acked = append(acked, inv)
			continue
		}
		if code == http.StatusTooManyRequests {
			i-- // the pos token's rate limit, not the disk
			time.Sleep(time.Second)
			continue
		}
		h.mu.Lock()
		h.totals.refusedWrites++
		h.mu.Unlock()
		if code == 200 || (code != 0 && code < 500) {
			t.Errorf("disk full: invoice creation answered %d %s; want a 5xx refusal", code, body)
		}
		refusals = append(refusals, fmt.Sprintf("%d %s", code, strings.TrimSpace(body)))
	}
	if len(refusals) == 0 {
		t.Errorf("disk full: kassa accepted all 10 invoice creations; a full disk must refuse writes")
	} else {
		t.Logf("disk full: %d creations acknowledged, %d refused, first: %s", len(acked), len(refusals), refusals[0])
	}
	// The operator must be told why: kassa's log names the full disk.
	if b, err := os.ReadFile(h.logPath); err == nil && len(refusals) > 0 {
		since := string(b[min(logStart, int64(len(b))):])
		if !strings.Contains(since, "disk is full") && !strings.Contains(since, "no space left") {
			t.Errorf("disk full: %d writes refused but kassa's log never says the disk is full", len(refusals))
		} else {
			for _, line := range strings.Split(since, "\n") {
				if strings.Contains(line, "disk is full") || strings.Contains(line, "no space left") {
					t.Logf("disk full: kassa logged: %.300s", line)
					break
				}
			}
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	alive := h.cmd != nil && h.cmd.ProcessState == nil
	h.mu.Unlock()
	if r, err := h.readyz(); err != nil || !alive {
		t.Logf("disk full: kassa stopped (%v); restarting it on the same data directory", err)
		h.kill9()
		h.startKassa()
	} else {
		t.Logf("disk full: kassa stayed up (readyz %s)", r.Status)
	}
	h.waitReady()
	// Acknowledged invoices survive; new writes work again.
	for _, inv := range acked {
		h.pay(inv, inv.due)
	}
	inv := h.mustCreate("disk-after")
	h.pay(inv, inv.due)
	h.mine(1)
	h.integrity()
}

func (h *harness) logSize() int64 {
	fi, err := os.Stat(h.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// integrity runs SQLite's integrity check on kassa's database.
func (h *harness) integrity() {
	db := h.rawDB()
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		h.t.Fatal(err)
	}
	if res != "ok" {
		h.t.Fatalf("integrity_check after disk full: %s", res)
	}
}

func (h *harness) rawDB() *sql.DB {
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		h.t.Fatal(err)
	}
	return db
}

// waitTip waits until kassa has processed the chain up to height.
func (h *harness) waitTip(height int64) {
	h.t.Helper()
	h.waitFor(90*time.Second, fmt.Sprintf("kassa at height %d", height), func() (bool, string) {
		r, err := h.readyz()
		if err != nil {
			return false, err.Error()
		}
		return int64(r.Tip) >= height, fmt.Sprintf("tip %d", r.Tip)
	})
}

func (h *harness) openStore() *store.DB {
	db, err := store.Open(h.ctx, h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	return db
}

func (h *harness) waitStatus(inv *tracked, want ...invoice.Status) {
	h.t.Helper()
	db := h.openStore()
	defer db.Close()
	h.waitFor(90*time.Second, fmt.Sprintf("invoice %s %v", inv.id, want), func() (bool, string) {
		got, err := db.GetInvoice(h.ctx, inv.id)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(want, got.Status), string(got.Status)
	})
}

func (h *harness) waitEvent(inv *tracked, code invoice.Code) {
	h.t.Helper()
	db := h.rawDB()
	defer db.Close()
	h.waitFor(90*time.Second, fmt.Sprintf("event %s on invoice %s", code.Name(), inv.id), func() (bool, string) {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE subject_id = ? AND code = ?`, inv.id, int(code)).Scan(&n); err != nil {
			return false, err.Error()
		}
		return n > 0, "not emitted"
	})
}

// chainOutput is one output the chain holds for an invoice address.
type chainOutput struct {
	amount int64
	height int32 // 0 in the mempool
}

// chainView scans node a's best chain since the start and its mempool for
// the outputs paying each invoice's address and each refund's, keyed by
// invoice or refund id.
func (h *harness) chainView() (map[string]map[string]chainOutput, int32, error) {
	client, err := h.a.Client()
	if err != nil {
		return nil, 0, err
	}
	h.mu.Lock()
	scripts := make(map[string]string, len(h.tracked))
	for _, inv := range h.tracked {
		scripts[inv.script] = inv.id
	}
	for _, r := range h.refunds {
		scripts[r.script] = r.id // refund ids never collide with invoice ids
	}
	h.mu.Unlock()
	view := map[string]map[string]chainOutput{}
	add := func(tx *wire.MsgTx, height int32) {
		txid := tx.TxHash().String()
		for vout, out := range tx.TxOut {
			id, ok := scripts[hex.EncodeToString(out.PkScript)]
			if !ok {
				continue
			}
			if view[id] == nil {
				view[id] = map[string]chainOutput{}
			}
			view[id][fmt.Sprintf("%s:%d", txid, vout)] = chainOutput{amount: out.Value, height: height}
		}
	}
	tip, err := client.GetBlockCount()
	if err != nil {
		return nil, 0, err
	}
	for height := h.startHeight + 1; height <= tip; height++ {
		hash, err := client.GetBlockHash(height)
		if err != nil {
			return nil, 0, err
		}
		block, ok := h.blocks[*hash]
		if !ok {
			if block, err = client.GetBlock(hash); err != nil {
				return nil, 0, err
			}
			h.blocks[*hash] = block
		}
		for _, tx := range block.Transactions {
			add(tx, int32(height))
		}
	}
	pool, err := client.GetRawMempool()
	if err != nil {
		return nil, 0, err
	}
	for _, txid := range pool {
		tx, err := client.GetRawTransaction(txid)
		if err != nil {
			continue // left the mempool meanwhile; the next round sees it
		}
		add(tx.MsgTx(), 0)
	}
	if now, err := client.GetBlockCount(); err != nil || now != tip {
		return nil, 0, fmt.Errorf("chain moved during the scan")
	}
	return view, int32(tip), nil
}

// check waits until kassa's view equals the chain's and every planned IPN
// arrived, then checks the events. final also requires every paid invoice
// to be complete and every double-spent one invalid.
func (h *harness) check(phase string, final, ipns bool) {
	t := h.t
	t.Helper()
	db := h.openStore()
	defer db.Close()
	raw := h.rawDB()
	defer raw.Close()
	var last string
	start := time.Now()
	deadline := start.Add(150 * time.Second)
	for {
		last = h.compare(db, final)
		if last == "" && ipns {
			last = h.ipnsDone(raw)
		}
		if last == "" {
			break
		}
		if time.Now().After(deadline) {
			h.mu.Lock()
			h.totals.losses++
			h.mu.Unlock()
			t.Fatalf("checker after %s: %s", phase, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.checkEvents(db, raw, phase)
	h.checkIPNs(raw, phase, ipns)
	t.Logf("checker after %s (converged in %v): %d invoices agree with the chain; totals %+v",
		phase, time.Since(start).Round(time.Millisecond), len(h.tracked), h.totals)
}

// compare returns "" when every invoice in kassa agrees with the chain,
// else the first disagreement.
func (h *harness) compare(db *store.DB, final bool) string {
	view, tip, err := h.chainView()
	if err != nil {
		return "chain scan: " + err.Error()
	}
	if r, err := h.readyz(); err != nil || r.Tip != tip {
		return fmt.Sprintf("kassa tip %d, chain tip %d (%v)", r.Tip, tip, err)
	}
	invs, err := db.ListInvoices(h.ctx, h.storeID, 1_000_000)
	if err != nil {
		return err.Error()
	}
	h.mu.Lock()
	known := len(h.byID)
	h.mu.Unlock()
	seen := 0
	for _, inv := range invs {
		h.mu.Lock()
		tr := h.byID[inv.ID]
		h.mu.Unlock()
		if tr == nil {
			// Created but its answer lost in a kill: it must hold nothing.
			if len(inv.Payments) != 0 {
				return fmt.Sprintf("invoice %s the harness never saw has payments", inv.ID)
			}
			continue
		}
		seen++
		live := map[string]invoice.Payment{}
		for _, p := range inv.Payments {
			if p.Removed {
				continue
			}
			key := fmt.Sprintf("%s:%d", p.TxID, p.Vout)
			if _, dup := live[key]; dup {
				return fmt.Sprintf("invoice %s counts %s twice", inv.ID, key)
			}
			live[key] = p
		}
		chain := view[inv.ID]
		var chainSum int64
		for key, out := range chain {
			chainSum += out.amount
			p, ok := live[key]
			if !ok {
				return fmt.Sprintf("invoice %s (%s) misses chain output %s of %d sats", inv.ID, inv.Status, key, out.amount)
			}
			if int64(p.Amount) != out.amount || p.Height != out.height {
				return fmt.Sprintf("invoice %s output %s: kassa %d sats at height %d, chain %d at %d", inv.ID, key, p.Amount, p.Height, out.amount, out.height)
			}
		}
		for key := range live {
			if _, ok := chain[key]; !ok {
				return fmt.Sprintf("invoice %s counts %s, which the chain no longer holds", inv.ID, key)
			}
		}
		if int64(inv.Received()) != chainSum {
			return fmt.Sprintf("invoice %s: amountPaid %d, chain %d", inv.ID, inv.Received(), chainSum)
		}
		if !final {
			continue
		}
		settled := len(chain) > 0
		for _, out := range chain {
			if out.height == 0 || tip-out.height+1 < invoice.DefaultCompleteConfirmations {
				settled = false
			}
		}
		reversed := slices.ContainsFunc(inv.Payments, func(p invoice.Payment) bool { return p.Removed })
		switch {
		case settled && chainSum >= tr.due && !reversed && inv.Status != invoice.StatusComplete:
			return fmt.Sprintf("invoice %s: paid %d of %d, %d+ confirmations, status %s, want complete", inv.ID, chainSum, tr.due, invoice.DefaultCompleteConfirmations, inv.Status)
		case chainSum == 0 && reversed && inv.Status != invoice.StatusInvalid && inv.Status != invoice.StatusComplete:
			// Complete is final (a payment double-spent after 6
			// confirmations leaves it complete, with its event).
			return fmt.Sprintf("invoice %s: payment double-spent away, status %s, want invalid", inv.ID, inv.Status)
		}
	}
	if seen != known {
		return fmt.Sprintf("kassa lists %d of the %d invoices it acknowledged", seen, known)
	}
	return ""
}

// checkEvents checks that every rollback kassa recorded emitted its event.
func (h *harness) checkEvents(db *store.DB, raw *sql.DB, phase string) {
	invs, err := db.ListInvoices(h.ctx, h.storeID, 1_000_000)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, inv := range invs {
		removed := 0
		for _, p := range inv.Payments {
			if p.Removed {
				removed++
			}
		}
		if removed == 0 {
			continue
		}
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM outbox WHERE subject_id = ? AND code = ?`, inv.ID, int(invoice.CodePaymentReversed)).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		if n < 1 {
			h.t.Errorf("after %s: invoice %s has %d removed payments and no %s event", phase, inv.ID, removed, invoice.CodePaymentReversed.Name())
		}
	}
}

// ipnsDone returns "" when every planned IPN was delivered.
func (h *harness) ipnsDone(raw *sql.DB) string {
	var pending, unplanned int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE channel = 'ipn' AND state <> 'delivered'`).Scan(&pending); err != nil {
		return err.Error()
	}
	if err := raw.QueryRow(`SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL`).Scan(&unplanned); err != nil {
		return err.Error()
	}
	if pending+unplanned > 0 {
		return fmt.Sprintf("%d IPNs pending, %d events not planned", pending, unplanned)
	}
	return ""
}

// checkIPNs compares the planned deliveries with the receiver's log.
func (h *harness) checkIPNs(raw *sql.DB, phase string, complete bool) {
	q := `SELECT event_id FROM deliveries WHERE channel = 'ipn'`
	if !complete {
		q += ` AND state = 'delivered'`
	}
	rows, err := raw.Query(q)
	if err != nil {
		h.t.Fatal(err)
	}
	var events []string
	for rows.Next() {
		var ev string
		if err := rows.Scan(&ev); err != nil {
			h.t.Fatal(err)
		}
		events = append(events, ev)
	}
	rows.Close()
	h.recv.mu.Lock()
	defer h.recv.mu.Unlock()
	lost, dups := 0, 0
	for _, ev := range events {
		got := h.recv.arrivals[ev]
		if len(got) == 0 {
			lost++
			h.t.Errorf("after %s: IPN of event %s was planned and delivered per kassa but never arrived", phase, ev)
			continue
		}
		for i := 1; i < len(got); i++ {
			if got[i].body != got[0].body {
				h.t.Errorf("after %s: event %s arrived with different bodies", phase, ev)
			}
			// A repeat across a kill is at-least-once; a repeat from the
			// process that already had a 200 is one too many.
			if got[i].gen == got[i-1].gen {
				dups++
				h.t.Errorf("after %s: event %s delivered twice by the same kassa process", phase, ev)
			}
		}
	}
	if complete && len(h.recv.arrivals) > len(events) {
		h.t.Errorf("after %s: receiver got %d event ids, kassa planned %d", phase, len(h.recv.arrivals), len(events))
	}
	h.mu.Lock()
	h.totals.ipns, h.totals.duplicates = len(events), dups
	h.totals.losses += lost
	h.mu.Unlock()
}

type mode int

const (
	modeOK mode = iota
	modeFail
	modeHang
)

type arrival struct {
	body string
	gen  int
}

// receiver is the merchant's IPN endpoint; it records every IPN it
// answered 200, keyed by event id.
type receiver struct {
	h        *harness
	mu       sync.Mutex
	mode     mode
	counts   map[mode]int
	gaveUp   int
	release  chan struct{}
	arrivals map[string][]arrival
}

func (r *receiver) setMode(m mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == modeHang && r.release != nil {
		close(r.release)
		r.release = nil
	}
	if m == modeHang {
		r.release = make(chan struct{})
	}
	r.mode = m
}

func (r *receiver) count(m mode) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[m]
}

func (r *receiver) abandoned() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaveUp
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return // the sender died mid-request: not a delivery
	}
	r.mu.Lock()
	if r.counts == nil {
		r.counts = map[mode]int{}
	}
	m, release := r.mode, r.release
	r.counts[m]++
	r.mu.Unlock()
	switch m {
	case modeFail:
		http.Error(w, "merchant down", http.StatusInternalServerError)
		return
	case modeHang:
		select {
		case <-req.Context().Done():
			r.mu.Lock()
			r.gaveUp++
			r.mu.Unlock()
			return
		case <-release:
			http.Error(w, "merchant was hanging", http.StatusServiceUnavailable)
			return
		}
	}
	gen := r.h.generation()
	r.mu.Lock()
	ev := req.Header.Get("X-Kassa-Event-Id")
	r.arrivals[ev] = append(r.arrivals[ev], arrival{body: string(body), gen: gen})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func scriptOf(addr string) (string, error) {
	a, err := address.DecodeAddress(addr, &chaincfg.RegressionNetParams)
	if err != nil {
		return "", fmt.Errorf("decode %s: %w", addr, err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s), nil
}

// merchantKey is the chaos merchant's regtest descriptor (BIP84 account
// 0 of a fixed seed, as `kassa demo` derives its own) and the account's
// tprv, which the merchant's wallet (psbtsign) signs the refunds with.
func merchantKey() (descriptor, tprv string, err error) {
	seed := sha256.Sum256([]byte("kassa chaos merchant wallet"))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		return "", "", err
	}
	for _, i := range []uint32{84, 1, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return "", "", err
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		return "", "", err
	}
	return "wpkh(" + pub.String() + "/0/*)", k.String(), nil
}
