package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
	"github.com/kassa-pay/kassa/client"
	"github.com/kassa-pay/kassa/internal/ctxwait"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// clusterConfig is what one cluster run measures.
type clusterConfig struct {
	kassa    string // the kassa binary
	invoices int    // invoices created over HTTP in each load phase
	stores   int    // stores they are spread over
	workers  int    // concurrent HTTP clients
	rounds   int    // 1-node/3-node pairs, run as 1,3,3,1,...
	kills    int    // leader kills for the failover figure
}

// runCluster measures what running several nodes on one PostgreSQL costs
// and how fast leadership moves, with the real kassa serve binary against
// a regtest btcd and the test PostgreSQL server (a fresh schema):
//
//   - BenchmarkCluster/nodes=1 and /nodes=3: invoice creations per second
//     over HTTP with one node and with three nodes on the same database,
//     the load spread evenly over the nodes, in the order 1,3,3,1 so a
//     drift of the machine or the growing tables weighs on both alike;
//     with each invoice's CPU cost in the kassa processes and in
//     PostgreSQL, and PostgreSQL commits per invoice (the capacity model's
//     inputs).
//   - BenchmarkCluster/pg-commits: PostgreSQL's own rate of one-row
//     commits from 32 connections, the ceiling those commits meet.
//   - BenchmarkFailover: kill -9 of the leader, kills times, with a block
//     mined at once after each kill: the time until a surviving node
//     leads, and until the new leader has processed that block (median
//     and maximum).
func runCluster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	var c clusterConfig
	fs.StringVar(&c.kassa, "kassa", "bin/kassa", "the kassa binary to run")
	fs.IntVar(&c.invoices, "invoices", 12000, "invoices to create in each load phase")
	fs.IntVar(&c.stores, "stores", 400, "stores the invoices are spread over")
	fs.IntVar(&c.workers, "workers", 64, "concurrent HTTP clients")
	fs.IntVar(&c.rounds, "rounds", 1, "pairs of 1-node and 3-node phases (order 1,3,3,1)")
	fs.IntVar(&c.kills, "kills", 10, "leader kills for the failover figure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.stores < 1 || c.invoices < c.stores || c.rounds < 1 {
		return fmt.Errorf("need a store, an invoice per store and a round")
	}
	bin, err := filepath.Abs(c.kassa)
	if err != nil {
		return err
	}
	c.kassa = bin
	if err := testpg.Available(); err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", testpg.URL(), err)
	}
	dir, err := os.MkdirTemp("", "kassa-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL, drop, err := testpg.NewSchema(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, "benchtools:", err)
		}
	}()
	return measureCluster(ctx, c, dir, dbURL)
}

// kassaProc is one kassa serve process of the cluster.
type kassaProc struct {
	id, addr, dir string
	cmd           *exec.Cmd
	log           *os.File
}

func (p *kassaProc) url() string { return "http://" + p.addr }

// clusterRun holds what every phase shares.
type clusterRun struct {
	c     clusterConfig
	dir   string
	env   []string
	node  *regtest.Node
	hc    *http.Client
	shops []shop
	db    *sql.DB
	procs int // processes started so far, for unique directories
}

