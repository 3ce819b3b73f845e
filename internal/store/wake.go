package store

import "sync"

// wake is a broadcast: every channel handed out by ch is closed by the next
// fire. Consumers take a channel, do their work, then wait on it, so a
// commit that lands while they work is never missed.
type wake struct {
	mu sync.Mutex
	c  chan struct{}
}

func (w *wake) ch() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c == nil {
		w.c = make(chan struct{})
	}
	return w.c
}

func (w *wake) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		close(w.c)
		w.c = nil
	}
}

// Committed returns a channel that is closed after the next write
// transaction of this DB commits: a new invoice, an invoice change and the
// outbox events they queued, a delivery recorded. Workers that read the
// outbox (IPN, email, the event stream) take it before they read and wait
// on it after, and poll slowly besides for other processes' commits (a CLI
// beside serve, other nodes).
func (db *DB) Committed() <-chan struct{} { return db.commits.ch() }
