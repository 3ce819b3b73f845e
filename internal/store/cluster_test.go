package store

import (
	"context"
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
