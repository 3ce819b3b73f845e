package store

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// snapshotHole is what encoding/json writes for the address fields of an
// on-chain payment method that has no address yet. CreateInvoice encodes
// the outbox snapshot in the caller's goroutine, before the writer
// allocates the address, with this hole in it; the writer fills the hole.
// The methods sit before every free-form field of invoice.Invoice, the
// on-chain method is the only one without a destination when the invoice
// is written, and a quote inside a string value is always escaped, so the
// first match is the structural one.
var snapshotHole = []byte(`"Destination":"","Script":null,"KeyIndex":0,"Reused":false}`)

// fillSnapshot returns snap with its address hole filled: the bytes
// json.Marshal writes for the invoice with these address fields. It
// reports false when snap has no hole.
func fillSnapshot(snap []byte, address string, script []byte, index uint32, reused bool) ([]byte, bool) {
	at := bytes.Index(snap, snapshotHole)
	if at < 0 {
		return nil, false
	}
	a, err := json.Marshal(address)
	if err != nil {
		return nil, false
	}
	s, err := json.Marshal(script)
	if err != nil {
		return nil, false
	}
	out := make([]byte, 0, len(snap)+len(a)+len(s))
	out = append(out, snap[:at]...)
	out = append(out, `"Destination":`...)
	out = append(out, a...)
	out = append(out, `,"Script":`...)
	out = append(out, s...)
	out = append(out, `,"KeyIndex":`...)
	out = strconv.AppendUint(out, uint64(index), 10)
	out = append(out, `,"Reused":`...)
	out = strconv.AppendBool(out, reused)
	out = append(out, '}')
	return append(out, snap[at+len(snapshotHole):]...), true
}
