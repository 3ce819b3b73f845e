package wallet

import (
	"errors"
	"fmt"
	"testing"
)

// TestGovernor is the gap-limit governor's rule, step by step: fresh
// indexes below the gap, the oldest reusable address at it (never one the
// batch already reused), past the gap when there is none, and the end of
// the branch.
func TestGovernor(t *testing.T) {
	pool := []Reusable{{Address: "a3", Index: 3}, {Address: "a5", Index: 5}}
	var asked []int
	candidates := func(n int) ([]Reusable, error) {
		asked = append(asked, n)
		return pool[:min(n, len(pool))], nil
	}
	g := Governor{Limit: 3, Next: 5, LastPaid: 2} // indexes 3 and 4 unpaid: a run of 2
	var got []string
	for range 5 {
		a, err := g.Allocate(candidates)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a.Fresh && !a.Reused:
			got = append(got, fmt.Sprintf("fresh %d", a.Index))
		case a.Reused && !a.Fresh:
			got = append(got, fmt.Sprintf("reuse %s/%d", a.Address, a.Index))
		default:
			t.Fatalf("allocation %+v is neither fresh nor reused", a)
		}
	}
	want := []string{"fresh 5", "reuse a3/3", "reuse a5/5", "fresh 6", "fresh 7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("allocations = %v, want %v", got, want)
	}
	if fmt.Sprint(asked) != fmt.Sprint([]int{1, 2, 3, 3}) {
		t.Errorf("candidates asked for %v, want [1 2 3 3]", asked)
	}

	// Below the gap the store is never asked for candidates.
	g = Governor{Limit: 20, Next: 0, LastPaid: -1}
	if _, err := g.Allocate(func(int) ([]Reusable, error) { return nil, errors.New("asked") }); err != nil {
		t.Errorf("below the gap: %v", err)
	}
	// The store's error stops the allocation.
	g = Governor{Limit: 0, Next: 0, LastPaid: -1}
	boom := errors.New("boom")
	if _, err := g.Allocate(func(int) ([]Reusable, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("candidates' error = %v", err)
	}
	// The branch ends at the last non-hardened index.
	g = Governor{Limit: 1 << 40, Next: MaxIndex, LastPaid: MaxIndex}
	if a, err := g.Allocate(nil); err != nil || a.Index != MaxIndex {
		t.Errorf("last index: %+v, %v", a, err)
	}
	if _, err := g.Allocate(nil); err == nil {
		t.Error("an index past the last one was given")
	}
}
