package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/kassa-pay/kassa/client"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/ctxwait"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/regtest"
	"github.com/kassa-pay/kassa/internal/store"
)

// rssConfig is what one rss run measures.
type rssConfig struct {
	kassa    string // the kassa binary
	invoices int    // invoices created over HTTP for the loaded figure
	stores   int    // stores they are spread over
	workers  int    // concurrent HTTP clients
	settle   time.Duration
}

// runRSS measures kassa serve's resident memory idle and loaded and
// prints benchmark lines, BenchmarkRSS/idle, /stores and /loaded.
//
// The invoices are spread over many stores because kassa serve keeps its
// default per-store limits (100 invoices an hour, 60 a minute, 10 a
// second): 20,000 invoices over 400 stores is 50 a store. A 429 is
// retried after a pause and counted. A third line, BenchmarkRSS/stores,
// is read after one invoice in each store, so the loaded figure splits
// into what each store costs and what each invoice costs.
func runRSS(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rss", flag.ContinueOnError)
	var c rssConfig
	fs.StringVar(&c.kassa, "kassa", "bin/kassa", "the kassa binary to run")
	fs.IntVar(&c.invoices, "invoices", 20000, "invoices to create for the loaded figure")
	fs.IntVar(&c.stores, "stores", 400, "stores the invoices are spread over")
	fs.IntVar(&c.workers, "workers", 32, "concurrent HTTP clients")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "wait before each reading")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.stores < 1 || c.invoices < c.stores {
		return fmt.Errorf("need at least one store and one invoice per store")
	}
	bin, err := filepath.Abs(c.kassa)
	if err != nil {
		return err
	}
	c.kassa = bin
	dir, err := os.MkdirTemp("", "kassa-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return measureRSS(ctx, c, dir)
}

func measureRSS(ctx context.Context, c rssConfig, dir string) error {
	node, err := startBtcd(ctx, dir)
	if err != nil {
		return err
	}
	defer node.Stop()

	dbPath := filepath.Join(dir, "data", "kassa.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return err
	}
	key, err := client.NewKey()
	if err != nil {
		return err
	}
	shops, err := seedStores(ctx, dbPath, c.stores, key.SIN())
	if err != nil {
		return err
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	logFile, err := os.Create(filepath.Join(dir, "kassa.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, c.kassa, "serve")
	cmd.Env = append(os.Environ(),
		"KASSA_DATA_DIR="+filepath.Dir(dbPath),
		"KASSA_DATABASE_URL="+dbPath,
		"KASSA_NETWORK=regtest",
		"KASSA_CHAIN="+node.RPCURL(),
		"KASSA_RATES=fixed:BTC_USD=50000",
		"KASSA_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"KASSA_PUBLIC_URL="+base,
		"KASSA_LOG_LEVEL=warn",
		"KASSA_LOG_FORMAT=text",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kassa serve: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.workers}}
	if err := waitReady(ctx, hc, base+"/readyz", 60*time.Second); err != nil {
		return fmt.Errorf("%w (log: %s)", err, tail(logFile.Name()))
	}
	ctxwait.Sleep(ctx, c.settle)
	idle, err := readStatus(pid)
	if err != nil {
		return err
	}
	fmt.Printf("BenchmarkRSS/idle\t1\t0 ns/op\t%.1f VmRSS-MiB\t%.1f VmHWM-MiB\n", idle.rss, idle.hwm)

	// One invoice per store first: what each store costs kassa (its
	// address cache) apart from what each invoice costs.
	clients, err := posClients(base, hc, shops)
	if err != nil {
		return err
	}
	pick := func(i int) *client.Client { return clients[i%len(clients)] }
	first, retried, err := createInvoices(ctx, c.workers, pick, 0, len(shops))
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, tail(logFile.Name()))
	}
	ctxwait.Sleep(ctx, c.settle)
	warm, err := readStatus(pid)
	if err != nil {
		return err
	}
	fmt.Printf("BenchmarkRSS/stores\t1\t0 ns/op\t%.1f VmRSS-MiB\t%.1f VmHWM-MiB\t%d stores\t%.1f KiB/store\n",
		warm.rss, warm.hwm, len(shops), (warm.rss-idle.rss)*1024/float64(len(shops)))

	start := time.Now()
	rest, retried2, err := createInvoices(ctx, c.workers, pick, len(shops), c.invoices)
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, tail(logFile.Name()))
	}
	took := time.Since(start)
	created := first + rest
	listed, err := listInvoices(ctx, c, hc, base, key, shops)
	if err != nil {
		return err
	}
	if listed != created {
		return fmt.Errorf("listed %d invoices, created %d", listed, created)
	}
	ctxwait.Sleep(ctx, c.settle)
	loaded, err := readStatus(pid)
	if err != nil {
		return err
	}
	fmt.Printf("BenchmarkRSS/loaded\t1\t0 ns/op\t%.1f VmRSS-MiB\t%.1f VmHWM-MiB\t%d invoices\t%.0f invoices/s\t%d retried-429\t%.2f KiB/invoice\n",
		loaded.rss, loaded.hwm, created, float64(rest)/took.Seconds(), retried+retried2,
		(loaded.rss-warm.rss)*1024/float64(max(rest, 1)))
	return nil
}

