package chain

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// BenchmarkMatchBlock matches a 4,000-transaction block (2–3 P2WPKH
// outputs each, two of them paying watched scripts) against 1,000,000
// watched scripts.
func BenchmarkMatchBlock(b *testing.B) {
	const watched = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newWatchSet()
	id := []byte("inv-0000000000000000000") // 22 characters, like an invoice ID
	for i := range watched {
		binary.BigEndian.PutUint32(id[len(id)-4:], uint32(i))
		s.add(string(id), p2wpkh(uint32(i)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perScript := float64(after.HeapAlloc-before.HeapAlloc) / watched

	blk := &wire.MsgBlock{}
	for i := range 4000 {
		tx := wire.NewMsgTx(2)
		var prev [32]byte
		binary.LittleEndian.PutUint32(prev[:], uint32(i))
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev}, Witness: wire.TxWitness{make([]byte, 72), make([]byte, 33)}})
		for o := range 2 + i%2 {
			n := uint32(watched + i*3 + o) // not watched
			if i%2000 == 0 && o == 0 {
				n = uint32(i) // watched
			}
			tx.AddTxOut(&wire.TxOut{Value: 10_000, PkScript: p2wpkh(n)})
		}
		blk.Transactions = append(blk.Transactions, tx)
	}
	b.ResetTimer()
	for b.Loop() {
		if ms, hashes := s.matchBlock(blk); len(ms) != 2 || len(hashes) != 10_000 {
			b.Fatalf("matched %d outputs of %d, want 2 of 10000", len(ms), len(hashes))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/block")
	b.ReportMetric(perScript, "heapB/script")
}
