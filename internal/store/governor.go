package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/kassa-pay/kassa/internal/wallet"
)

// This file is the address allocation of the invoice writer: the gap-limit
// governor and the derivation of new addresses.

// storeState is a store's address bookkeeping while a batch is written:
// its gap-limit governor (package wallet decides; the store supplies the
// counters and the reusable addresses).
type storeState struct {
	id    string
	gov   wallet.Governor
	moved bool // gov.Next changed and must be written back
}

// loadStoreState returns a store's address counters, read once per batch.
func loadStoreState(ctx context.Context, tx *sql.Tx, stores map[string]*storeState, id string) (*storeState, error) {
	if st, ok := stores[id]; ok {
		return st, nil
	}
	st := &storeState{id: id}
	err := tx.QueryRowContext(ctx, `SELECT gap_limit, next_index, last_paid_index FROM stores WHERE id = $1`, id).
		Scan(&st.gov.Limit, &st.gov.Next, &st.gov.LastPaid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load store %s: %w", id, err)
	}
	stores[id] = st
	return st, nil
}

// lockStores locks the rows of the stores reqs create invoices in, in id
// order (the order Commit updates them in, so the two cannot deadlock),
// and loads their address counters into stores (PostgreSQL only).
func lockStores(ctx context.Context, tx *sql.Tx, stores map[string]*storeState, reqs []*createRequest) error {
	ids := make([]string, 0, len(reqs))
	for _, r := range reqs {
		ids = append(ids, r.inv.StoreID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := tx.QueryContext(ctx, `SELECT id, gap_limit, next_index, last_paid_index FROM stores
		WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return fmt.Errorf("lock stores: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st := &storeState{}
		if err := rows.Scan(&st.id, &st.gov.Limit, &st.gov.Next, &st.gov.LastPaid); err != nil {
			return fmt.Errorf("lock stores: %w", err)
		}
		stores[st.id] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock stores: %w", err)
	}
	return nil
}

// allocate gives a request its address by the store's gap-limit
// governor: the next index, or an address to reuse from reuseSQL's
// candidates.
func allocate(ctx context.Context, tx *sql.Tx, st *storeState, r *createRequest) error {
	a, err := st.gov.Allocate(func(n int) ([]wallet.Reusable, error) { return reusable(ctx, tx, st, n) })
	if err != nil {
		return fmt.Errorf("allocate an address of store %s: %w", st.id, err)
	}
	r.index, r.fresh, r.reused = a.Index, a.Fresh, a.Reused
	if a.Reused {
		r.address, r.script = a.Address, a.Script
	}
	st.moved = st.moved || a.Fresh
	return nil
}

// reuseSQL lists the addresses the governor may hand out again, oldest
// invoice first: expired invoices that never saw a payment, past the last
// paid index, whose address no open invoice uses.
const reuseSQL = `SELECT i.address, i.script, i.key_index FROM invoices i
	WHERE i.store_id = $1 AND i.status = 'expired' AND i.has_payments = FALSE AND i.key_index > $2
	AND NOT EXISTS (SELECT 1 FROM invoices o WHERE o.address = i.address AND o.status IN ` + openStatuses + `)
	ORDER BY i.created_at, i.seq LIMIT $3`

// reusable returns up to n of a store's reusable addresses.
func reusable(ctx context.Context, tx *sql.Tx, st *storeState, n int) ([]wallet.Reusable, error) {
	rows, err := tx.QueryContext(ctx, reuseSQL, st.id, st.gov.LastPaid, n)
	if err != nil {
		return nil, fmt.Errorf("find reusable addresses of store %s: %w", st.id, err)
	}
	defer rows.Close()
	var out []wallet.Reusable
	for rows.Next() {
		var (
			c     wallet.Reusable
			index int64
		)
		if err := rows.Scan(&c.Address, &c.Script, &index); err != nil {
			return nil, fmt.Errorf("find reusable addresses of store %s: %w", st.id, err)
		}
		c.Index = uint32(index)
		out = append(out, c)
	}
	return out, rows.Err()
}

// deriveAddresses calls the AddressFunc of every freshly allocated index,
// spread over the CPUs. It returns the index of the first request whose
// derivation failed.
func deriveAddresses(reqs []*createRequest) (int, error) {
	var fresh []int
	for i, r := range reqs {
		if r.fresh {
			fresh = append(fresh, i)
		}
	}
	errs := make([]error, len(reqs))
	derive := func(i int) {
		r := reqs[i]
		r.address, r.script, errs[i] = r.addr(r.inv.StoreID, r.index)
		if errs[i] != nil {
			errs[i] = fmt.Errorf("derive address %d of store %s: %w", r.index, r.inv.StoreID, errs[i])
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(fresh))
	if workers <= 1 || len(fresh) < 8 {
		for _, i := range fresh {
			derive(i)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for k := w; k < len(fresh); k += workers {
					derive(fresh[k])
				}
			})
		}
		wg.Wait()
	}
	for _, i := range fresh {
		if errs[i] != nil {
			return i, errs[i]
		}
	}
	return -1, nil
}
