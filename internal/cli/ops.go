package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/certs"
	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/chain/esplora"
	"github.com/kassa-pay/kassa/internal/chain/rpc"
	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/metrics"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
)

// ops is kassa serve's operator surface: the data-directory lock, built-in
// TLS and its redirect listener, /readyz, /metrics and the request-id and
// latency middleware. serve starts it right after its listener, before
// anything slow, and closes it last.
type ops struct {
	cfg  *config.Config
	log  *slog.Logger
	h    *health
	lock *dirLock

	// listener is the main listener, TLS-wrapped when TLS is on.
	listener net.Listener
	servers  []*http.Server // the redirect and metrics listeners
	acme     *certs.ACME

	reg    *metrics.Registry
	http   *metrics.HTTPMetrics
	detect *metrics.HistogramVec

	db    atomic.Pointer[store.DB]
	rates atomic.Pointer[rates.Rates]

	node   cachedHeight
	stats  statsCache
	ready  atomic.Int32 // last readiness logged: 0 unknown, 1 ready, 2 not
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// maxReadyLag is how many blocks the processed tip may trail the node's
// best block for /readyz to answer ready.
const maxReadyLag = 3

// statsTTL is how long store figures are reused between scrapes.
const statsTTL = 5 * time.Second

// startOps takes the data directory's lock (refusing to run beside
// another server, a restore or a rescan), mounts /readyz and /metrics on
// mux, wraps ln for TLS when configured and starts the redirect and
// metrics listeners.
func startOps(ctx context.Context, cfg *config.Config, log *slog.Logger, h *health, mux *http.ServeMux, ln net.Listener) (*ops, error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &ops{cfg: cfg, log: log, h: h, lock: lock, listener: ln, reg: metrics.NewRegistry(), cancel: cancel}
	o.node.fetch, err = nodeHeightFunc(cfg.Chain)
	if err != nil {
		o.Close()
		return nil, err
	}
	o.register()
	mux.HandleFunc("GET /readyz", o.serveReady)
	switch cfg.MetricsListen {
	case "":
		mux.Handle("GET /metrics", localOnly(metrics.Handler(o.reg, metrics.Default)))
	case "off":
	default:
		m := http.NewServeMux()
		m.Handle("GET /metrics", metrics.Handler(o.reg, metrics.Default))
		if err := o.listen(cfg.MetricsListen, m, "metrics"); err != nil {
			o.Close()
			return nil, err
		}
	}
	if err := o.startTLS(ctx); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// startTLS wraps the main listener for TLS=static or TLS=acme and starts
// the plain-HTTP redirect listener.
func (o *ops) startTLS(ctx context.Context) error {
	var tlsCfg *tls.Config
	switch o.cfg.TLS {
	case "static":
		s, err := certs.LoadStatic(o.cfg.TLSCert, o.cfg.TLSKey, o.log)
		if err != nil {
			return err
		}
		tlsCfg = s.TLSConfig()
	case "acme":
		m, err := certs.NewACME(certs.ACMEConfig{Domains: o.cfg.Domains(), Email: o.cfg.ACMEEmail,
			DirectoryURL: o.cfg.ACMEDirectory, CacheDir: filepath.Join(o.cfg.DataDir, "acme"),
			HTTPChallenge: o.cfg.HTTPRedirect != "", Log: o.log})
		if err != nil {
			return err
		}
		o.acme = m
		tlsCfg = m.TLSConfig()
		o.wg.Go(func() { _ = m.Run(ctx) })
	default:
		return nil
	}
	o.listener = tls.NewListener(o.listener, tlsCfg)
	if o.cfg.HTTPRedirect == "" {
		return nil
	}
	u, err := url.Parse(o.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("KASSA_PUBLIC_URL: %w", err)
	}
	var redirect http.Handler = certs.Redirect(u.Scheme + "://" + u.Host)
	if o.acme != nil {
		redirect = o.acme.HTTPHandler(redirect)
	}
	return o.listen(o.cfg.HTTPRedirect, redirect, "https redirect")
}

// listen serves handler on addr until Close.
func (o *ops) listen(addr string, handler http.Handler, what string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s for the %s: %w", addr, what, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(o.log.Handler(), slog.LevelWarn)}
	o.servers = append(o.servers, srv)
	o.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Error(what+" listener stopped", "listen", addr, "err", err)
		}
	})
	o.log.Info("listening", "for", what, "listen", addr)
	return nil
}

