package leader

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/testpg"
)

// node is one Elector under test with its running term's state.
type node struct {
	e      *Elector
	cancel context.CancelFunc
	done   chan error
	// leading is set while its lead function runs.
	leading atomic.Bool
}

// cluster runs electors against one schema and counts how many lead at
// once.
type cluster struct {
	t       *testing.T
	url     string
	nodes   []*node
	mu      sync.Mutex
	active  int
	overlap int // terms that started while another node's term ran
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, url: testpg.Schema(t)}
	for i := range n {
		c.start(fmt.Sprintf("n%d", i))
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.cancel()
			<-nd.done
		}
	})
	return c
}

func (c *cluster) start(id string) *node {
	ctx, cancel := context.WithCancel(context.Background())
	nd := &node{cancel: cancel, done: make(chan error, 1)}
	nd.e = New(Config{URL: c.url, NodeID: id, Retry: 100 * time.Millisecond, Check: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go func() {
		nd.done <- nd.e.Run(ctx, func(ctx context.Context) error {
			c.mu.Lock()
			if c.active > 0 {
				c.overlap++
			}
			c.active++
			c.mu.Unlock()
			nd.leading.Store(true)
			<-ctx.Done()
			nd.leading.Store(false)
			c.mu.Lock()
			c.active--
			c.mu.Unlock()
			return nil
		})
	}()
	c.nodes = append(c.nodes, nd)
	return nd
}

// leader waits for exactly one live node to report Leader (and run its
// work) and returns it; except is a node that must not be it.
func (c *cluster) leader(except *node) *node {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []*node
		for _, nd := range c.nodes {
			if nd.e.Role() == Leader && nd.leading.Load() {
				leaders = append(leaders, nd)
			}
		}
		if len(leaders) == 1 && leaders[0] != except {
			return leaders[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no single leader within 30 s")
	return nil
}

// TestOneLeaderAndHandover checks that of three nodes exactly one leads,
// that another takes over when the leader shuts down, and that terms never
// overlap on a clean handover.
func TestOneLeaderAndHandover(t *testing.T) {
	c := newCluster(t, 3)
	first := c.leader(nil)
	// The others stay followers while it leads.
	for range 5 {
		time.Sleep(150 * time.Millisecond)
		n := 0
		for _, nd := range c.nodes {
			if nd.e.Role() == Leader {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d leaders at once", n)
		}
	}
	first.cancel()
	if err := <-first.done; err != nil {
		t.Fatalf("Run after shutdown: %v", err)
	}
	first.done <- nil // for the cleanup
	if first.e.Role() != Follower || first.leading.Load() {
		t.Fatal("a stopped node still leads")
	}
	second := c.leader(first)
	if second.e.Terms() != 1 {
		t.Fatalf("new leader's terms = %d, want 1", second.e.Terms())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overlap != 0 {
		t.Fatalf("%d terms started while another ran", c.overlap)
	}
}

// TestStepDownOnLostConnection terminates the leader's session on the
// server, as a failover or network loss would: the leader must stop its
// work and another node must lead, and the old one may lead again later.
func TestStepDownOnLostConnection(t *testing.T) {
	c := newCluster(t, 2)
	admin, err := sql.Open("pgx", testpg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	first := c.leader(nil)
	var killed int
	err = admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		"kassa-leader:"+first.e.cfg.NodeID).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the leader's session: %d sessions, %v", killed, err)
	}
	second := c.leader(first)
	deadline := time.Now().Add(10 * time.Second)
	for first.leading.Load() || first.e.Role() != Follower {
		if time.Now().After(deadline) {
			t.Fatal("the old leader did not step down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The old leader campaigns again and wins when the new one goes.
	second.cancel()
	<-second.done
	second.done <- nil
	if got := c.leader(second); got != first {
		t.Fatal("the old leader did not take leadership back")
	}
	if first.e.Terms() != 2 {
		t.Fatalf("old leader's terms = %d, want 2", first.e.Terms())
	}
}

// TestSchemasElectSeparately checks that deployments in two schemas of one
// database each have their own leader.
func TestSchemasElectSeparately(t *testing.T) {
	a := newCluster(t, 2)
	b := newCluster(t, 2)
	a.leader(nil)
	b.leader(nil)
}
