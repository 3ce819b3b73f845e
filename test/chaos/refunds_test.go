//go:build node || chaos

package chaos

// This file is the refund storm (issue 11): refunds of completed invoices
// created over HTTP, paid by a merchant who signs each spend's PSBT with
// the test wallet and submits it with `kassa spend submit`, a process that
// is killed at the engine's fault-injection points (after it records the
// signed spend and before it sends it; after it sends it and before it
// records that it did) and at random instants, while kassa serve, whose
// engine sends recorded spends again and follows them, is killed too. The
// reorgs then take refund transactions out of the chain, one of them
// double-spent. checkRefunds holds every refund to being paid exactly once.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/kassa-pay/kassa/internal/cli"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/spend"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// trackedRefund is a refund the harness created.
type trackedRefund struct {
	id, invoiceID string
	address       string
	script        string // hex output script of address
	sats          int64
	// doubleSpent: the harness spent its transaction's coins in a
	// competing chain that won; it must end failed, paid by nothing.
	doubleSpent bool
	// doublePaid: the checker counted a double payment of it already.
	doublePaid bool
}

// psbtsign returns the test wallet's path: $KASSA_PSBTSIGN, else the
// repository's .tools/bin/psbtsign, else "".
func psbtsign() string {
	if p := os.Getenv("KASSA_PSBTSIGN"); p != "" {
		return p
	}
	if root, err := regtest.RepoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", "psbtsign")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// buyerAddress returns the n-th refund address: a P2WPKH address of a
// key nobody holds, so that only refunds ever pay it.
func buyerAddress(n int) (addr, script string, err error) {
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(n))
	sum := sha256.Sum256(append([]byte("kassa chaos buyer\x00"), idx[:]...))
	a, err := address.NewAddressWitnessPubKeyHash(sum[:20], &chaincfg.RegressionNetParams)
	if err != nil {
		return "", "", err
	}
	addr = a.EncodeAddress()
	script, err = scriptOf(addr)
	return addr, script, err
}

// createRefund asks for a refund of sats of inv to a fresh address in the
// 2014 shape (POST /invoices/:id/refunds with the invoice's token). Its
// guid makes a retry after a lost answer return the same refund.
func (h *harness) createRefund(inv *tracked, sats int64, guid string, n int) (*trackedRefund, error) {
	addr, script, err := buyerAddress(n)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"token": inv.token, "bitcoinAddress": addr, "guid": guid,
		"amount": money.Sats(sats).BTC(), "currency": "BTC"})
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/invoices/"+inv.id+"/refunds", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Data struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 || out.Data.ID == "" {
		return nil, fmt.Errorf("create refund of %s: %d %s", inv.id, resp.StatusCode, raw)
	}
	return &trackedRefund{id: out.Data.ID, invoiceID: inv.id, address: addr, script: script, sats: sats}, nil
}

