package notify

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// TestFollowerAwaitsGaps walks the hub's position in the outbox past
// missing positions: they are read again no more often than gapRecheck,
// forgotten after gapTimeout, and at most maxGaps are awaited, the newest.
func TestFollowerAwaitsGaps(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	f := &follower{gaps: map[int64]time.Time{}}
	gaps := func() []int64 { return slices.Sorted(maps.Keys(f.gaps)) }

	f.start(nil, t0)
	if f.cursor != 0 || len(f.gaps) != 0 {
		t.Fatalf("an empty outbox: cursor %d, gaps %v", f.cursor, gaps())
	}
	// 11 was taken by a transaction not yet committed.
	f.start([]int64{10, 12, 13}, t0)
	if f.cursor != 13 || !slices.Equal(gaps(), []int64{11}) {
		t.Fatalf("start: cursor %d, gaps %v", f.cursor, gaps())
	}
	f.see(12, t0)
	if f.cursor != 13 {
		t.Fatalf("a position behind the cursor moved it to %d", f.cursor)
	}
	t1 := t0.Add(time.Second)
	f.see(16, t1)
	if f.cursor != 16 || !slices.Equal(gaps(), []int64{11, 14, 15}) {
		t.Fatalf("after 16: cursor %d, gaps %v", f.cursor, gaps())
	}

	if due := f.due(t1); !slices.Equal(due, []int64{11, 14, 15}) {
		t.Fatalf("due: %v", due)
	}
	if due := f.due(t1.Add(gapRecheck / 2)); due != nil {
		t.Fatalf("due again before gapRecheck: %v", due)
	}
	delete(f.gaps, 14) // read: it committed
	// 11, awaited since t0, has been given up; 15, since t1, not yet.
	if due := f.due(t0.Add(gapTimeout + time.Second/2)); !slices.Equal(due, []int64{15}) {
		t.Fatalf("due after gapTimeout for 11: %v", due)
	}

	far := f.cursor + 5*maxGaps
	f.see(far, t1)
	g := gaps()
	if len(g) != maxGaps || g[0] != far-maxGaps || g[len(g)-1] != far-1 {
		t.Fatalf("after a jump to %d: %d gaps from %d to %d, want the %d before it", far, len(g), g[0], g[len(g)-1], maxGaps)
	}
}
