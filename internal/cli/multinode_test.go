//go:build node

package cli

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// The multi-node test: three kassa serve processes on one PostgreSQL
// schema and one btcd regtest node. Invoices are created on all three and
// paid while the leader is killed with SIGKILL, twice; every paid invoice
// must complete, every IPN arrive with a stable event id, no attempt be
// recorded twice, no payment count twice, and a buyer's event stream on a
// follower see the payment the leader processed.

// kassaNode is one kassa serve process.
type kassaNode struct {
	id, addr, dir string
	cmd           *exec.Cmd
	log           *os.File
}

func (n *kassaNode) url() string { return "http://" + n.addr }

// cluster is the test's deployment.
type mnCluster struct {
	t     *testing.T
	bin   string
	env   []string
	nodes []*kassaNode
}

func (c *mnCluster) start(n *kassaNode) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = append(slices.Clone(c.env), "KASSA_LISTEN="+n.addr, "KASSA_DATA_DIR="+n.dir, "KASSA_NODE_ID="+n.id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n.cmd, n.log = cmd, f
}

// kill stops a node with SIGKILL and reaps it.
func (c *mnCluster) kill(n *kassaNode) {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.log.Close()
}

type nodeReady struct {
	Status string `json:"status"`
	Role   string `json:"role"`
	Node   string `json:"node"`
	Tip    int32  `json:"tip"`
}

func getReady(n *kassaNode) (nodeReady, error) {
	var r nodeReady
	resp, err := http.Get(n.url() + "/readyz")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

// waitLeader waits until exactly one live node reports role leader, is
// ready and has processed the chain up to height, and returns it.
func (c *mnCluster) waitLeader(height int32, except *kassaNode) *kassaNode {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []*kassaNode
		ok := true
		for _, n := range c.nodes {
			if n == except {
				continue
			}
			r, err := getReady(n)
			if err != nil {
				ok = false
				break
			}
			if r.Role == "leader" {
				if r.Status != "ready" || r.Tip < height {
					ok = false
				}
				leaders = append(leaders, n)
			} else if r.Role != "follower" {
				c.t.Fatalf("node %s reports role %q", n.id, r.Role)
			}
		}
		if ok && len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no single ready leader at height %d within 60 s", height)
	return nil
}

// waitReady waits until n answers /readyz with ready: its database is
// open and its routes are registered.
func (c *mnCluster) waitReady(n *kassaNode) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := getReady(n); err == nil && r.Status == "ready" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("node %s not ready within 60 s", n.id)
}

// ipnLog records the IPNs the receiver got.
type ipnLog struct {
	mu       sync.Mutex
	byEvent  map[string][]string // event id → bodies
	statuses map[string][]string // invoice id → statuses, in arrival order
}

func (l *ipnLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		// A node killed while sending: not a delivery, and it was not
		// answered, so it is retried.
		return
	}
	var ipn struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &ipn)
	l.mu.Lock()
	l.byEvent[r.Header.Get("X-Kassa-Event-Id")] = append(l.byEvent[r.Header.Get("X-Kassa-Event-Id")], string(body))
	l.statuses[ipn.ID] = append(l.statuses[ipn.ID], ipn.Status)
	l.mu.Unlock()
}

type created struct {
	id, address string
	due         int64
	node        string
}

