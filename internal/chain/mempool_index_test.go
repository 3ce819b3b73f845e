package chain

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
)

func txidOf(n uint32) chainhash.Hash {
	var h chainhash.Hash
	binary.LittleEndian.PutUint32(h[:], n)
	return h
}

func TestMempoolIndex(t *testing.T) {
	x := newMempoolIndex()
	t1, t2, t3 := txidOf(1), txidOf(2), txidOf(3)
	// Hash 7 is paid by three transactions, twice by t1 (a reused
	// script or a collision).
	x.add(t1, []uint64{7, 8, 7})
	x.add(t2, []uint64{9, 7})
	x.add(t3, []uint64{7})
	x.add(t1, []uint64{1, 2}) // examined twice: unchanged
	find := func(h uint64) []outpoint {
		got := x.find(nil, h)
		slices.SortFunc(got, func(a, b outpoint) int {
			if c := int(a.txid[0]) - int(b.txid[0]); c != 0 {
				return c
			}
			return int(a.vout) - int(b.vout)
		})
		return got
	}
	if got, want := find(7), []outpoint{{t1, 0}, {t1, 2}, {t2, 1}, {t3, 0}}; !slices.Equal(got, want) {
		t.Fatalf("find(7) = %v, want %v", got, want)
	}
	if got := find(1); len(got) != 0 {
		t.Fatalf("find(1) = %v, want nothing", got)
	}
	x.drop(t1)
	if got, want := find(7), []outpoint{{t2, 1}, {t3, 0}}; !slices.Equal(got, want) {
		t.Fatalf("after dropping t1: find(7) = %v, want %v", got, want)
	}
	if got := find(8); len(got) != 0 || x.has(t1) {
		t.Fatalf("after dropping t1: find(8) = %v, has %v", got, x.has(t1))
	}
	x.retain(map[chainhash.Hash]struct{}{t3: {}})
	if got, want := find(7), []outpoint{{t3, 0}}; !slices.Equal(got, want) {
		t.Fatalf("after retain: find(7) = %v, want %v", got, want)
	}
	x.drop(t3)
	x.drop(t3)
	if txs, outs := x.len(); txs != 0 || outs != 0 || len(x.more) != 0 {
		t.Fatalf("not empty: %d txs, %d outputs, %d overflow", txs, outs, len(x.more))
	}
}

// BenchmarkMempoolIndex indexes a 200,000-transaction mempool (two
// outputs each, one in ten paying a reused script) and reports its heap
// per output; each iteration examines a new transaction and confirms the
// oldest (a block's worth of removals costs one pass over the reused
// script's outputs; one at a time they would be quadratic).
func BenchmarkMempoolIndex(b *testing.B) {
	const txs = 200_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := newMempoolIndex()
	for i := range uint32(txs) {
		h := []uint64{uint64(i)<<1 | 1<<40, uint64(i) << 1}
		if i%10 == 0 {
			h[1] = 42
		}
		x.add(txidOf(i), h)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perOutput := float64(after.HeapAlloc-before.HeapAlloc) / (2 * txs)
	runtime.KeepAlive(x)
	b.ResetTimer()
	i := uint32(txs)
	gone := make(map[chainhash.Hash]struct{})
	for b.Loop() {
		gone[txidOf(i-txs)] = struct{}{}
		if len(gone) == 3000 {
			x.dropAll(gone)
			clear(gone)
		}
		h := []uint64{uint64(i)<<1 | 1<<40, uint64(i) << 1}
		if i%10 == 0 {
			h[1] = 42
		}
		x.add(txidOf(i), h)
		i++
	}
	b.ReportMetric(perOutput, "heapB/output")
}
