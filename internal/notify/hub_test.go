package notify_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
)

// The hub's tests subscribe to invoices of a real store and commit their
// events through the gateway; what the event bus makes of the events on
// the wire (GET /events) is tested in package api.

// newHub returns a hub on the fixture's store, tuned by cfg.
func newHub(t *testing.T, f *fixture, cfg notify.HubConfig) *notify.Hub {
	t.Helper()
	cfg.Store, cfg.Log = f.db, f.log
	hub, err := notify.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hub
}

// subscribe subscribes to an invoice's events until the test ends.
func subscribe(t *testing.T, hub *notify.Hub, invoiceID string) *notify.Subscription {
	t.Helper()
	sub, err := hub.Subscribe(context.Background(), invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// nextBatch waits for a subscription's next batch of events.
func nextBatch(t *testing.T, sub *notify.Subscription) []*notify.Event {
	t.Helper()
	select {
	case batch := <-sub.Events():
		return batch
	case <-sub.Done():
		t.Fatalf("the subscription ended: %v", sub.Err())
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for events")
	}
	return nil
}

// ended waits for the hub to end a subscription and returns why.
func ended(t *testing.T, sub *notify.Subscription) error {
	t.Helper()
	select {
	case <-sub.Done():
		return sub.Err()
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the subscription to end")
	}
	return nil
}

// seqs returns the outbox positions of events.
func seqs(evs []*notify.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// lastSeq returns the outbox position of an invoice's latest event.
func (f *fixture) lastSeq(id string) int64 {
	f.t.Helper()
	evs, err := f.db.Outbox(context.Background(), id)
	if err != nil || len(evs) == 0 {
		f.t.Fatalf("the outbox of %s: %d events, %v", id, len(evs), err)
	}
	return evs[len(evs)-1].Seq
}

// TestHubFollowsAnInvoice subscribes to an invoice: the backlog is its
// current state or the events after a position, the subscription gets
// the invoice's new events and no other invoice's, and the event that
// leaves it final ends streams.
func TestHubFollowsAnInvoice(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b.URL(t), invoice.SpeedMedium)
		hub := newHub(t, f, notify.HubConfig{Poll: 50 * time.Millisecond})
		ctx := context.Background()
		inv, other := f.create(invoice.Fields{}), f.create(invoice.Fields{})
		sub := subscribe(t, hub, inv.ID)

		current, err := hub.Backlog(ctx, inv.ID, -1)
		if latest := f.lastSeq(inv.ID); err != nil || len(current) != 1 || current[0].Seq != latest {
			t.Fatalf("the current state: %v %v, want the latest event %d", seqs(current), err, latest)
		}
		if c := current[0]; c.Code != invoice.CodeCreated || c.Invoice.ID != inv.ID || c.Invoice.Status != invoice.StatusNew || c.Ends {
			t.Fatalf("the current state: code %d, invoice %s %s, ends %v", c.Code, c.Invoice.ID, c.Invoice.Status, c.Ends)
		}

		f.resend(other.ID)
		f.resend(inv.ID)
		resent := f.lastSeq(inv.ID)
		if got := nextBatch(t, sub); len(got) != 1 || got[0].Seq != resent || got[0].Code != invoice.CodeManuallyNotified {
			t.Fatalf("batch %v, want the resend %d alone", seqs(got), resent)
		}
		if back, err := hub.Backlog(ctx, inv.ID, current[0].Seq); err != nil || len(back) != 1 || back[0].Seq != resent {
			t.Fatalf("the backlog after %d: %v %v, want [%d]", current[0].Seq, seqs(back), err, resent)
		}

		if _, err := f.g.Act(ctx, inv.ID, invoice.Cancel{}); err != nil {
			t.Fatal(err)
		}
		got := nextBatch(t, sub)
		last := got[len(got)-1]
		if last.Invoice.Status != invoice.StatusExpired || !last.Ends || !notify.StreamEnds(&last.Invoice) {
			t.Fatalf("the cancellation: status %s, ends %v", last.Invoice.Status, last.Ends)
		}
	})
}

// TestHubFollowsInvoiceEventsOnly commits an event of another subject
// under a subscribed invoice's id (ids are random, so only a test makes
// one): the subscription does not get it.
func TestHubFollowsInvoiceEventsOnly(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	hub := newHub(t, f, notify.HubConfig{})
	inv := f.create(invoice.Fields{})
	sub := subscribe(t, hub, inv.ID)
	err := f.db.Unit(context.Background(), func(u *store.Unit) error {
		return u.Emit(store.Event{Subject: "refund", SubjectID: inv.ID, StoreID: f.storeID, Code: 9001, Name: "refund_created", At: time.Now(),
			Snapshot: map[string]string{"id": inv.ID}})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.resend(inv.ID)
	if got := nextBatch(t, sub); len(got) != 1 || got[0].Code != invoice.CodeManuallyNotified {
		t.Fatalf("batch %v, want the resend alone", seqs(got))
	}
}

// TestHubDropsASlowSubscription: of two subscriptions to one invoice, the
// one nobody reads is dropped once Buffer batches wait for it; the other
// goes on getting events.
func TestHubDropsASlowSubscription(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	const buffer = 2
	hub := newHub(t, f, notify.HubConfig{Buffer: buffer})
	inv := f.create(invoice.Fields{})
	slow := subscribe(t, hub, inv.ID)
	reader := subscribe(t, hub, inv.ID)
	for range buffer + 1 {
		// Each event is read before the next commits: a batch of its own.
		f.resend(inv.ID)
		nextBatch(t, reader)
	}
	if err := ended(t, slow); !errors.Is(err, notify.ErrDropped) {
		t.Fatalf("the slow subscription ended with %v, want ErrDropped", err)
	}
	f.resend(inv.ID)
	if got := nextBatch(t, reader); len(got) != 1 || reader.Err() != nil {
		t.Fatalf("the reader after the drop: %v, %v", seqs(got), reader.Err())
	}
}

// TestHubRunCloses: when Run's context ends, open subscriptions end with
// ErrHubClosed, new ones are refused, and Run returns with the hub's
// goroutines gone.
func TestHubRunCloses(t *testing.T) {
	f := newFixture(t, kassatest.SQLite.URL(t), invoice.SpeedMedium)
	hub := newHub(t, f, notify.HubConfig{})
	inv := f.create(invoice.Fields{})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	sub := subscribe(t, hub, inv.ID)
	f.resend(inv.ID)
	nextBatch(t, sub)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := ended(t, sub); !errors.Is(err, notify.ErrHubClosed) {
		t.Fatalf("the open subscription ended with %v, want ErrHubClosed", err)
	}
	if _, err := hub.Subscribe(context.Background(), inv.ID); !errors.Is(err, notify.ErrHubClosed) {
		t.Fatalf("a subscription after Run: %v, want ErrHubClosed", err)
	}
	waitFor(t, "the hub's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
