package store

import (
	"encoding/json"
	"testing"

	"github.com/kassa-pay/kassa/internal/invoice"
)

// TestFillSnapshot checks that filling the hole gives exactly the bytes
// encoding/json writes for the finished invoice, so a layout change in
// invoice.Invoice or encoding/json cannot corrupt snapshots unnoticed.
func TestFillSnapshot(t *testing.T) {
	tests := []struct {
		name    string
		address string
		script  []byte
		index   uint32
		reused  bool
		change  func(inv *invoice.Invoice)
	}{
		{"plain", "bc1qexample", []byte{0x00, 0x14, 0xab}, 7, false, func(*invoice.Invoice) {}},
		{"reused, max index", "tb1p<&>\"quoted\"", []byte{}, 1<<31 - 1, true, func(*invoice.Invoice) {}},
		{"nil script", "bcrt1q", nil, 0, false, func(*invoice.Invoice) {}},
		{"hole-shaped fields", "bc1q", []byte{1}, 3, false, func(inv *invoice.Invoice) {
			inv.Fields.PosData = `"Address":"","Script":null,"KeyIndex":0,"Reused":false,`
			inv.Fields.Extra = json.RawMessage(`{"Address":"","Script":null,"KeyIndex":0,"Reused":false,"x":1}`)
			inv.Payments = []invoice.Payment{{Method: invoice.MethodBTC, TxID: "ab", Amount: 5}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newInvoice("store")
			tt.change(inv)
			notes := createdNote(inv)
			r := &createRequest{inv: *inv, notes: notes}
			if err := r.encode(); err != nil {
				t.Fatal(err)
			}
			got, ok := fillSnapshot(r.snapshot, tt.address, tt.script, tt.index, tt.reused)
			if !ok {
				t.Fatalf("no hole in %s", r.snapshot)
			}
			m := chain(inv)
			m.Destination, m.Script, m.KeyIndex, m.Reused, inv.Version = tt.address, tt.script, tt.index, tt.reused, 1
			want, err := json.Marshal(inv)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("filled snapshot\n got %s\nwant %s", got, want)
			}
		})
	}
	if _, ok := fillSnapshot([]byte(`{"ID":"x"}`), "a", nil, 0, false); ok {
		t.Error("fillSnapshot found a hole in a snapshot without one")
	}
}
