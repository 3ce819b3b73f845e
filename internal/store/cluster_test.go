package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/testpg"
)

// TestListenCommitsWakesOtherNodes opens one PostgreSQL schema twice, as
// two nodes would, and checks that node a's outbox commits (an invoice
// created, an invoice changed) fire node b's Committed through NOTIFY,
// while a deployment in another schema is not woken. b never commits, so
// only a notification can close its channel.
func TestListenCommitsWakesOtherNodes(t *testing.T) {
	url := testpg.Schema(t)
	a := openDB(t, url)
	b := openDB(t, url)
	other := openDB(t, testpg.Schema(t))
	// ListenCommits fires once when it starts listening: take the
	// channels first.
	started, otherStarted := b.Committed(), other.Committed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = b.ListenCommits(ctx, nil); done <- struct{}{} }()
	go func() { _ = other.ListenCommits(ctx, nil); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	waitFired := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not wake its listener", what)
		}
	}
	waitFired(started, "starting to listen")
	waitFired(otherStarted, "starting to listen in another schema")
	otherWake := other.Committed()

	s := newStore(t, a, 0)
	wake := b.Committed()
	inv := newInvoice(s.ID)
	mustCreate(t, a, inv)
	waitFired(wake, "an invoice created on node a")

	wake = b.Committed()
	inv.Status, inv.UpdatedAt = invoice.StatusExpired, inv.UpdatedAt.Add(time.Minute)
	mustCommit(t, a, Change{Invoice: inv, Notes: []invoice.Notification{{Code: invoice.CodeExpired, Status: invoice.StatusExpired, At: inv.UpdatedAt}}})
	waitFired(wake, "an invoice change on node a")

	select {
	case <-otherWake:
		t.Fatal("a commit in one schema woke a deployment in another")
	default:
	}
	if tip, err := b.ProcessedTip(context.Background()); err != nil || tip != 0 {
		t.Fatalf("processed tip of an empty chain = %d, %v", tip, err)
	}
	if err := a.Commit(context.Background(), nil, &ChainUpdate{Rewind: NoRewind, Blocks: []ChainBlock{{Height: 7, Hash: "00ab"}}}); err != nil {
		t.Fatal(err)
	}
	if tip, err := b.ProcessedTip(context.Background()); err != nil || tip != 7 {
		t.Fatalf("processed tip = %d, %v; want 7", tip, err)
	}
}

// TestConcurrentCreationAcrossNodes has three nodes of one PostgreSQL
// schema create invoices in the same stores at once while a fourth pages
// through them with InvoicesAfter, as the leader's processor does. No
// derivation index may be handed out twice within a store, and the reader,
// which only ever moves forward, must see every invoice: creation batches
// of several nodes commit concurrently and out of sequence order, and
// InvoicesAfter must never step past a number still in flight.
func TestConcurrentCreationAcrossNodes(t *testing.T) {
	url := testpg.Schema(t)
	nodes := []*DB{openDB(t, url), openDB(t, url), openDB(t, url)}
	reader := openDB(t, url)
	var stores []string
	for range 5 {
		stores = append(stores, newStore(t, nodes[0], 1000).ID)
	}
	const perNode, callers = 300, 8
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*callers)
	for n, db := range nodes {
		for c := range callers {
			wg.Go(func() {
				for i := c; i < perNode; i += callers {
					inv := newInvoice(stores[(n+i)%len(stores)])
					if err := db.CreateInvoice(ctx, inv, createdNote(inv), testAddress); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	seen := map[string]bool{}
	var seq int64
	poll := func() {
		t.Helper()
		for {
			invs, last, err := reader.InvoicesAfter(ctx, seq, 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(invs) == 0 {
				return
			}
			for _, inv := range invs {
				seen[inv.ID] = true
			}
			seq = last
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(2 * time.Millisecond):
		}
		poll()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	poll()

	rows, err := reader.sql.QueryContext(ctx, `SELECT id, store_id, key_index FROM invoices`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	indexes := map[string]map[int64]bool{}
	total := 0
	for rows.Next() {
		var id, store string
		var index int64
		if err := rows.Scan(&id, &store, &index); err != nil {
			t.Fatal(err)
		}
		total++
		if indexes[store] == nil {
			indexes[store] = map[int64]bool{}
		}
		if indexes[store][index] {
			t.Errorf("store %s: index %d handed out twice", store, index)
		}
		indexes[store][index] = true
		if !seen[id] {
			t.Errorf("invoice %s (store %s, index %d) was committed but the reader paging with InvoicesAfter never saw it", id, store, index)
		}
	}
	if total != len(nodes)*perNode {
		t.Fatalf("%d invoices stored, %d created", total, len(nodes)*perNode)
	}
}
