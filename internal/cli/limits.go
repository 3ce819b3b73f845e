package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
)

// storeLimits answers each store's invoice limits (its own, else the
// server's default) from the node's settings cache, so invoice creation
// does not read the store on every request and sees a change made
// elsewhere within merchant.SettingsTTL.
type storeLimits struct {
	settings *merchant.Settings
	def      merchant.Limits
	log      *slog.Logger
}

func newStoreLimits(settings *merchant.Settings, def merchant.Limits, log *slog.Logger) *storeLimits {
	return &storeLimits{settings: settings, def: def, log: log}
}

// For returns the limits of store id. When the store cannot be read it
// keeps the last limits read, or the default when there are none.
func (l *storeLimits) For(id string) merchant.Limits {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := l.settings.Get(ctx, id)
	if err != nil {
		l.log.Warn("read a store's invoice limits", "store", id, "err", err)
	}
	if st.InvoiceLimits == nil {
		return l.def
	}
	return *st.InvoiceLimits
}
