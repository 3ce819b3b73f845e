package bitauth

import (
	"container/list"
	"sync"
)

// keyCache is a bounded least-recently-used map from an X-Identity hex
// string to its parsed key and SIN, so a repeat client costs one ECDSA
// verification and no point decompression or hashing. It is safe for
// concurrent use.
type keyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // Front is the most recently used; values are *cacheEntry.
	items map[string]*list.Element
}

type cacheEntry struct {
	hex string
	id  clientKey
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
}

// get returns the cached identity for hexKey and marks it recently used.
func (c *keyCache) get(hexKey string) (clientKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[hexKey]
	if !ok {
		return clientKey{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).id, true
}

// put stores id under hexKey, evicting the least recently used entry when
// the cache is full.
func (c *keyCache) put(hexKey string, id clientKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[hexKey]; ok {
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).hex)
	}
	c.items[hexKey] = c.order.PushFront(&cacheEntry{hex: hexKey, id: id})
}

// len returns the number of cached keys.
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