// startBtcd starts a regtest btcd with its data in dir/btcd.
func startBtcd(ctx context.Context, dir string) (*regtest.Node, error) {
	nodeDir := filepath.Join(dir, "btcd")
	if err := os.MkdirAll(nodeDir, 0o700); err != nil {
		return nil, err
	}
	node, err := regtest.Start(ctx, regtest.Options{DataDir: nodeDir})
	if err != nil {
		return nil, fmt.Errorf("start btcd: %w", err)
	}
	return node, nil
}

// shop is one seeded store and its tokens.
type shop struct {
	id, pos, merchant string
}

// seedStores creates n stores, each with a bearer pos token and a merchant
// token bound to sin, in a fresh SQLite database.
func seedStores(ctx context.Context, path string, n int, sin string) ([]shop, error) {
	db, err := store.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	seed := sha256.Sum256([]byte("kassa rss benchmark"))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.RegressionNetParams)
	if err != nil {
		return nil, err
	}
	pub, err := k.Neuter()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	shops := make([]shop, n)
	for i := range shops {
		st := merchant.Store{ID: auth.NewID(), Name: fmt.Sprintf("Shop %d", i), Network: "regtest",
			Key: "wpkh(" + pub.String() + "/" + strconv.Itoa(i) + "/*)", Speed: invoice.SpeedMedium,
			Expiry: 15 * time.Minute, GapLimit: merchant.DefaultGapLimit, DefaultCurrency: "USD", CreatedAt: now}
		if err := db.CreateStore(ctx, st); err != nil {
			return nil, err
		}
		pos := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadePOS, Active: true, CreatedAt: now}
		mer := auth.Token{Value: auth.NewTokenValue(), StoreID: st.ID, Facade: auth.FacadeMerchant, SIN: sin, Active: true, CreatedAt: now}
		for _, t := range []auth.Token{pos, mer} {
			if err := db.CreateToken(ctx, t); err != nil {
				return nil, err
			}
		}
		shops[i] = shop{id: st.ID, pos: pos.Value, merchant: mer.Value}
	}
	return shops, nil
}

// posClients returns an API client per store, with its pos token.
func posClients(base string, hc *http.Client, shops []shop) ([]*client.Client, error) {
	clients := make([]*client.Client, len(shops))
	for i, s := range shops {
		cl, err := client.New(base, client.WithHTTPClient(hc), client.WithToken(client.FacadePOS, s.pos))
		if err != nil {
			return nil, err
		}
		clients[i] = cl
	}
	return clients, nil
}

// createInvoices creates invoices from up to to over HTTP with the pos
// tokens, invoice i with pick(i), from workers concurrent clients, and
// returns how many it created and how many answers were 429 (retried after
// a pause).
func createInvoices(ctx context.Context, workers int, pick func(i int) *client.Client, from, to int) (int, int, error) {
	var next, created, retried atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= to || ctx.Err() != nil {
					return
				}
				req := client.InvoiceRequest{Price: "10", Currency: "USD", OrderID: fmt.Sprintf("rss-%d", i)}
				for {
					_, err := pick(i).CreateInvoice(ctx, client.FacadePOS, req)
					var ae *client.APIError
					if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
						retried.Add(1)
						ctxwait.Sleep(ctx, 200*time.Millisecond)
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("create invoice %d: %w", i, err)
						return
					}
					created.Add(1)
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	return int(created.Load()), int(retried.Load()), nil
}

// listInvoices lists every store's invoices with its merchant token
// (signed requests) and returns how many it read.
func listInvoices(ctx context.Context, c rssConfig, hc *http.Client, base string, key *client.Key, shops []shop) (int, error) {
	var total atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.workers)
	for range c.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(shops) {
					return
				}
				cl, err := client.New(base, client.WithHTTPClient(hc), client.WithKey(key),
					client.WithToken(client.FacadeMerchant, shops[i].merchant))
				if err == nil {
					var list []client.Invoice
					list, err = cl.Invoices(ctx, client.Filter{Limit: 1000})
					total.Add(int64(len(list)))
				}
				if err != nil {
					errs <- fmt.Errorf("list invoices of store %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return int(total.Load()), nil
}

// memStatus is a process's resident memory in MiB: now and its peak.
type memStatus struct{ rss, hwm float64 }

// readStatus reads VmRSS and VmHWM from /proc/PID/status.
func readStatus(pid int) (memStatus, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("read process status: %w", err)
	}
	var m memStatus
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.rss = float64(kb) / 1024
		case "VmHWM:":
			m.hwm = float64(kb) / 1024
		}
	}
	if m.rss == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// waitReady polls url until it answers 200 or the deadline passes.
func waitReady(ctx context.Context, hc *http.Client, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("kassa serve not ready at %s after %v", url, within)
		}
		ctxwait.Sleep(ctx, 200*time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of a log file, for an error message.
func tail(path string) string {
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}
