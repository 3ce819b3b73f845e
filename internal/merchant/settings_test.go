package merchant

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSettings: a store's settings are read once per ttl, Forget reads
// them again at once, and a failed read keeps the last settings read.
func TestSettings(t *testing.T) {
	reads, fail := 0, false
	name := "Shop"
	c := NewSettings(func(_ context.Context, id string) (Store, error) {
		reads++
		if fail {
			return Store{}, errors.New("database down")
		}
		return Store{ID: id, Name: name}, nil
	}, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	get := func() Store {
		t.Helper()
		st, err := c.Get(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := get(); st.Name != "Shop" || reads != 1 {
		t.Fatalf("first read: %+v after %d reads", st, reads)
	}
	name = "Renamed"
	if st := get(); st.Name != "Shop" || reads != 1 {
		t.Fatalf("within the ttl: %+v after %d reads", st, reads)
	}
	now = now.Add(time.Minute)
	if st := get(); st.Name != "Renamed" || reads != 2 {
		t.Fatalf("after the ttl: %+v after %d reads", st, reads)
	}
	name = "Again"
	c.Forget("s1")
	if st := get(); st.Name != "Again" || reads != 3 {
		t.Fatalf("after Forget: %+v after %d reads", st, reads)
	}
	now, fail = now.Add(time.Minute), true
	if st, err := c.Get(ctx, "s1"); err == nil || st.Name != "Again" {
		t.Fatalf("failed read: %+v, %v; want the last settings and the error", st, err)
	}
	if st, err := c.Get(ctx, "other"); err == nil || st.ID != "" {
		t.Fatalf("failed first read: %+v, %v", st, err)
	}
}
