package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// maxLookahead bounds the memory a Cache holds.
const maxLookahead = 100_000

// Cache holds addresses derived ahead of use, so that a caller on a hot
// path, such as the store's writer picking an invoice's address inside its
// transaction, finds them ready. It is safe for concurrent use.
type Cache struct {
	key       *Key
	lookahead uint32

	mu    sync.Mutex
	addrs map[uint32]Address
	// lo and hi bound the window [lo, hi) that Fill last derived; the map
	// holds its addresses (an invalid child's index is absent). Tracking
	// the window lets Fill touch only the indexes that moved in or out.
	lo, hi uint32
}

// NewCache returns an empty cache over key that Fill keeps lookahead
// addresses ahead; lookahead is clamped to [1, 100000].
func NewCache(key *Key, lookahead int) *Cache {
	lookahead = min(max(lookahead, 1), maxLookahead)
	return &Cache{key: key, lookahead: uint32(lookahead), addrs: make(map[uint32]Address, lookahead)}
}

// SetLookahead changes how many addresses the next Fill keeps, clamped to
// [1, 100000].
func (c *Cache) SetLookahead(n int) {
	n = min(max(n, 1), maxLookahead)
	c.mu.Lock()
	c.lookahead = uint32(n)
	c.mu.Unlock()
}

// Key returns the key the cache derives from.
func (c *Cache) Key() *Key { return c.key }

// Address returns the address at index: from the cache when Fill derived it
// ahead, else derived now. Either way the result is the same.
func (c *Cache) Address(index uint32) (Address, error) {
	c.mu.Lock()
	a, ok := c.addrs[index]
	c.mu.Unlock()
	if ok {
		a.Script = bytes.Clone(a.Script)
		return a, nil
	}
	return c.key.Derive(index)
}

// Fill derives the addresses at next … next+lookahead-1 that are not cached
// yet and drops the others. Call it outside hot paths: at start-up with the
// next unused index, and again after each index is used. The derivation runs
// without holding the lock, so Address stays fast meanwhile; since addresses
// are deterministic, concurrent Fills can only leave extra entries, never
// wrong ones.
func (c *Cache) Fill(next uint32) error {
	c.mu.Lock()
	end := min(uint64(next)+uint64(c.lookahead), 1<<31)
	if next < c.lo || next >= c.hi {
		// The window moved back, or past everything cached: start over.
		clear(c.addrs)
		c.lo, c.hi = next, next
	}
	for i := c.lo; i < next; i++ {
		delete(c.addrs, i)
	}
	c.lo = next
	var missing []uint32
	for i := uint64(c.hi); i < end; i++ {
		missing = append(missing, uint32(i))
	}
	c.mu.Unlock()

	derived := make([]Address, 0, len(missing))
	for _, i := range missing {
		a, err := c.key.Derive(i)
		if errors.Is(err, ErrInvalidChild) {
			continue // Address reports it when the index is asked for.
		}
		if err != nil {
			return fmt.Errorf("fill address cache: %w", err)
		}
		derived = append(derived, a)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range derived {
		if a.Index >= c.lo {
			c.addrs[a.Index] = a
		}
	}
	if len(missing) > 0 && c.hi <= missing[0] {
		c.hi = uint32(end)
	}
	return nil
}

// Cached reports whether the address at index is derived already.
func (c *Cache) Cached(index uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.addrs[index]
	return ok
}

// Len returns how many addresses the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.addrs)
}
