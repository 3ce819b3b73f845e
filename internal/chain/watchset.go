package chain

import (
	"hash/maphash"
	"sync"
	"unsafe"
)

// watchSet maps output scripts to the invoices watching them. It is built
// to hold a million entries in about a hundred bytes each: an entry's
// script and invoice ID share one string (a length byte, the script, the
// ID), and the two indexes map 64-bit hashes, not strings, to the entry's
// slot. A hash that collides with another entry's goes to a small overflow
// map keyed by the full string.
type watchSet struct {
	mu   sync.RWMutex
	seed maphash.Seed
	hash func(seed maphash.Seed, s string) uint64 // maphash.String; tests force collisions

	entries   []string          // packed entries; "" marks a free slot
	free      []uint32          // free slots
	byScript  map[uint64]uint32 // hash(script) -> slot
	byInvoice map[uint64]uint32 // hash(invoice ID) -> slot
	// Entries whose hash collided with another entry's.
	scriptOverflow  map[string]uint32
	invoiceOverflow map[string]uint32
}

func newWatchSet() *watchSet {
	return &watchSet{
		seed:            maphash.MakeSeed(),
		hash:            maphash.String,
		byScript:        make(map[uint64]uint32),
		byInvoice:       make(map[uint64]uint32),
		scriptOverflow:  make(map[string]uint32),
		invoiceOverflow: make(map[string]uint32),
	}
}

// maxScript is the longest script the watch set holds: its length is
// stored in one byte.
const maxScript = 255

func entryScript(e string) string  { return e[1 : 1+int(e[0])] }
func entryInvoice(e string) string { return e[1+int(e[0]):] }

// add makes invoiceID the watcher of script, replacing the invoice's
// previous script and the script's previous invoice. Scripts longer than
// 255 bytes are not standard outputs and are ignored.
func (s *watchSet) add(invoiceID string, script []byte) {
	if len(script) > maxScript {
		return
	}
	buf := make([]byte, 0, 1+len(script)+len(invoiceID))
	buf = append(buf, byte(len(script)))
	buf = append(buf, script...)
	buf = append(buf, invoiceID...)
	entry := string(buf)

	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, ok := s.findInvoice(invoiceID); ok {
		s.drop(slot)
	}
	if slot, ok := s.findScript(entryScript(entry)); ok {
		s.drop(slot)
	}
	var slot uint32
	if n := len(s.free); n > 0 {
		slot, s.free = s.free[n-1], s.free[:n-1]
		s.entries[slot] = entry
	} else {
		slot = uint32(len(s.entries))
		s.entries = append(s.entries, entry)
	}
	insert(s.byScript, s.scriptOverflow, s.hash(s.seed, entryScript(entry)), entryScript(entry), slot)
	insert(s.byInvoice, s.invoiceOverflow, s.hash(s.seed, invoiceID), invoiceID, slot)
}

func insert(primary map[uint64]uint32, overflow map[string]uint32, h uint64, key string, slot uint32) {
	if _, taken := primary[h]; taken {
		overflow[key] = slot
		return
	}
	primary[h] = slot
}

// remove stops watching for the invoice.
func (s *watchSet) remove(invoiceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, ok := s.findInvoice(invoiceID); ok {
		s.drop(slot)
	}
}

// drop deletes the entry in slot from both indexes and frees the slot.
func (s *watchSet) drop(slot uint32) {
	e := s.entries[slot]
	s.unindex(s.byScript, s.scriptOverflow, entryScript(e), slot, entryScript)
	s.unindex(s.byInvoice, s.invoiceOverflow, entryInvoice(e), slot, entryInvoice)
	s.entries[slot] = ""
	s.free = append(s.free, slot)
}

// unindex removes key's slot from an index; if it held the primary place,
// an overflow entry with the same hash takes it.
func (s *watchSet) unindex(primary map[uint64]uint32, overflow map[string]uint32, key string, slot uint32, part func(string) string) {
	h := s.hash(s.seed, key)
	if primary[h] != slot {
		delete(overflow, key)
		return
	}
	delete(primary, h)
	for k, o := range overflow {
		if s.hash(s.seed, k) == h {
			delete(overflow, k)
			primary[h] = o
			return
		}
	}
}

func (s *watchSet) findInvoice(invoiceID string) (uint32, bool) {
	if slot, ok := s.byInvoice[s.hash(s.seed, invoiceID)]; ok && entryInvoice(s.entries[slot]) == invoiceID {
		return slot, true
	}
	if len(s.invoiceOverflow) == 0 {
		return 0, false
	}
	slot, ok := s.invoiceOverflow[invoiceID]
	return slot, ok
}

func (s *watchSet) findScript(script string) (uint32, bool) {
	return s.findScriptHashed(s.hash(s.seed, script), script)
}

// findScriptHashed is findScript for a script whose hash the caller has
// computed already.
func (s *watchSet) findScriptHashed(h uint64, script string) (uint32, bool) {
	if slot, ok := s.byScript[h]; ok && entryScript(s.entries[slot]) == script {
		return slot, true
	}
	if len(s.scriptOverflow) == 0 {
		return 0, false
	}
	slot, ok := s.scriptOverflow[script]
	return slot, ok
}

// lookup returns the invoice watching script. The caller holds s.mu for
// reading (a block is matched under one lock).
func (s *watchSet) lookup(script []byte) (string, bool) {
	slot, ok := s.findScript(unsafeString(script))
	if !ok {
		return "", false
	}
	return entryInvoice(s.entries[slot]), true
}

// scriptHash returns the hash the watch set and the output indexes key a
// script by.
func (s *watchSet) scriptHash(script []byte) uint64 {
	return s.hash(s.seed, unsafeString(script))
}

func (s *watchSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries) - len(s.free)
}

// unsafeString views b as a string without copying, for lookups that do
// not keep it: matching a block must not allocate per output.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