// mustRefund refunds part of inv, retrying while kassa restarts.
func (h *harness) mustRefund(inv *tracked, label string) *trackedRefund {
	h.t.Helper()
	h.mu.Lock()
	n := len(h.refunds)
	h.refunded[inv.id] = true
	h.mu.Unlock()
	sats := inv.due/4 + int64(h.rng.IntN(int(inv.due/4)))
	deadline := time.Now().Add(90 * time.Second)
	for {
		r, err := h.createRefund(inv, sats, "chaos-"+label, n)
		if err == nil {
			h.mu.Lock()
			h.refunds = append(h.refunds, r)
			h.totals.refunds++
			h.mu.Unlock()
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("refund %s: %v", label, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// refundable returns up to n complete invoices the harness has not
// refunded, none with a reversed payment.
func (h *harness) refundable(n int) []*tracked {
	db := h.openStore()
	defer db.Close()
	invs, err := db.ListInvoices(h.ctx, h.storeID, 1_000_000)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*tracked
	for _, inv := range invs {
		tr := h.byID[inv.ID]
		if tr == nil || h.refunded[inv.ID] || inv.Status != invoice.StatusComplete ||
			slices.ContainsFunc(inv.Payments, func(p invoice.Payment) bool { return p.Removed }) {
			continue
		}
		out = append(out, tr)
		if len(out) == n {
			break
		}
	}
	return out
}

// run runs kassa with extra environment and stdin; it returns what it
// printed and how it ended, without failing the test.
func (h *harness) run(extraEnv []string, stdin string, args ...string) (string, string, *os.ProcessState, error) {
	return h.runAfter(extraEnv, stdin, -1, args...)
}

// runAfter is run that kills the process with SIGKILL after killAfter
// (never when it is negative).
func (h *harness) runAfter(extraEnv []string, stdin string, killAfter time.Duration, args ...string) (string, string, *os.ProcessState, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = append(slices.Clip(h.env), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	if killAfter >= 0 {
		t := time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer t.Stop()
	}
	err := cmd.Wait()
	return strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()), cmd.ProcessState, err
}

// sign signs a PSBT (base64) with the merchant's wallet, psbtsign, and
// returns it finalized (or, with -hex, the raw transaction).
func (h *harness) sign(psbtB64 string, args ...string) (string, error) {
	cmd := exec.Command(psbtsign(), args...)
	cmd.Env = append(os.Environ(), "PSBTSIGN_KEY="+h.merchantPriv)
	cmd.Stdin = strings.NewReader(psbtB64)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("psbtsign: %v: %s", err, errb.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// submitModes are the ways the merchant's kassa spend submit ends, taken
// in turn: killed at each fault-injection point, killed from outside at a
// random instant, or left alone.
var submitModes = []string{spender.FaultRecorded, spender.FaultSent, "random kill", "clean"}

// payOne signs and submits one unsigned spend; mode is one of
// submitModes. It reports whether the submit was killed.
func (h *harness) payOne(id, mode string, r *rand.Rand) (bool, error) {
	unsigned, errs, _, err := h.run(nil, "", "spend", "psbt", id)
	if err != nil {
		return false, fmt.Errorf("spend psbt %s: %v: %s", id, err, errs) // signed meanwhile, or rebuilt: next round
	}
	signed, err := h.sign(unsigned, "-finalize")
	if err != nil {
		return false, err
	}
	var env []string
	killAfter := time.Duration(-1)
	switch mode {
	case spender.FaultRecorded, spender.FaultSent:
		env = []string{cli.FaultKillEnv + "=" + mode}
	case "random kill":
		killAfter = time.Duration(r.IntN(200)) * time.Millisecond
	}
	_, errs, ps, err := h.runAfter(env, signed, killAfter, "spend", "submit", id)
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("spend submit %s (%s): %v: %s", id, mode, err, errs)
	}
	return false, nil
}

// merchant is the merchant at work during the refund storm: every round
// it lists the store's open spends and signs and submits each unsigned
// one, its submits ending in turn as submitModes says, until stop closes.
// It returns how many submits were killed at each fault-injection point.
func (h *harness) merchant(stop <-chan struct{}, r *rand.Rand) map[string]int {
	killed := map[string]int{}
	turn := 0
	for {
		select {
		case <-stop:
			return killed
		default:
		}
		out, errs, _, err := h.run(nil, "", "spend", "list", "--store", h.storeID)
		var list []struct{ ID, Status string }
		if err == nil {
			err = json.Unmarshal([]byte(out), &list)
		}
		if err != nil {
			h.t.Logf("merchant: spend list: %v %s", err, errs)
		}
		for _, s := range list {
			if s.Status != string(spend.StatusUnsigned) {
				continue
			}
			mode := submitModes[turn%len(submitModes)]
			turn++
			dead, err := h.payOne(s.ID, mode, r)
			if err != nil {
				h.t.Logf("merchant: %v", err) // refused or raced: the next round sees the spend as it is now
			}
			if dead {
				killed[mode]++
				h.mu.Lock()
				h.totals.submitKills++
				h.mu.Unlock()
			}
		}
		time.Sleep(time.Duration(100+r.IntN(300)) * time.Millisecond)
	}
}

// spendsOut counts the spends kassa recorded as signed or sent that no
// block holds yet: what kassa serve's engine must send again or follow.
func (h *harness) spendsOut() int {
	db := h.rawDB()
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM spends WHERE status IN ('signed', 'broadcast')`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// phaseRefunds completes the storm's invoices and refunds some of them
// while the merchant signs and submits the spends and kassa serve is
// killed, then mines until every refund is paid.
func (h *harness) phaseRefunds() {
	t := h.t
	began := time.Now()
	h.mine(int(invoice.DefaultCompleteConfirmations))
	tip, _ := h.a.BlockCount(h.ctx)
	h.waitTip(tip)
	invs := h.refundable(h.plan.refunds)
	if len(invs) < h.plan.refunds {
		t.Logf("refund storm: %d complete invoices for %d refunds", len(invs), h.plan.refunds)
	}
	stop := make(chan struct{})
	killedAt := make(chan map[string]int, 1)
	go func() { killedAt <- h.merchant(stop, rand.New(rand.NewPCG(h.plan.seed+2, 11))) }()
	done, killerErr := h.killer(h.plan.refundKills, rand.New(rand.NewPCG(h.plan.seed+3, 13)), func() {
		if h.spendsOut() > 0 {
			h.mu.Lock()
			h.totals.inFlightKills++
			h.mu.Unlock()
		}
	})
	for i, inv := range invs {
		h.mustRefund(inv, fmt.Sprintf("storm-%d", i))
		time.Sleep(time.Duration(h.rng.IntN(500)) * time.Millisecond)
		if i%3 == 2 {
			h.mine(1)
		}
	}
	// Mine while the merchant signs and kassa serve dies and comes back,
	// until the killer is through and every refund is paid.
	db := h.openStore()
	defer db.Close()
	deadline := time.Now().Add(150 * time.Second)
	for {
		time.Sleep(time.Second)
		h.mine(1)
		select {
		case <-done:
		default:
			continue
		}
		unpaid := ""
		for _, r := range h.refunds {
			if got, err := db.GetRefund(h.ctx, r.id); err != nil || got.Status != refund.StatusSuccess {
				unpaid = fmt.Sprintf("refund %s: %s %v", r.id, got.Status, err)
				break
			}
		}
		if unpaid == "" {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			h.mu.Lock()
			h.totals.losses++
			h.mu.Unlock()
			t.Fatalf("refund storm: not every refund paid within 150 s: %s", unpaid)
		}
	}
	close(stop)
	if err := <-killerErr; err != nil {
		t.Fatal(err)
	}
	killed := <-killedAt
	if h.plan.refunds >= len(submitModes) && (killed[spender.FaultRecorded] == 0 || killed[spender.FaultSent] == 0) {
		t.Errorf("refund storm: kassa spend submit killed at its fault-injection points %v; want each at least once", killed)
	}
	tip, _ = h.a.BlockCount(h.ctx)
	h.waitTip(tip)
	t.Logf("refund storm (%v): %d refunds paid; spend submit killed %v; kassa serve killed %d times, %d of them with spends out",
		time.Since(began).Round(time.Millisecond), len(h.refunds), killed, h.plan.refundKills, h.totals.inFlightKills)
}

// refundOut refunds a complete invoice and pays the refund (signed and
// submitted, in node a's mempool, not mined). With conflict it also
// returns a transaction, signed by the merchant's wallet, that spends the
// same coins elsewhere.
func (h *harness) refundOut(label string, conflict bool) (*trackedRefund, *wire.MsgTx) {
	t := h.t
	invs := h.refundable(1)
	if len(invs) == 0 {
		t.Fatalf("refund %s: no complete invoice left to refund", label)
	}
	r := h.mustRefund(invs[0], label)
	db := h.openStore()
	defer db.Close()
	var s spend.Spend
	h.waitFor(60*time.Second, "the spend of refund "+r.id, func() (bool, string) {
		var err error
		s, err = db.OpenSpendOf(h.ctx, spend.KindRefund, r.id)
		return err == nil, fmt.Sprint(err)
	})
	unsigned, errs, _, err := h.run(nil, "", "spend", "psbt", s.ID)
	if err != nil {
		t.Fatalf("spend psbt %s: %v: %s", s.ID, err, errs)
	}
	var other *wire.MsgTx
	if conflict {
		r.doubleSpent = true
		if other, err = h.elsewhere(unsigned); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := h.sign(unsigned, "-finalize")
	if err != nil {
		t.Fatal(err)
	}
	txid, errs, _, err := h.run(nil, signed, "spend", "submit", s.ID)
	if err != nil {
		t.Fatalf("spend submit %s: %v: %s", s.ID, err, errs)
	}
	hash, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatalf("spend submit %s printed %q: %v", s.ID, txid, err)
	}
	h.waitFor(30*time.Second, "refund transaction "+txid+" in the mempool", func() (bool, string) {
		in, err := h.a.InMempool(h.ctx, *hash)
		return in, fmt.Sprint(err)
	})
	return r, other
}

// elsewhere returns a transaction that spends the inputs of an unsigned
// PSBT to an address of nobody's, signed by the merchant's wallet: the
// merchant spending the refund's coins from their own wallet.
func (h *harness) elsewhere(unsigned string) (*wire.MsgTx, error) {
	p, err := psbt.NewFromRawBytes(strings.NewReader(unsigned), true)
	if err != nil {
		return nil, fmt.Errorf("read the refund's PSBT: %w", err)
	}
	var in int64
	for _, pin := range p.Inputs {
		if pin.WitnessUtxo == nil {
			return nil, errors.New("the refund's PSBT has an input without its witness UTXO")
		}
		in += pin.WitnessUtxo.Value
	}
	_, script, err := buyerAddress(1 << 30)
	if err != nil {
		return nil, err
	}
	pk, _ := hex.DecodeString(script)
	p.UnsignedTx.TxOut = []*wire.TxOut{{Value: in - 5_000, PkScript: pk}}
	p.Outputs = []psbt.POutput{{}}
	b64, err := p.B64Encode()
	if err != nil {
		return nil, err
	}
	raw, err := h.sign(b64, "-hex")
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(raw)
	if err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("the conflicting transaction: %w", err)
	}
	return tx, nil
}

// waitRefund waits until kassa has the refund in one of want.
func (h *harness) waitRefund(r *trackedRefund, want ...refund.Status) {
	h.t.Helper()
	db := h.openStore()
	defer db.Close()
	h.waitFor(90*time.Second, fmt.Sprintf("refund %s %v", r.id, want), func() (bool, string) {
		got, err := db.GetRefund(h.ctx, r.id)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(want, got.Status), string(got.Status)
	})
}

// checkRefunds holds every refund to being paid at most once, by at most
// one live spend, at its amount; it fails at once on a double payment.
// settled also waits until each is paid exactly once on the chain, in a
// block, its refund success with one spend in a block carrying that
// transaction (a double-spent one: failure, paid by nothing, no live
// spend); a refund that never gets there is lost.
func (h *harness) checkRefunds(phase string, settled bool) {
	t := h.t
	t.Helper()
	if len(h.refunds) == 0 {
		return
	}
	db := h.openStore()
	defer db.Close()
	start := time.Now()
	deadline := start.Add(150 * time.Second)
	for {
		last := h.compareRefunds(db, settled)
		if last == "" {
			break
		}
		if time.Now().After(deadline) {
			h.mu.Lock()
			h.totals.losses++
			h.mu.Unlock()
			t.Fatalf("refund checker after %s: %s", phase, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("refund checker after %s (converged in %v): %d refunds agree with the chain; %d double payments",
		phase, time.Since(start).Round(time.Millisecond), len(h.refunds), h.totals.doublePayments)
}

// compareRefunds returns "" when every refund agrees with the chain, else
// the first disagreement; double payments are errors on the spot.
func (h *harness) compareRefunds(db *store.DB, settled bool) string {
	view, tip, err := h.chainView()
	if err != nil {
		return "chain scan: " + err.Error()
	}
	if r, err := h.readyz(); err != nil || r.Tip != tip {
		return fmt.Sprintf("kassa tip %d, chain tip %d (%v)", r.Tip, tip, err)
	}
	all, err := db.Spends(h.ctx, h.storeID)
	if err != nil {
		return err.Error()
	}
	live := map[string][]spend.Spend{}
	for _, s := range all {
		if s.Kind == spend.KindRefund && s.Status != spend.StatusFailed && s.Status != spend.StatusCancelled {
			live[s.SubjectID] = append(live[s.SubjectID], s)
		}
	}
	h.mu.Lock()
	refunds := slices.Clone(h.refunds)
	h.mu.Unlock()
	for _, r := range refunds {
		txs := map[string]chainOutput{}
		for key, out := range view[r.id] {
			txid, _, _ := strings.Cut(key, ":")
			if out.amount != r.sats {
				return fmt.Sprintf("refund %s of %d sats: %s pays %d", r.id, r.sats, key, out.amount)
			}
			txs[txid] = out
		}
		if (len(txs) > 1 || len(live[r.id]) > 1) && !r.doublePaid {
			r.doublePaid = true
			h.mu.Lock()
			h.totals.doublePayments++
			h.mu.Unlock()
			h.t.Errorf("refund %s paid twice: %d transactions pay %s, %d live spends", r.id, len(txs), r.address, len(live[r.id]))
		}
		if !settled {
			continue
		}
		got, err := db.GetRefund(h.ctx, r.id)
		if err != nil {
			return fmt.Sprintf("refund %s: %v", r.id, err)
		}
		if r.doubleSpent {
			if len(txs) != 0 || got.Status != refund.StatusFailure || len(live[r.id]) != 0 {
				return fmt.Sprintf("double-spent refund %s: %d transactions pay it, status %s, %d live spends; want none, failure, none",
					r.id, len(txs), got.Status, len(live[r.id]))
			}
			continue
		}
		if len(txs) != 1 || len(live[r.id]) != 1 {
			return fmt.Sprintf("refund %s (%s): %d transactions pay it, %d live spends; want one of each", r.id, got.Status, len(txs), len(live[r.id]))
		}
		s := live[r.id][0]
		out, ok := txs[s.TxID]
		switch {
		case !ok:
			return fmt.Sprintf("refund %s: its spend carries %s, which the chain does not hold", r.id, s.TxID)
		case out.height == 0:
			return fmt.Sprintf("refund %s: %s still in the mempool", r.id, s.TxID)
		case got.Status != refund.StatusSuccess || got.TxID != s.TxID:
			return fmt.Sprintf("refund %s paid by %s in block %d: status %s, txid %q", r.id, s.TxID, out.height, got.Status, got.TxID)
		case s.Status != spend.StatusConfirmed && s.Status != spend.StatusFinal:
			return fmt.Sprintf("refund %s paid in block %d: its spend %s is %s", r.id, out.height, s.ID, s.Status)
		}
	}
	return ""
}
