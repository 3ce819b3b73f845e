package chain

import (
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// outpoint names a transaction output.
type outpoint struct {
	txid chainhash.Hash
	vout uint32
}

// match is one output paying a watched script.
type match struct {
	op        outpoint
	amount    int64
	invoiceID string
	script    uint64 // the watch set's hash of the output script
}

// matchTx appends to dst the outputs of tx that pay watched scripts, and
// to hashes the hash of every output's script in output order (the index
// of outputs a late Watch is matched against). The txid is computed only
// when an output matches; the caller holds the watch set's read lock.
func (s *watchSet) matchTx(dst []match, hashes []uint64, tx *wire.MsgTx) ([]match, []uint64) {
	var txid chainhash.Hash
	hashed := false
	for i, out := range tx.TxOut {
		key := unsafeString(out.PkScript)
		h := s.hash(s.seed, key)
		hashes = append(hashes, h)
		slot, ok := s.findScriptHashed(h, key)
		if !ok {
			continue
		}
		if !hashed {
			txid, hashed = tx.TxHash(), true
		}
		dst = append(dst, match{op: outpoint{txid, uint32(i)}, amount: out.Value,
			invoiceID: entryInvoice(s.entries[slot]), script: h})
	}
	return dst, hashes
}

// matchBlock returns the outputs of the block that pay watched scripts
// and the hashes of all its output scripts.
func (s *watchSet) matchBlock(b *wire.MsgBlock) ([]match, []uint64) {
	n := 0
	for _, tx := range b.Transactions {
		n += len(tx.TxOut)
	}
	hashes := make([]uint64, 0, n)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ms []match
	for _, tx := range b.Transactions {
		ms, hashes = s.matchTx(ms, hashes, tx)
	}
	return ms, hashes
}
