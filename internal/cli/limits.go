package cli

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
)

// limitsTTL is how long a node trusts a store's invoice limits as read:
// a change made by `kassa store update`, the dashboard or another node
// takes effect within it.
const limitsTTL = 5 * time.Second

// storeLimits answers each store's invoice limits (its own, else the
// server's default) from memory, re-reading a store's settings at most
// once per limitsTTL, so invoice creation does not read the store on
// every request.
type storeLimits struct {
	db  *store.DB
	def merchant.Limits
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[string]limitsEntry
}

type limitsEntry struct {
	limits merchant.Limits
	read   time.Time
}

func newStoreLimits(db *store.DB, def merchant.Limits, log *slog.Logger) *storeLimits {
	return &storeLimits{db: db, def: def, log: log, now: time.Now, seen: map[string]limitsEntry{}}
}

// For returns the limits of store id. When the store cannot be read it
// keeps the last limits read, or the default when there are none.
func (l *storeLimits) For(id string) merchant.Limits {
	now := l.now()
	l.mu.Lock()
	e, ok := l.seen[id]
	l.mu.Unlock()
	if ok && now.Sub(e.read) < limitsTTL {
		return e.limits
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := l.db.GetStore(ctx, id)
	if err != nil {
		l.log.Warn("read a store's invoice limits", "store", id, "err", err)
		if !ok {
			return l.def
		}
		return e.limits
	}
	e = limitsEntry{limits: l.def, read: now}
	if st.InvoiceLimits != nil {
		e.limits = *st.InvoiceLimits
	}
	l.mu.Lock()
	l.seen[id] = e
	l.mu.Unlock()
	return e.limits
}
