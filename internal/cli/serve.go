package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/leader"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/notify/email"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/web"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs, resolve := flagSet(env, "serve", "serve [flags]")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	return serve(ctx, env, cfg, nil)
}

// health is what /healthz reports; the serve loop updates it.
type health struct {
	chainState atomic.Value // string: connecting, watching, standby, failed: …
	// proc is the running processor, nil on a node that is not the leader.
	proc atomic.Pointer[gateway.Processor]
	// multi is set on PostgreSQL, where several nodes elect a leader with
	// elector (set once the database is open).
	multi   bool
	elector atomic.Pointer[leader.Elector]
	// storedTip is the leader's processed height, read by other nodes.
	storedTip atomic.Int32
}

// serve runs the gateway until ctx ends. routes, when set, adds handlers
// (the demo's pay and mine buttons).
func serve(ctx context.Context, env Env, cfg *config.Config, routes func(*http.ServeMux, *gateway.Gateway, *store.DB)) error {
	log := newLogger(env.Stderr, cfg)
	if cfg.Chain == "" {
		return fmt.Errorf("KASSA_CHAIN is not set: give a node (rpc://user:pass@host:port) or an Esplora server (esplora+https://host/api)")
	}
	providers, err := rates.Parse(cfg.Rates)
	if err != nil {
		return fmt.Errorf("KASSA_RATES: %w", err)
	}
	// Listen before anything slow so /healthz answers from the first second.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	h := &health{multi: cfg.IsPostgres()}
	h.chainState.Store("starting")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{"status": "ok", "version": Version, "network": cfg.Network, "chain": h.chainState.Load(),
			"role": h.role(), "node": cfg.NodeID}
		if p := h.proc.Load(); p != nil {
			body["tip"] = p.Tip()
			body["watching"] = p.Watching()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	// The data-directory lock, TLS, /readyz, /metrics and request ids (ops.go).
	ops, err := startOps(ctx, cfg, log, h, mux, ln)
	if err != nil {
		ln.Close()
		return err
	}
	defer ops.Close()
	ln = ops.listener
	srv := &http.Server{Handler: ops.handler(api.SlashInsensitive(mux)), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Background work stops when serve returns, for any reason, before the
	// wait above.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srvErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- err
		}
	})
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("kassa listening", "url", cfg.PublicURL, "listen", cfg.Listen, "network", cfg.Network, "version", Version)

	db, err := openDB(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	// A wrong hot wallet passphrase stops kassa here, on every node, not
	// at the first immediate refund; the dashboard's engine signs with it
	// at an owner's request.
	hot, err := hotSigner(ctx, cfg, log, db)
	if err != nil {
		return err
	}
	// IPNs and status mails (package notify), planned from the outbox and
	// woken by this process's commits, with a 1 s poll for other
	// processes'; stopped before the database closes.
	var mailer notify.Mailer
	if cfg.SMTPURL != "" {
		mc, err := email.ParseURL(cfg.SMTPURL)
		if err != nil {
			return fmt.Errorf("KASSA_SMTP_URL: %w", err)
		}
		mailer = email.New(mc, email.WithPublicURL(cfg.PublicURL), email.WithLogger(log.With("component", "mail")))
	}
	// One cache of stores' settings for every hot path of this node: a
	// change made on this node takes effect at once, elsewhere within
	// merchant.SettingsTTL.
	settings := merchant.NewSettings(db.GetStore, merchant.SettingsTTL)
	notifier, err := notify.New(notify.Config{Store: db, Settings: settings, PublicURL: cfg.PublicURL, AllowPrivate: cfg.IPNAllowPrivate,
		RetryWindow: cfg.IPNRetryWindow, Mailer: mailer, Log: log.With("component", "notify"),
		Plans: func() bool { return !h.multi || h.role() == leader.Leader }})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer background(ctx, notifier.Run)()
	// The event hub follows the outbox for the live event streams (GET
	// /events, which the hosted checkout follows too); it ends them and
	// stops reading before the database closes.
	hub, err := notify.NewHub(notify.HubConfig{Store: db, Log: log})
	if err != nil {
		return fmt.Errorf("event hub: %w", err)
	}
	defer background(ctx, hub.Run)()

	if h.multi {
		// Only the leader calls the rate APIs; the others read its answers.
		providers = shareProviders(providers, db, func() bool { return h.role() == leader.Leader }, log)
	}
	rs, err := rates.New(rates.Config{Providers: providers, Logger: log})
	if err != nil {
		return fmt.Errorf("KASSA_RATES: %w", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := rs.Refresh(rctx); err != nil {
		log.Warn("no exchange rates yet; invoices in fiat fail until a provider answers", "err", err)
	}
	rcancel()
	wg.Go(func() { _ = rs.Run(ctx) })

	g := gateway.New(gateway.Config{Store: db, Settings: settings, Rates: rs, Network: cfg.Network, Log: log})
	defer g.Close()
	ops.attach(db, rs)
	// Invoice limits: each store's own or KASSA_INVOICE_LIMITS; with
	// several nodes the budgets live in the database, so the limit is the
	// deployment's, not each node's.
	var budgets api.Budgets
	if h.multi {
		budgets = db
	}
	// Merchant applications (POST /applications) are taken when sign-up
	// is open (KASSA_SIGNUP), as the dashboard's sign-up page is.
	var applications api.Applications
	if cfg.Signup {
		applications = db
	}
	// Refunds are recorded and wait in created for the spend engine, which
	// pays those with an address; a buyer mailed for one gives it on the
	// refund page within KASSA_REFUND_ADDRESS_WAIT.
	refunds := gateway.NewRefunds(gateway.RefundsConfig{Store: db, Rates: rs, Network: cfg.Network,
		AddressWait: cfg.RefundAddressWait})
	apiSrv, err := api.New(api.Config{Store: db, Invoices: g, Refunds: refunds, Rates: rs, PublicURL: cfg.PublicURL,
		ExtraOrigins: cfg.SignatureOrigins(), Tip: h.tip, Log: log, Hub: hub, IPNAllowPrivate: cfg.IPNAllowPrivate,
		InvoiceLimits: newStoreLimits(settings, cfg.InvoiceLimits, log).For, Budgets: budgets, Applications: applications})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	apiSrv.Register(mux)
	// Open event streams end at shutdown instead of holding it up.
	srv.RegisterOnShutdown(apiSrv.CloseEventStreams)
	// The hosted checkout and bitpay.js; routes is only set by kassa demo,
	// whose /demo/pay and /demo/mine the checkout's demo buttons post to.
	pages, err := web.New(web.Config{Store: db, Refunds: refunds, PublicURL: cfg.PublicURL, Network: cfg.Network,
		Demo: routes != nil && cfg.Network == "regtest", Log: log})
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	pages.Register(mux)
	// The merchant dashboard under /dashboard; KASSA_SIGNUP=true opens
	// merchant sign-up.
	spends, err := dashboardSpends(cfg, db, g, hot, log)
	if err != nil {
		return err
	}
	dash, err := dashboard.New(dashboard.Config{Users: db, SecondFactor: db, Sessions: db, Attempts: db, Stores: db,
		Members: db, Invites: db, Tokens: db, APIKeys: db, InvoiceLookup: db, Invoices: g, Coins: db, SpendLookup: db,
		Spends: spends, Refunds: refunds, RefundLookup: db, Network: cfg.Network, PublicURL: cfg.PublicURL,
		Signup: cfg.Signup, Log: log.With("component", "dashboard"),
		StoreChanged: func(id string) {
			if err := g.ReloadStore(context.Background(), id); err != nil {
				log.Warn("store settings take effect within seconds", "store", id, "err", err)
			}
		}})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if err := mountInvoicePages(dash, db, g, rs, cfg.PublicURL, h); err != nil {
		return fmt.Errorf("dashboard invoice pages: %w", err)
	}
	dash.Register(mux)
	if routes != nil {
		routes(mux, g, db)
	}

	// The chain watcher, its processor and the expiry sweeper: on this
	// node alone (SQLite), or on the elected node of several (PostgreSQL,
	// leader.go).
	leadErr := make(chan error, 1)
	wg.Go(func() { leadErr <- runLeaderWork(ctx, cfg, log, h, ops, g, db, refunds) })

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-srvErr:
		return fmt.Errorf("http server: %w", err)
	case err := <-leadErr:
		return err // nil only when ctx ended
	}
}

// background runs run in a goroutine on a context of its own below ctx and
// returns stop, which ends that context and waits for run to return: a
// deferred stop ends the work before what the function deferred earlier,
// such as closing the database.
func background(ctx context.Context, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = run(ctx) }()
	return func() { cancel(); <-done }
}
