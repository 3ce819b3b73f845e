package chain

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func TestWatchSet(t *testing.T) {
	hashes := map[string]func(maphash.Seed, string) uint64{
		"maphash": maphash.String,
		// Every key collides: the overflow maps do all the work.
		"colliding": func(maphash.Seed, string) uint64 { return 7 },
	}
	for name, h := range hashes {
		t.Run(name, func(t *testing.T) {
			s := newWatchSet()
			s.hash = h
			look := func(script []byte) string {
				id, _ := s.lookup(script)
				return id
			}
			for i := range 50 {
				s.add(fmt.Sprintf("inv-%d", i), p2wpkh(uint32(i)))
			}
			if s.len() != 50 || look(p2wpkh(7)) != "inv-7" || look(p2wpkh(99)) != "" {
				t.Fatalf("after adds: len %d, 7 -> %q", s.len(), look(p2wpkh(7)))
			}
			// A script moves to a new invoice; unwatching the old one
			// leaves it alone.
			s.add("inv-new", p2wpkh(7))
			s.remove("inv-7")
			if look(p2wpkh(7)) != "inv-new" || s.len() != 50 {
				t.Fatalf("moved script: %q, len %d", look(p2wpkh(7)), s.len())
			}
			// An invoice gets a new script; the old one is unwatched.
			s.add("inv-3", p2wpkh(1003))
			if look(p2wpkh(3)) != "" || look(p2wpkh(1003)) != "inv-3" || s.len() != 50 {
				t.Fatalf("re-watched invoice: %q %q len %d", look(p2wpkh(3)), look(p2wpkh(1003)), s.len())
			}
			for i := range 50 {
				s.remove(fmt.Sprintf("inv-%d", i))
			}
			if s.len() != 1 || look(p2wpkh(7)) != "inv-new" {
				t.Fatalf("after removes: len %d", s.len())
			}
			s.remove("inv-new")
			s.remove("inv-unknown")
			if s.len() != 0 || len(s.byScript)+len(s.byInvoice)+len(s.scriptOverflow)+len(s.invoiceOverflow) != 0 {
				t.Fatalf("not empty: %d %d %d %d", len(s.byScript), len(s.byInvoice), len(s.scriptOverflow), len(s.invoiceOverflow))
			}
			// Freed slots are reused.
			s.add("inv-x", p2wpkh(5))
			if len(s.entries) != 50 || look(p2wpkh(5)) != "inv-x" {
				t.Fatalf("slot reuse: %d entries", len(s.entries))
			}
		})
	}
}
