package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// This file is the address allocation of the invoice writer: the gap-limit
// governor and the derivation of new addresses.

// storeState is a store's address bookkeeping while a batch is written.
type storeState struct {
	id       string
	gapLimit int64
	next     int64
	lastPaid int64
	moved    bool            // next changed and must be written back
	taken    map[string]bool // addresses this batch reuses already
}

// loadStoreState returns a store's address counters, read once per batch.
func loadStoreState(ctx context.Context, tx *sql.Tx, stores map[string]*storeState, id string) (*storeState, error) {
	if st, ok := stores[id]; ok {
		return st, nil
	}
	st := &storeState{id: id}
	err := tx.QueryRowContext(ctx, `SELECT gap_limit, next_index, last_paid_index FROM stores WHERE id = $1`, id).
		Scan(&st.gapLimit, &st.next, &st.lastPaid)
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
		if err := rows.Scan(&st.id, &st.gapLimit, &st.next, &st.lastPaid); err != nil {
			return fmt.Errorf("lock stores: %w", err)
		}
		stores[st.id] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock stores: %w", err)
	}
	return nil
}

// maxIndex is the last non-hardened derivation index.
const maxIndex = 1<<31 - 1

// allocate is the gap-limit governor. While fewer than the gap limit
// addresses in a row are unpaid, the invoice gets the next index. At the
// limit it reuses the address of the oldest expired invoice that never saw
// a payment, lies past the last paid index and is not in use by an open
// invoice; with none, it goes past the gap with the next index.
func allocate(ctx context.Context, tx *sql.Tx, st *storeState, r *createRequest) error {
	if run := st.next - 1 - st.lastPaid; run >= st.gapLimit {
		ok, err := reuse(ctx, tx, st, r)
		if err != nil || ok {
			return err
		}
	}
	if st.next > maxIndex {
		return fmt.Errorf("store %s has used every derivation index", st.id)
	}
	r.index, r.fresh, r.reused = uint32(st.next), true, false
	st.next++
	st.moved = true
	return nil
}

// reuseSQL lists the addresses the governor may hand out again, oldest
// invoice first.
const reuseSQL = `SELECT i.address, i.script, i.key_index FROM invoices i
	WHERE i.store_id = $1 AND i.status = 'expired' AND i.has_payments = FALSE AND i.key_index > $2
	AND NOT EXISTS (SELECT 1 FROM invoices o WHERE o.address = i.address AND o.status IN ` + openStatuses + `)
	ORDER BY i.created_at, i.seq LIMIT $3`

func reuse(ctx context.Context, tx *sql.Tx, st *storeState, r *createRequest) (bool, error) {
	// Addresses this batch already reused are not inserted yet, so the
	// query cannot see them: ask for enough rows to skip them.
	rows, err := tx.QueryContext(ctx, reuseSQL, st.id, st.lastPaid, len(st.taken)+1)
	if err != nil {
		return false, fmt.Errorf("find reusable address of store %s: %w", st.id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			address string
			script  []byte
			index   int64
		)
		if err := rows.Scan(&address, &script, &index); err != nil {
			return false, fmt.Errorf("find reusable address of store %s: %w", st.id, err)
		}
		if st.taken[address] {
			continue
		}
		if st.taken == nil {
			st.taken = make(map[string]bool)
		}
		st.taken[address] = true
		r.address, r.script, r.index, r.reused, r.fresh = address, script, uint32(index), true, false
		return true, nil
	}
	return false, rows.Err()
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
