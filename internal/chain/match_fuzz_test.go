package chain

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// FuzzMatchBlock checks the block matcher against a plain model. The
// first input is a program of watch-set changes (add an invoice's script,
// replacing the invoice's previous script and the script's previous
// invoice; remove an invoice) over a small pool of invoices and scripts,
// run with the real hash or with one that makes most hashes collide, so
// the overflow indexes are exercised. The second is a block: raw bytes in
// the node's wire format when they decode, else a block built from them
// with outputs paying the pool's scripts. matchBlock must report exactly
// the outputs whose script the model watches, with the right txid, index,
// amount and invoice, and the script hash of every output in order.
func FuzzMatchBlock(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 1, 2, 1, 0}, []byte{1, 3, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 0, 2, 0, 3, 1}, []byte{1, 9, 9, 9, 0, 0, 1, 1, 2, 2})
	var blk bytes.Buffer
	b := buildBlock([]byte{4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	if err := b.Serialize(&blk); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{1, 0, 0, 0, 1, 1, 0, 2, 2}, append([]byte{0}, blk.Bytes()...))
	f.Fuzz(func(t *testing.T, program, block []byte) {
		s := newWatchSet()
		if len(program) > 0 && program[0]%2 == 1 {
			s.hash = func(seed maphash.Seed, k string) uint64 { return maphash.String(seed, k) % 3 }
		}
		model := map[string]string{} // script -> invoice
		for i := 1; i+2 < len(program); i += 3 {
			id := fuzzInvoices[int(program[i+1])%len(fuzzInvoices)]
			script := fuzzScripts[int(program[i+2])%len(fuzzScripts)]
			if program[i]%4 == 0 {
				s.remove(id)
				deleteInvoice(model, id)
				continue
			}
			s.add(id, script)
			if len(script) <= maxScript {
				deleteInvoice(model, id)
				model[string(script)] = id
			}
		}
		if s.len() != len(model) {
			t.Fatalf("watch set holds %d entries, the model %d", s.len(), len(model))
		}
		for script, id := range model {
			s.mu.RLock()
			got, ok := s.lookup([]byte(script))
			s.mu.RUnlock()
			if !ok || got != id {
				t.Fatalf("lookup(%x) = %q, %v; want %q", script, got, ok, id)
			}
		}

		var b wire.MsgBlock
		if len(block) == 0 || block[0]%2 != 0 || b.Deserialize(bytes.NewReader(block[1:])) != nil {
			b = *buildBlock(block)
		}
		ms, hashes := s.matchBlock(&b)
		var want []match
		k := 0
		for _, tx := range b.Transactions {
			for i, out := range tx.TxOut {
				if k >= len(hashes) || hashes[k] != s.scriptHash(out.PkScript) {
					t.Fatalf("output %d: script hash missing or wrong (%d hashes)", k, len(hashes))
				}
				k++
				if id, ok := model[string(out.PkScript)]; ok {
					want = append(want, match{op: outpoint{tx.TxHash(), uint32(i)}, amount: out.Value,
						invoiceID: id, script: s.scriptHash(out.PkScript)})
				}
			}
		}
		if k != len(hashes) {
			t.Fatalf("%d script hashes for %d outputs", len(hashes), k)
		}
		if fmt.Sprint(ms) != fmt.Sprint(want) {
			t.Fatalf("matched %v, want %v", ms, want)
		}
	})
}

// fuzzInvoices and fuzzScripts are the pools FuzzMatchBlock draws from:
// the scripts include an empty one, the longest the watch set holds and
// one byte more (never watched).
var (
	fuzzInvoices = []string{"inv-a", "inv-b", "inv-c", "", "inv-a2", "x"}
	fuzzScripts  = [][]byte{
		p2wpkh(1), p2wpkh(2), p2wpkh(3), {}, {0x51}, {0x00, 0x14},
		bytes.Repeat([]byte{0xab}, maxScript), bytes.Repeat([]byte{0xab}, maxScript+1),
	}
)

// deleteInvoice drops id's script from the model.
func deleteInvoice(model map[string]string, id string) {
	for script, owner := range model {
		if owner == id {
			delete(model, script)
		}
	}
}

// buildBlock builds a block from fuzz bytes: the first byte is the
// transaction count, then each transaction takes an output count and, per
// output, a script choice (a pool script or one nobody watches) and an
// amount.
func buildBlock(data []byte) *wire.MsgBlock {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	b := &wire.MsgBlock{}
	ntx := int(next()%6) + 1
	for i := range ntx {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: uint32(i)}})
		for range int(next() % 5) {
			c := int(next())
			script := p2wpkh(uint32(1000 + c))
			if c%3 != 0 {
				script = fuzzScripts[c%len(fuzzScripts)]
			}
			tx.AddTxOut(&wire.TxOut{Value: int64(next()) * 1000, PkScript: script})
		}
		b.Transactions = append(b.Transactions, tx)
	}
	return b
}