func measureCluster(ctx context.Context, c clusterConfig, dir, dbURL string) error {
	node, err := startBtcd(ctx, dir)
	if err != nil {
		return err
	}
	defer node.Stop()
	key, err := client.NewKey()
	if err != nil {
		return err
	}
	shops, err := seedStores(ctx, dbURL, c.stores, key.SIN())
	if err != nil {
		return fmt.Errorf("seed stores: %w", err)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	r := &clusterRun{c: c, dir: dir, node: node, shops: shops, db: db,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.workers}},
		env: append(os.Environ(),
			"KASSA_DATABASE_URL="+dbURL,
			"KASSA_NETWORK=regtest",
			"KASSA_CHAIN="+node.RPCURL(),
			"KASSA_RATES=fixed:BTC_USD=50000",
			"KASSA_LOG_LEVEL=warn",
			"KASSA_LOG_FORMAT=text",
			"KASSA_METRICS_LISTEN=off",
			// Every phase draws from the same per-store budgets in the
			// database, more than the default 100 an hour; the budget's
			// cost is BenchmarkInvoiceBudget's figure.
			"KASSA_INVOICE_LIMITS=off",
		)}

	commits, err := r.pgCommitRate(ctx, 3*time.Second)
	if err != nil {
		return fmt.Errorf("PostgreSQL commit rate: %w", err)
	}
	fmt.Printf("BenchmarkCluster/pg-commits\t1\t0 ns/op\t%.0f commits/s\n", commits)

	// The load phases, 1,3,3,1 per round.
	sums := map[int]*phaseResult{1: {}, 3: {}}
	total, phase := 0, 0
	for round := range c.rounds {
		for _, k := range []int{1, 3, 3, 1} {
			res, err := r.loadPhase(ctx, k, total)
			if err != nil {
				return fmt.Errorf("round %d, %d nodes: %w", round+1, k, err)
			}
			total += res.warm + res.created
			phase++
			fmt.Printf("BenchmarkCluster/nodes=%d/phase=%d\t1\t0 ns/op\t%.0f invoices/s\t%.3f kassa-cpu-ms/invoice\t%.3f pg-cpu-ms/invoice\t%.2f commits/invoice\t%d retried-429\n",
				k, phase, res.rate(), res.kassaCPUms(), res.pgCPUms(), res.commitsPer(), res.retried)
			sums[k].add(res)
		}
	}
	var stored int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices`).Scan(&stored); err != nil {
		return err
	}
	if stored != total {
		return fmt.Errorf("created %d invoices over HTTP, the database holds %d", total, stored)
	}
	for _, k := range []int{1, 3} {
		s := sums[k]
		fmt.Printf("BenchmarkCluster/nodes=%d\t%d\t0 ns/op\t%.0f invoices/s\t%.3f kassa-cpu-ms/invoice\t%.3f pg-cpu-ms/invoice\t%.2f commits/invoice\t%d retried-429\n",
			k, len(s.runs), s.rate(), s.kassaCPUms(), s.pgCPUms(), s.commitsPer(), s.retried)
	}
	return r.failover(ctx)
}

// phaseResult sums what load phases measured.
type phaseResult struct {
	created, retried int
	warm             int // warm-up invoices, not in the rate
	took             time.Duration
	kassaCPU, pgCPU  time.Duration
	commits          int64
	runs             []float64 // each phase's rate
}

func (p *phaseResult) add(o phaseResult) {
	p.created += o.created
	p.retried += o.retried
	p.took += o.took
	p.kassaCPU += o.kassaCPU
	p.pgCPU += o.pgCPU
	p.commits += o.commits
	p.runs = append(p.runs, o.rate())
}

func (p *phaseResult) rate() float64 { return float64(p.created) / p.took.Seconds() }
func (p *phaseResult) kassaCPUms() float64 {
	return float64(p.kassaCPU.Microseconds()) / 1000 / float64(p.created)
}
func (p *phaseResult) pgCPUms() float64 {
	return float64(p.pgCPU.Microseconds()) / 1000 / float64(p.created)
}
func (p *phaseResult) commitsPer() float64 { return float64(p.commits) / float64(p.created) }

// loadPhase starts k fresh nodes (fresh processes, so every phase starts
// with empty per-node rate limiters), warms them up, creates c.invoices
// invoices spread over them and the stores, and stops them.
func (r *clusterRun) loadPhase(ctx context.Context, k, offset int) (phaseResult, error) {
	var res phaseResult
	procs, err := r.startNodes(ctx, k)
	defer r.stopAll(procs)
	if err != nil {
		return res, err
	}
	clients := make([][]*client.Client, k)
	for i, p := range procs {
		if clients[i], err = posClients(p.url(), r.hc, r.shops); err != nil {
			return res, err
		}
	}
	// Warm-up, not measured: one invoice per store on every node, so each
	// node has loaded every store's key and filled its address cache, as
	// long-running nodes have. The phase then measures steady state.
	s := len(r.shops)
	warm, _, err := createInvoices(ctx, r.c.workers, func(i int) *client.Client { return clients[(i-offset)/s][i%s] }, offset, offset+k*s)
	if err != nil {
		return res, fmt.Errorf("warm up: %w (log: %s)", err, tail(procs[0].log.Name()))
	}
	res.warm = warm
	offset += warm
	ctxwait.Sleep(ctx, time.Second)
	pick := func(i int) *client.Client { return clients[i%k][i%s] }
	pids := make([]int, k)
	for i, p := range procs {
		pids[i] = p.cmd.Process.Pid
	}
	kassaBefore, err := cpuOf(pids)
	if err != nil {
		return res, err
	}
	pgBefore, err := postgresCPU()
	if err != nil {
		return res, err
	}
	commitsBefore, err := r.xactCommits(ctx)
	if err != nil {
		return res, err
	}
	start := time.Now()
	res.created, res.retried, err = createInvoices(ctx, r.c.workers, pick, offset, offset+r.c.invoices)
	res.took = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("%w (log: %s)", err, tail(procs[0].log.Name()))
	}
	kassaAfter, err := cpuOf(pids)
	if err != nil {
		return res, err
	}
	pgAfter, err := postgresCPU()
	if err != nil {
		return res, err
	}
	// Backends report their statistics when idle, at most a second late.
	ctxwait.Sleep(ctx, 1500*time.Millisecond)
	commitsAfter, err := r.xactCommits(ctx)
	if err != nil {
		return res, err
	}
	res.kassaCPU, res.pgCPU, res.commits = kassaAfter-kassaBefore, pgAfter-pgBefore, commitsAfter-commitsBefore
	return res, nil
}

// startNodes starts k kassa serve processes and waits until each is
// ready and one of them leads at the chain's height.
func (r *clusterRun) startNodes(ctx context.Context, k int) ([]*kassaProc, error) {
	var procs []*kassaProc
	for range k {
		p, err := r.start(ctx, fmt.Sprintf("node%d", r.procs))
		if err != nil {
			return procs, err
		}
		procs = append(procs, p)
	}
	height, err := r.node.BlockCount(ctx)
	if err != nil {
		return procs, err
	}
	for _, p := range procs {
		if err := waitReady(ctx, r.hc, p.url()+"/readyz", 60*time.Second); err != nil {
			return procs, fmt.Errorf("%w (log: %s)", err, tail(p.log.Name()))
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if lead, _, _ := leaderOf(r.hc, procs, int32(height)); lead != nil {
			return procs, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return procs, fmt.Errorf("no leader at height %d after 60 s", height)
		}
		ctxwait.Sleep(ctx, 50*time.Millisecond)
	}
}

// start starts one kassa serve process with its own address and data
// directory.
func (r *clusterRun) start(ctx context.Context, id string) (*kassaProc, error) {
	r.procs++
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &kassaProc{id: id, addr: "127.0.0.1:" + strconv.Itoa(port), dir: filepath.Join(r.dir, fmt.Sprintf("%s-%d", id, r.procs))}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if p.log, err = os.Create(filepath.Join(p.dir, "serve.log")); err != nil {
		return nil, err
	}
	p.cmd = exec.CommandContext(ctx, r.c.kassa, "serve")
	p.cmd.Env = append(slices.Clone(r.env), "KASSA_LISTEN="+p.addr, "KASSA_PUBLIC_URL="+p.url(),
		"KASSA_DATA_DIR="+p.dir, "KASSA_NODE_ID="+id)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.log.Close()
		return nil, fmt.Errorf("start kassa serve: %w", err)
	}
	return p, nil
}

// stop ends a node: SIGTERM, or SIGKILL when kill is set.
func (p *kassaProc) stop(kill bool) {
	if p.cmd.ProcessState != nil {
		return
	}
	if kill {
		_ = p.cmd.Process.Kill()
	} else {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	_ = p.cmd.Wait()
	p.log.Close()
}

func (r *clusterRun) stopAll(procs []*kassaProc) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(false) })
	}
	wg.Wait()
}

// readyState is a node's /readyz answer.
type readyState struct {
	Status string `json:"status"`
	Role   string `json:"role"`
	Tip    int32  `json:"tip"`
}

func readyOf(hc *http.Client, p *kassaProc) (readyState, error) {
	var s readyState
	resp, err := hc.Get(p.url() + "/readyz")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// leaderOf returns the one live node of procs that leads and is ready at
// height, and whether any node leads at all (ready or not).
func leaderOf(hc *http.Client, procs []*kassaProc, height int32) (lead *kassaProc, anyLeader bool, err error) {
	for _, p := range procs {
		if p.cmd.ProcessState != nil {
			continue
		}
		s, err := readyOf(hc, p)
		if err != nil {
			return nil, false, err
		}
		if s.Role == "leader" {
			anyLeader = true
			if s.Status == "ready" && s.Tip >= height {
				lead = p
			}
		}
	}
	return lead, anyLeader, nil
}

// failover runs three nodes and kills the leader c.kills times. After each
// kill a block is mined at once; the figures are the time from the kill
// until a surviving node reports role leader, and until a leader reports
// that block processed. The killed node is restarted (as a follower)
// before the next kill.
func (r *clusterRun) failover(ctx context.Context) error {
	if r.c.kills == 0 {
		return nil
	}
	procs, err := r.startNodes(ctx, 3)
	defer func() { r.stopAll(procs) }()
	if err != nil {
		return err
	}
	var elections, blocks []time.Duration
	for kill := range r.c.kills {
		height, err := r.node.BlockCount(ctx)
		if err != nil {
			return err
		}
		lead, err := r.waitLeader(ctx, procs, int32(height))
		if err != nil {
			return err
		}
		killed := time.Now()
		lead.stop(true)
		mined := make(chan error, 1)
		go func() { _, err := r.node.Mine(ctx, 1); mined <- err }()
		var elected, processed time.Duration
		deadline := killed.Add(60 * time.Second)
		for processed == 0 {
			next, anyLeader, err := leaderOf(r.hc, procs, int32(height)+1)
			if err == nil && anyLeader && elected == 0 {
				elected = time.Since(killed)
			}
			if err == nil && next != nil {
				processed = time.Since(killed)
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("kill %d: no leader processed block %d within 60 s", kill+1, height+1)
			}
			ctxwait.Sleep(ctx, 10*time.Millisecond)
		}
		if err := <-mined; err != nil {
			return fmt.Errorf("mine: %w", err)
		}
		elections, blocks = append(elections, elected), append(blocks, processed)
		// The killed node comes back as a follower.
		back, err := r.start(ctx, lead.id)
		if err != nil {
			return err
		}
		procs[slices.Index(procs, lead)] = back
		if err := waitReady(ctx, r.hc, back.url()+"/readyz", 60*time.Second); err != nil {
			return fmt.Errorf("%w (log: %s)", err, tail(back.log.Name()))
		}
	}
	// A new leader loads every open invoice into its watch set before it
	// processes a block: the figure depends on how many there are.
	var open int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE status = 'new'`).Scan(&open); err != nil {
		return err
	}
	fmt.Printf("BenchmarkFailover\t%d\t%d ns/op\t%d kills\t%d open-invoices\t%.3f elected-median-s\t%.3f elected-max-s\t%.3f block-median-s\t%.3f block-max-s\n",
		len(blocks), median(blocks).Nanoseconds(), len(blocks), open, median(elections).Seconds(), slices.Max(elections).Seconds(),
		median(blocks).Seconds(), slices.Max(blocks).Seconds())
	return nil
}