func mnCreateInvoice(n *kassaNode, token, notify, order string) (created, error) {
	body, _ := json.Marshal(map[string]any{"price": 10, "currency": "USD", "token": token, "orderId": order, "notificationURL": notify,
		"fullNotifications": true})
	req, _ := http.NewRequest(http.MethodPost, n.url()+"/invoices", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Accept-Version", "2.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return created{}, fmt.Errorf("create invoice on %s: %w", n.id, err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			ID             string           `json:"id"`
			BitcoinAddress string           `json:"bitcoinAddress"`
			PaymentTotals  map[string]int64 `json:"paymentTotals"`
		} `json:"data"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 || out.Data.ID == "" {
		return created{}, fmt.Errorf("create invoice on %s: %d %s", n.id, resp.StatusCode, raw)
	}
	return created{id: out.Data.ID, address: out.Data.BitcoinAddress, due: out.Data.PaymentTotals["BTC"], node: n.id}, nil
}

func TestMultiNodeFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and three kassa processes")
	}
	dbURL := testpg.Schema(t)
	root, err := regtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kassa")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kassa")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	ctx := context.Background()

	vars := map[string]string{"KASSA_DATA_DIR": t.TempDir(), "KASSA_NETWORK": "regtest", "KASSA_DATABASE_URL": dbURL}
	key, err := demoMerchantKey()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, vars, "store", "create", "--name", "Shop", "--xpub", key)
	if code != 0 {
		t.Fatalf("store create: %s", errs)
	}
	storeID := strings.TrimSpace(out)
	out, errs, code = run(t, vars, "token", "create", "--store", storeID, "--facade", "pos")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	pos := strings.TrimSpace(out)

	ipns := &ipnLog{byEvent: map[string][]string{}, statuses: map[string][]string{}}
	recv := httptest.NewServer(ipns)
	defer recv.Close()

	c := &mnCluster{t: t, bin: bin, env: append(os.Environ(), "KASSA_NETWORK=regtest", "KASSA_DATABASE_URL="+dbURL,
		"KASSA_CHAIN="+node.RPCURL(), "KASSA_RATES=fixed:BTC_USD=50000", "KASSA_IPN_ALLOW_PRIVATE=true",
		"KASSA_CHAIN_POLL=250ms", "KASSA_LOG_FORMAT=text", "KASSA_METRICS_LISTEN=off",
		// The nodes share one invoice budget per store; this test creates
		// faster than the default allows (the budget's own tests are api's).
		"KASSA_INVOICE_LIMITS=off",
		// One public URL for every node, as behind a balancer (README):
		// an IPN a node re-sends after another was killed mid-delivery
		// must carry the same body, invoice url included.
		"KASSA_PUBLIC_URL=https://pay.example.com")}
	for i := range 3 {
		n := &kassaNode{id: fmt.Sprintf("node%d", i), addr: freeAddr(t), dir: t.TempDir()}
		c.nodes = append(c.nodes, n)
		c.start(n)
	}
	defer func() {
		for _, n := range c.nodes {
			c.kill(n)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				b, _ := os.ReadFile(filepath.Join(n.dir, "serve.log"))
				t.Logf("--- %s log ---\n%s", n.id, b)
			}
		}
	}()
	height, err := node.BlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		c.waitReady(n)
	}
	lead := c.waitLeader(int32(height), nil)
	t.Logf("first leader: %s", lead.id)

	// A buyer on a follower watches an invoice the leader will process.
	var follower *kassaNode
	for _, n := range c.nodes {
		if n != lead {
			follower = n
			break
		}
	}
	watched, err := mnCreateInvoice(follower, pos, recv.URL, "sse")
	if err != nil {
		t.Fatal(err)
	}
	sseCtx, sseCancel := context.WithTimeout(ctx, 60*time.Second)
	defer sseCancel()
	sreq, _ := http.NewRequestWithContext(sseCtx, http.MethodGet, follower.url()+"/events?invoiceId="+watched.id, nil)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil || sresp.StatusCode != 200 {
		t.Fatalf("event stream on %s: %v", follower.id, err)
	}
	defer sresp.Body.Close()
	sawPaid := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(sresp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), `"status":"paid"`) {
				sawPaid <- time.Now()
				return
			}
		}
	}()
	var invoices []created
	sent := map[string]int64{}
	pay := func(inv created) {
		t.Helper()
		if _, err := node.Wallet().Pay(ctx, inv.address, money.Sats(inv.due)); err != nil {
			t.Fatalf("pay %s: %v", inv.id, err)
		}
		sent[inv.id] += inv.due
		invoices = append(invoices, inv)
	}
	paidAt := time.Now()
	pay(watched)
	select {
	case at := <-sawPaid:
		t.Logf("event stream on follower %s saw the payment processed by leader %s %v after it was sent", follower.id, lead.id, at.Sub(paidAt).Round(time.Millisecond))
	case <-sseCtx.Done():
		t.Fatalf("the event stream on follower %s never showed the payment", follower.id)
	}

	// A round of invoices, created concurrently on every node, then paid.
	round := func(name string, perNode int) {
		var mu sync.Mutex
		var batch []created
		var wg sync.WaitGroup
		var errs []error
		for _, n := range c.nodes {
			if n.cmd.ProcessState != nil {
				continue // killed
			}
			wg.Go(func() {
				for i := range perNode {
					inv, err := mnCreateInvoice(n, pos, recv.URL, fmt.Sprintf("%s-%s-%d", name, n.id, i))
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						batch = append(batch, inv)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Fatal(err)
		}
		for _, inv := range batch {
			pay(inv)
		}
	}
	var failovers, firstBlocks []time.Duration
	killLeader := func(old *kassaNode) *kassaNode {
		t.Helper()
		round("before-kill-"+old.id, 4)
		killed := time.Now()
		c.kill(old)
		// The surviving nodes elect a new leader.
		next := c.waitLeader(0, old)
		failover := time.Since(killed)
		// The first block after the kill is processed by the new leader.
		if _, err := node.Mine(ctx, 1); err != nil {
			t.Fatal(err)
		}
		h, _ := node.BlockCount(ctx)
		if again := c.waitLeader(int32(h), old); again != next {
			t.Fatalf("leadership moved on from %s to %s without a kill", next.id, again.id)
		}
		firstBlock := time.Since(killed)
		failovers, firstBlocks = append(failovers, failover), append(firstBlocks, firstBlock)
		t.Logf("killed leader %s; %s leads after %v, processed the next block after %v", old.id, next.id,
			failover.Round(time.Millisecond), firstBlock.Round(time.Millisecond))
		// Invoices keep coming while the killed node is down, then it
		// comes back as a follower.
		round("after-kill-"+old.id, 3)
		c.start(old)
		c.waitReady(old)
		if again := c.waitLeader(0, nil); again != next {
			t.Fatalf("the restarted node %s took leadership from %s", old.id, next.id)
		}
		return next
	}
	killLeader(killLeader(lead))
	round("final", 3)

	// Six blocks complete every paid invoice.
	if _, err := node.Mine(ctx, 6); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	deadline := time.Now().Add(90 * time.Second)
	for _, inv := range invoices {
		for {
			got, err := db.GetInvoice(ctx, inv.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == invoice.StatusComplete {
				live := 0
				for _, p := range got.Payments {
					if !p.Removed {
						live++
					}
				}
				if int64(got.Received()) != sent[inv.id] || live != 1 {
					t.Errorf("invoice %s (created on %s): received %d in %d payments, sent %d once", inv.id, inv.node, got.Received(), live, sent[inv.id])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("invoice %s (created on %s) is %s, not complete", inv.id, inv.node, got.Status)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Every planned IPN is delivered and arrived with its event id; every
	// invoice's paid, confirmed and complete IPNs (fullNotifications)
	// among them.
	for {
		var pending int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE channel = 'ipn' AND state <> 'delivered'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		var unplanned int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL`).Scan(&unplanned); err != nil {
			t.Fatal(err)
		}
		if pending == 0 && unplanned == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d IPNs not delivered, %d events not planned", pending, unplanned)
		}
		time.Sleep(100 * time.Millisecond)
	}
	events, err := dbStrings(raw, `SELECT event_id FROM deliveries WHERE channel = 'ipn'`)
	if err != nil {
		t.Fatal(err)
	}
	ipns.mu.Lock()
	defer ipns.mu.Unlock()
	dups := 0
	for _, ev := range events {
		bodies := ipns.byEvent[ev]
		if len(bodies) == 0 {
			t.Errorf("IPN of event %s never arrived", ev)
		}
		for _, b := range bodies[min(1, len(bodies)):] {
			if b != bodies[0] {
				t.Errorf("event %s arrived with different bodies", ev)
			}
		}
		dups += max(len(bodies)-1, 0)
	}
	if len(ipns.byEvent) != len(events) {
		t.Errorf("receiver got %d event ids, the store planned %d", len(ipns.byEvent), len(events))
	}
	for _, inv := range invoices {
		for _, want := range []string{"paid", "confirmed", "complete"} {
			if !slices.Contains(ipns.statuses[inv.id], want) {
				t.Errorf("invoice %s: no %s IPN (got %v)", inv.id, want, ipns.statuses[inv.id])
			}
		}
	}
	var twice int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM (SELECT delivery_id, n FROM delivery_attempts
		GROUP BY delivery_id, n HAVING COUNT(*) > 1) d`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d delivery attempts were recorded by two workers", twice)
	}
	t.Logf("%d invoices paid and complete over 3 nodes, %d IPN events delivered (%d duplicate arrivals, at-least-once)",
		len(invoices), len(events), dups)
	t.Logf("failover (kill -9 → new leader ready): %v; → first block processed by the new leader: %v", failovers, firstBlocks)
}

func dbStrings(db *sql.DB, q string) ([]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
