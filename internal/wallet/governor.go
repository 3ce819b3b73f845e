package wallet

import "fmt"

// MaxIndex is the last non-hardened derivation index.
const MaxIndex = 1<<31 - 1

// Reusable is an address the gap-limit governor may hand out again: an
// expired invoice's that never saw a payment, past the last paid index,
// and not in use by an open invoice (the store finds them, oldest first).
type Reusable struct {
	Address string
	Script  []byte
	Index   uint32
}

// Allocation is the governor's answer for one invoice: a fresh index,
// whose address the caller derives, or a reused address.
type Allocation struct {
	Index   uint32
	Fresh   bool   // Index is new: derive its address
	Reused  bool   // Address and Script are a reused address's
	Address string // set when Reused
	Script  []byte // set when Reused
}

// Governor is the gap-limit governor of one store's receive branch while a
// batch of invoices is given addresses. Wallets only look a fixed number
// of unused addresses ahead (the gap limit, usually 20): while fewer than
// Limit addresses in a row after the last paid one are unpaid, an invoice
// gets the next index; at the limit it reuses the address of the oldest
// expired invoice that never saw a payment and that no open invoice uses;
// with none, it goes past the gap with the next index.
type Governor struct {
	Limit    int64 // the store's gap limit
	Next     int64 // the next fresh index
	LastPaid int64 // the highest index that received a payment, -1 for none

	taken map[string]bool // addresses this batch reused already
}

// Allocate gives the next invoice its address. candidates returns up to n
// reusable addresses, oldest first; it is only called at the gap limit,
// and asked for enough to skip the ones this batch reused already.
func (g *Governor) Allocate(candidates func(n int) ([]Reusable, error)) (Allocation, error) {
	if run := g.Next - 1 - g.LastPaid; run >= g.Limit {
		cs, err := candidates(len(g.taken) + 1)
		if err != nil {
			return Allocation{}, err
		}
		for _, c := range cs {
			if g.taken[c.Address] {
				continue
			}
			if g.taken == nil {
				g.taken = make(map[string]bool)
			}
			g.taken[c.Address] = true
			return Allocation{Index: c.Index, Reused: true, Address: c.Address, Script: c.Script}, nil
		}
	}
	if g.Next > MaxIndex {
		return Allocation{}, fmt.Errorf("every derivation index is used")
	}
	a := Allocation{Index: uint32(g.Next), Fresh: true}
	g.Next++
	return a, nil
}
