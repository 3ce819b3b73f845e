package wallet

import (
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(key, 5)
	if c.Key() != key {
		t.Fatal("Key() is not the key given")
	}

	// Before any Fill, addresses are derived on demand.
	a, err := c.Address(0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != bip84Receive0 || c.Len() != 0 {
		t.Fatalf("Address(0) = %s with %d cached", a.Address, c.Len())
	}

	if err := c.Fill(0); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 5 {
		t.Fatalf("Len() = %d after Fill(0), want 5", c.Len())
	}
	a, err = c.Address(1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != bip84Receive1 || a.Index != 1 {
		t.Fatalf("Address(1) = %+v, want %s", a, bip84Receive1)
	}

	// A caller scribbling on the script does not change the cache.
	a.Script[0] = 0xff
	again, _ := c.Address(1)
	if again.Script[0] != 0x00 {
		t.Fatal("the cached script was changed through a returned Address")
	}

	// Moving on drops what is behind and derives what is ahead.
	if err := c.Fill(3); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 5 {
		t.Fatalf("Len() = %d after Fill(3), want 5", c.Len())
	}
	for i := uint32(0); i < 10; i++ {
		got, err := c.Address(i)
		if err != nil {
			t.Fatal(err)
		}
		want, err := key.Derive(i)
		if err != nil {
			t.Fatal(err)
		}
		if got.Address != want.Address || string(got.Script) != string(want.Script) {
			t.Errorf("Address(%d) = %s, Derive gives %s", i, got.Address, want.Address)
		}
	}

	// Near the end of the index space the window stops at 2^31-1.
	if err := c.Fill(1<<31 - 2); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Errorf("Len() = %d at the end of the index space, want 2", c.Len())
	}
}

func TestCacheLookaheadClamp(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(key, 0)
	if err := c.Fill(0); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Errorf("Len() = %d with lookahead 0, want 1", c.Len())
	}
}

// TestCacheConcurrent reads and fills one cache from several goroutines;
// run with -race.
func TestCacheConcurrent(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(key, 4)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range uint32(8) {
				if g == 0 {
					if err := c.Fill(i); err != nil {
						t.Error(err)
					}
				}
				a, err := c.Address(i % 2)
				if err != nil {
					t.Error(err)
					return
				}
				if want := []string{bip84Receive0, bip84Receive1}[i%2]; a.Address != want {
					t.Errorf("Address(%d) = %s, want %s", i%2, a.Address, want)
				}
			}
		})
	}
	wg.Wait()
}

// TestCacheWindowMoves: Fill moving forward a little, back, and far ahead
// always leaves exactly the window's addresses cached.
func TestCacheWindowMoves(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(key, 4)
	for _, next := range []uint32{0, 1, 3, 2, 0, 100, 101, 7} {
		if err := c.Fill(next); err != nil {
			t.Fatal(err)
		}
		if c.Len() != 4 {
			t.Fatalf("after Fill(%d): %d cached, want 4", next, c.Len())
		}
		for i := next; i < next+4; i++ {
			c.mu.Lock()
			a, ok := c.addrs[i]
			c.mu.Unlock()
			want, _ := key.Derive(i)
			if !ok || a.Address != want.Address {
				t.Fatalf("after Fill(%d): index %d cached=%v %s, want %s", next, i, ok, a.Address, want.Address)
			}
		}
	}
}

// TestCacheSetLookahead: a wider window takes effect at the next Fill.
func TestCacheSetLookahead(t *testing.T) {
	key, err := ParseKey(bip84Zpub, Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(key, 4)
	if err := c.Fill(0); err != nil || c.Len() != 4 {
		t.Fatalf("Fill(0): %d cached, %v", c.Len(), err)
	}
	c.SetLookahead(10)
	if err := c.Fill(2); err != nil || c.Len() != 10 {
		t.Fatalf("after SetLookahead(10), Fill(2): %d cached, %v", c.Len(), err)
	}
	a, _ := c.Address(11)
	want, _ := key.Derive(11)
	if a.Address != want.Address {
		t.Fatalf("Address(11) = %s, want %s", a.Address, want.Address)
	}
}
