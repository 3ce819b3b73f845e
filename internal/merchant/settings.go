package merchant

import (
	"context"
	"sync"
	"time"
)

// SettingsTTL is how long a node trusts a store's settings as read: a
// change made on another node (or by `kassa store update`) takes effect
// within it; a change made through this node's dashboard at once (Forget).
const SettingsTTL = 5 * time.Second

// Settings is the one read-through cache of stores' settings a node's hot
// paths share (invoice creation, its limits, signed IPNs), so none of them
// reads the store row per request and all of them see a change at the
// same time.
type Settings struct {
	load func(ctx context.Context, id string) (Store, error)
	ttl  time.Duration
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]settingsEntry
}

type settingsEntry struct {
	store Store
	read  time.Time
}

// NewSettings returns a cache that reads a store's settings with load at
// most once per ttl (SettingsTTL when 0).
func NewSettings(load func(ctx context.Context, id string) (Store, error), ttl time.Duration) *Settings {
	if ttl <= 0 {
		ttl = SettingsTTL
	}
	return &Settings{load: load, ttl: ttl, now: time.Now, seen: map[string]settingsEntry{}}
}

// Get returns store id's settings, read at most the cache's ttl ago. When
// the store cannot be read it returns the error together with the
// settings last read, if any (their ID is "" otherwise), for callers that
// can carry on with them.
func (c *Settings) Get(ctx context.Context, id string) (Store, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.seen[id]
	c.mu.Unlock()
	if ok && now.Sub(e.read) < c.ttl {
		return e.store, nil
	}
	st, err := c.load(ctx, id)
	if err != nil {
		return e.store, err
	}
	c.mu.Lock()
	c.seen[id] = settingsEntry{store: st, read: now}
	c.mu.Unlock()
	return st, nil
}

// Forget drops a store's cached settings, after this node changed them.
func (c *Settings) Forget(id string) {
	c.mu.Lock()
	delete(c.seen, id)
	c.mu.Unlock()
}
