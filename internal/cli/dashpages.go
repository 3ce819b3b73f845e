package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/dashboard/invoices"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/rates"
	"github.com/kassa-pay/kassa/internal/spender"
	"github.com/kassa-pay/kassa/internal/store"
)

// mountInvoicePages adds the invoice list, detail, CSV export and overview
// (package dashboard/invoices) to the dashboard behind its login and roles.
func mountInvoicePages(dash *dashboard.Server, db *store.DB, g *gateway.Gateway, rs *rates.Rates,
	publicURL string, h *health) error {
	base := ""
	if u, err := url.Parse(publicURL); err == nil {
		base = strings.TrimRight(u.Path, "/")
	}
	pages, err := invoices.New(invoices.Config{
		Store: db, Layout: dash.Layout, LayoutStatus: dash.LayoutStatus, BasePath: base, Refunds: db, RefundForm: true,
		Resend: func(ctx context.Context, id string) error {
			_, err := g.Act(ctx, id, invoice.Resend{})
			return err
		},
		MarkInvalid: func(ctx context.Context, id string) error {
			_, err := g.Act(ctx, id, invoice.MarkInvalid{})
			return err
		},
		Deliveries: func(ctx context.Context, id string) ([]invoices.Attempt, error) {
			as, err := db.DeliveryAttempts(ctx, id)
			if err != nil {
				return nil, err
			}
			out := make([]invoices.Attempt, len(as))
			for i, a := range as {
				out[i] = invoices.Attempt{At: a.At, Event: invoice.Code(a.Code), Channel: a.Channel, Target: a.Target, N: a.N,
					StatusCode: a.StatusCode, Latency: a.Latency, Error: a.Error}
			}
			return out, nil
		},
		Chain: func(ctx context.Context) (invoices.ChainStatus, error) {
			state, _ := h.chainState.Load().(string)
			st := invoices.ChainStatus{Backend: state, Height: h.tip(), Synced: state == "watching" || state == "standby"}
			if strings.HasPrefix(state, "failed") {
				st.Err = state
			}
			return st, nil
		},
		Rates: func(context.Context) []invoices.RateSource {
			var out []invoices.RateSource
			for _, s := range rs.Sources() {
				r := invoices.RateSource{Name: s.Name, Updated: s.LastSuccess}
				if s.LastError != nil {
					r.Err = s.LastError.Error()
				}
				out = append(out, r)
			}
			return out
		},
		RateMaxAge: 10 * time.Minute,
	})
	if err != nil {
		return err
	}
	dash.HandleInvoicePages(pages)
	return nil
}

// dashboardSpends is the spend engine behind the dashboard's PSBT download
// and signed upload, fee bumps and the hot signer's button (hot, nil
// without a passphrase): on every node, sending to the configured node or
// Esplora server (the leader's engine follows what it sends, and registers
// the change of the spends it rebuilds with the watcher on its next
// round).
func dashboardSpends(cfg *config.Config, db *store.DB, g *gateway.Gateway, hot spender.HotSigner, log *slog.Logger) (dashboard.Spends, error) {
	client, rejected, err := spendChain(cfg.Chain)
	if err != nil {
		return nil, fmt.Errorf("dashboard spend engine: %w", err)
	}
	return spender.New(spender.Config{Store: db, Chain: client, Rejected: rejected, Policy: g.Policy(),
		Hot: hot, Logger: log.With("component", "dashboard")}), nil
}