// Close stops the extra listeners and the ACME manager and releases the
// lock.
func (o *ops) Close() {
	o.cancel()
	for _, s := range o.servers {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(sctx)
		cancel()
	}
	o.wg.Wait()
	o.lock.Close()
}

// handler wraps the server's handler with request ids and latency metrics.
func (o *ops) handler(next http.Handler) http.Handler { return o.http.Wrap(next) }

// attach gives ops the database and the rates once serve has them.
func (o *ops) attach(db *store.DB, rs *rates.Rates) {
	o.db.Store(db)
	o.rates.Store(rs)
}

// sink wraps the chain sink to time payment detection: from the watcher's
// sighting of an output (Payment.SeenAt, stamped as it starts examining
// the mempool round or block) to the commit of its batch.
func (o *ops) sink(s chain.Sink) chain.Sink { return &timedSink{Sink: s, detect: o.detect} }

type timedSink struct {
	chain.Sink
	detect *metrics.HistogramVec
}

func (t *timedSink) Apply(ctx context.Context, b chain.Batch) error {
	if err := t.Sink.Apply(ctx, b); err != nil {
		return err
	}
	now := time.Now()
	for _, s := range b.Seen {
		if s.Payment.SeenAt.IsZero() {
			continue
		}
		stage := "block"
		if s.Payment.Height == 0 {
			stage = "mempool"
		}
		t.detect.With(stage).ObserveDuration(now.Sub(s.Payment.SeenAt))
	}
	return nil
}