// waitLeader waits until one live node leads, ready at height.
func (r *clusterRun) waitLeader(ctx context.Context, procs []*kassaProc, height int32) (*kassaProc, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if lead, _, err := leaderOf(r.hc, procs, height); err == nil && lead != nil {
			return lead, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no leader ready at height %d within 60 s", height)
		}
		ctxwait.Sleep(ctx, 20*time.Millisecond)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pgCommitRate measures PostgreSQL's rate of one-row INSERT commits from
// 32 connections for d: the database's ceiling for kassa's commits.
func (r *clusterRun) pgCommitRate(ctx context.Context, d time.Duration) (float64, error) {
	if _, err := r.db.ExecContext(ctx, `CREATE TABLE bench_commits (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		return 0, err
	}
	defer r.db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE bench_commits`) //nolint:errcheck // best effort
	const conns = 32
	r.db.SetMaxOpenConns(conns)
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	stop := time.Now().Add(d)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := r.db.ExecContext(ctx, `INSERT INTO bench_commits (v) VALUES ($1)`, "x"); err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n.Load()) / took.Seconds(), nil
}

// xactCommits reads the database's committed transactions so far.
func (r *clusterRun) xactCommits(ctx context.Context) (int64, error) {
	if _, err := r.db.ExecContext(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		return 0, err
	}
	var n int64
	err := r.db.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times.
const clockTick = 100

// procCPU reads a process's CPU time from /proc/PID/stat: user and system
// time, and with children set also that of its children it has reaped.
func procCPU(pid int, children bool) (time.Duration, string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	comm := s[open+1 : end]
	// After the command: state is field 3, utime 14, stime 15, cutime 16,
	// cstime 17 (proc(5)).
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return 0, comm, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	last := 12
	if children {
		last = 14
	}
	var ticks int64
	for i := 11; i <= last; i++ {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, comm, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick, comm, nil
}

// cpuOf sums the CPU time of the processes pids.
func cpuOf(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		d, _, err := procCPU(pid, false)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// postgresCPU sums the CPU time of every process named postgres on the
// machine, with the children they reaped: the server's backends come and
// go with kassa's connections, and the time of those that ended stays in
// the postmaster's.
func postgresCPU() (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	seen := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		d, comm, err := procCPU(pid, true)
		if errors.Is(err, os.ErrNotExist) || comm != "postgres" {
			continue
		}
		if err != nil {
			return 0, err
		}
		sum += d
		seen = true
	}
	if !seen {
		return 0, errors.New("no postgres process on this machine (is PostgreSQL remote?)")
	}
	return sum, nil
}