// register creates kassa serve's metrics.
func (o *ops) register() {
	r := o.reg
	o.http = metrics.NewHTTPMetrics(r, o.log)
	o.detect = r.NewHistogramVec("kassa_payment_detection_seconds",
		"Time from the chain watcher seeing a payment output (stage mempool: unconfirmed; block: in a block) to its commit in the store.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "stage")
	r.NewSampleFunc("kassa_build_info", "The running kassa: version and network.", metrics.GaugeType,
		[]string{"version", "network"}, func(context.Context) []metrics.Sample {
			return []metrics.Sample{{Values: []string{Version, o.cfg.Network}, Value: 1}}
		})
	r.NewSampleFunc("kassa_invoices", "Invoices by status (all stores).", metrics.GaugeType, []string{"status"},
		func(ctx context.Context) []metrics.Sample {
			st := o.storeStats(ctx)
			var out []metrics.Sample
			for status, n := range st.invoices {
				out = append(out, metrics.Sample{Values: []string{status}, Value: float64(n)})
			}
			return out
		})
	r.NewSampleFunc("kassa_ipn_backlog", "IPN deliveries waiting to be sent or retried (all nodes).", metrics.GaugeType, nil,
		func(ctx context.Context) []metrics.Sample {
			if st := o.storeStats(ctx); st.deliveries {
				return []metrics.Sample{{Value: float64(st.backlog)}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_ipn_attempts_total", "IPN attempts recorded in the database (all processes and nodes).", metrics.CounterType, nil,
		func(ctx context.Context) []metrics.Sample {
			if st := o.storeStats(ctx); st.deliveries {
				return []metrics.Sample{{Value: float64(st.tally.Attempts)}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_ipn_failures_total", "IPN attempts that failed (all processes and nodes).", metrics.CounterType, nil,
		func(ctx context.Context) []metrics.Sample {
			if st := o.storeStats(ctx); st.deliveries {
				return []metrics.Sample{{Value: float64(st.tally.Failures)}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_chain_height", "Height of the last block kassa processed.", metrics.GaugeType, nil,
		func(context.Context) []metrics.Sample {
			if p := o.h.proc.Load(); p != nil {
				return []metrics.Sample{{Value: float64(p.Tip())}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_chain_node_height", "Best block height of the chain backend.", metrics.GaugeType, nil,
		func(ctx context.Context) []metrics.Sample {
			if n, err := o.node.get(ctx); err == nil {
				return []metrics.Sample{{Value: float64(n)}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_chain_lag_blocks", "Blocks the processed tip trails the chain backend's best block.", metrics.GaugeType, nil,
		func(ctx context.Context) []metrics.Sample {
			p := o.h.proc.Load()
			n, err := o.node.get(ctx)
			if p == nil || err != nil {
				return nil
			}
			return []metrics.Sample{{Value: float64(max(n-p.Tip(), 0))}}
		})
	r.NewSampleFunc("kassa_chain_up", "1 when the chain backend is connected and answering, else 0.", metrics.GaugeType, nil,
		func(ctx context.Context) []metrics.Sample {
			up := 0.0
			if _, err := o.node.get(ctx); err == nil && o.h.chainState.Load() == "watching" {
				up = 1
			}
			return []metrics.Sample{{Value: up}}
		})
	r.NewSampleFunc("kassa_invoices_watched", "Invoices the chain watcher watches (open and recently closed).", metrics.GaugeType, nil,
		func(context.Context) []metrics.Sample {
			if p := o.h.proc.Load(); p != nil {
				return []metrics.Sample{{Value: float64(p.Watching())}}
			}
			return nil
		})
	r.NewSampleFunc("kassa_rate_source_age_seconds", "Age of each rate provider's last good answer (absent until it answers).",
		metrics.GaugeType, []string{"source"}, func(context.Context) []metrics.Sample {
			rs := o.rates.Load()
			if rs == nil {
				return nil
			}
			var out []metrics.Sample
			now := time.Now()
			for _, s := range rs.Sources() {
				if !s.LastSuccess.IsZero() {
					out = append(out, metrics.Sample{Values: []string{s.Name}, Value: now.Sub(s.LastSuccess).Seconds()})
				}
			}
			return out
		})
	r.NewSampleFunc("kassa_rate_source_fresh", "1 when a rate provider's last answer is fresh enough to be used, else 0.",
		metrics.GaugeType, []string{"source"}, func(context.Context) []metrics.Sample {
			rs := o.rates.Load()
			if rs == nil {
				return nil
			}
			var out []metrics.Sample
			for _, s := range rs.Sources() {
				v := 0.0
				if s.Fresh {
					v = 1
				}
				out = append(out, metrics.Sample{Values: []string{s.Name}, Value: v})
			}
			return out
		})
}

// storeFigures are the store's figures one scrape reads.
type storeFigures struct {
	at         time.Time
	invoices   map[string]int64
	deliveries bool // the deliveries tables exist
	backlog    int64
	tally      store.AttemptTally // running totals since the first scrape
}

type statsCache struct {
	mu   sync.Mutex
	last storeFigures
}

// storeStats returns the store's figures, at most statsTTL old. A failing
// query keeps the previous figures and is logged.
func (o *ops) storeStats(ctx context.Context) storeFigures {
	o.stats.mu.Lock()
	defer o.stats.mu.Unlock()
	db := o.db.Load()
	if db == nil || time.Since(o.stats.last.at) < statsTTL {
		return o.stats.last
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	next := o.stats.last
	next.at = time.Now()
	if counts, err := db.InvoiceCounts(ctx); err != nil {
		o.log.Warn("metrics: count invoices", "err", err)
	} else {
		next.invoices = counts
	}
	if !next.deliveries {
		ok, err := db.TableExists(ctx, "delivery_attempts")
		if err != nil {
			o.log.Warn("metrics: look for the deliveries tables", "err", err)
		}
		next.deliveries = ok
	}
	if next.deliveries {
		if n, err := db.DeliveryBacklog(ctx, store.ChannelIPN); err != nil {
			o.log.Warn("metrics: IPN backlog", "err", err)
		} else {
			next.backlog = n
		}
		if t, err := db.DeliveryAttemptsAfter(ctx, store.ChannelIPN, next.tally.LastID, time.Now()); err != nil {
			o.log.Warn("metrics: IPN attempts", "err", err)
		} else {
			next.tally = store.AttemptTally{Attempts: next.tally.Attempts + t.Attempts,
				Failures: next.tally.Failures + t.Failures, LastID: t.LastID}
		}
	}
	o.stats.last = next
	return next
}

// cachedHeight asks the chain backend for its best height at most once a
// second, however many probes and scrapes ask.
type cachedHeight struct {
	fetch func(ctx context.Context) (int32, error)

	mu     sync.Mutex
	at     time.Time
	height int32
	err    error
}

func (c *cachedHeight) get(ctx context.Context) (int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetch == nil {
		return 0, errors.New("no chain backend configured")
	}
	if time.Since(c.at) < time.Second {
		return c.height, c.err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c.height, c.err = c.fetch(ctx)
	c.at = time.Now()
	return c.height, c.err
}

// nodeHeightFunc returns a function asking the backend named by
// KASSA_CHAIN for its best height, with a client of its own.
func nodeHeightFunc(raw string) (func(ctx context.Context) (int32, error), error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, nil // serve reports the missing or bad KASSA_CHAIN itself
	}
	switch scheme {
	case "rpc", "rpcs", "http", "https":
		c, err := rpc.New(raw)
		if err != nil {
			return nil, fmt.Errorf("KASSA_CHAIN: %w", err)
		}
		return c.BlockCount, nil
	case "esplora+http", "esplora+https":
		c, err := esplora.New(strings.TrimPrefix(scheme, "esplora+") + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("KASSA_CHAIN: %w", err)
		}
		return c.TipHeight, nil
	}
	return nil, nil
}

// readiness is /readyz's answer.
type readiness struct {
	Status     string `json:"status"` // ready or not ready
	Role       string `json:"role"`   // single (SQLite), or leader or follower (several nodes on PostgreSQL)
	Node       string `json:"node"`   // KASSA_NODE_ID
	Reason     string `json:"reason,omitempty"`
	Database   string `json:"database"`
	Chain      string `json:"chain"`
	Tip        int32  `json:"tip"`
	NodeHeight int32  `json:"nodeHeight,omitempty"`
	Lag        int32  `json:"lag,omitempty"`
}

// check decides readiness: the database answers a query, the chain
// backend is connected and answers, and the processed tip is within
// maxReadyLag blocks of its best block. Reasons name the failing part
// without internals (the log has them).
func (o *ops) check(ctx context.Context) readiness {
	r := readiness{Status: "ready", Role: o.h.role(), Node: o.cfg.NodeID, Database: "ok", Chain: "ok"}
	var reasons []string
	fail := func(reason string) { reasons = append(reasons, reason) }
	if db := o.db.Load(); db == nil {
		r.Database = "opening"
		fail("database not open yet")
	} else {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := db.Ping(pctx)
		cancel()
		if err != nil {
			r.Database = "unavailable"
			fail("database unavailable")
			o.log.Warn("readiness: database", "err", err)
		}
	}
	state, _ := o.h.chainState.Load().(string)
	p := o.h.proc.Load()
	switch {
	case r.Role == "follower" && p == nil:
		// The leader watches the chain; this node serves from the store.
		r.Chain, r.Tip = "standby", o.h.tip()
	case state != "watching" || p == nil:
		if strings.HasPrefix(state, "failed") {
			state = "failed"
		}
		r.Chain = state
		fail("chain backend " + state)
	default:
		r.Tip = p.Tip()
		n, err := o.node.get(ctx)
		if err != nil {
			r.Chain = "unreachable"
			fail("chain backend unreachable")
			o.log.Warn("readiness: chain backend", "err", err)
			break
		}
		r.NodeHeight, r.Lag = n, max(n-r.Tip, 0)
		if r.Lag > maxReadyLag {
			r.Chain = "syncing"
			fail(fmt.Sprintf("chain sync %d blocks behind the backend (at most %d)", r.Lag, maxReadyLag))
		}
	}
	if len(reasons) > 0 {
		r.Status, r.Reason = "not ready", strings.Join(reasons, "; ")
	}
	return r
}

// serveReady answers /readyz: 200 when ready, 503 with the reason
// otherwise. Changes of readiness are logged once.
func (o *ops) serveReady(w http.ResponseWriter, r *http.Request) {
	res := o.check(r.Context())
	code, state := http.StatusOK, int32(1)
	if res.Status != "ready" {
		code, state = http.StatusServiceUnavailable, 2
	}
	if old := o.ready.Swap(state); old != state {
		if state == 1 {
			o.log.Info("ready", "tip", res.Tip)
		} else if old == 1 {
			o.log.Warn("not ready", "reason", res.Reason)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// localOnly lets through requests from loopback and private networks that
// did not come through a proxy (no forwarding headers): /metrics on the
// main listener is for the operator's Prometheus, not the internet.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		proxied := r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != ""
		if err != nil || ip == nil || !(ip.IsLoopback() || ip.IsPrivate()) || proxied {
			http.Error(w, "metrics are served to local clients only (see KASSA_METRICS_LISTEN)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
