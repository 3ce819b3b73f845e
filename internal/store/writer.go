package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/pglock"
)

// AddressFunc derives the receive address and its output script at a
// derivation index of a store's key. The writer calls it inside the
// creation transaction, possibly from several goroutines at once.
type AddressFunc func(storeID string, index uint32) (address string, script []byte, err error)

// createRequest is one CreateInvoice call waiting for the writer.
type createRequest struct {
	ctx   context.Context
	inv   invoice.Invoice // the caller's invoice, copied
	notes []invoice.Notification
	addr  AddressFunc
	done  chan error // buffered; the writer sends exactly once

	// The caller encodes what does not depend on the address, so that
	// work runs in parallel and while the writer waits for a commit.
	args     []any    // insertInvoiceSQL arguments, address fields unset
	snapshot []byte   // the invoice as JSON with snapshotHole in it
	noteIDs  []string // an outbox event id per note

	// The writer fills these; the caller reads them after done.
	address string
	script  []byte
	index   uint32
	reused  bool
	fresh   bool // index is newly allocated and its address must be derived
}

// CreateInvoice stores a new invoice with its notifications (normally the
// 1001 invoice_created) in the outbox, giving it an address on the way:
// the next derivation index of its store, or under the gap-limit governor
// the address of an expired, never-paid invoice. inv must offer the
// on-chain method (invoice.MethodBTC); on success its Destination, Script,
// KeyIndex and Reused are set, and inv.Version (1). The caller sets every
// other field, the id included.
//
// Calls from many goroutines are group-committed: one writer goroutine
// stores every invoice that arrived while the previous batch committed in
// one transaction. One invoice's failure (ErrDuplicate for a guid already
// used in the store, ErrNotFound for an unknown store, an AddressFunc
// error) fails only its own call. If ctx ends while the batch holding the
// invoice commits, the call returns ctx's error and the invoice may still
// be stored.
func (db *DB) CreateInvoice(ctx context.Context, inv *invoice.Invoice, notes []invoice.Notification, addr AddressFunc) error {
	if inv.ID == "" || inv.StoreID == "" {
		return errors.New("create invoice: id and store id are required")
	}
	if addr == nil {
		return fmt.Errorf("create invoice %s: no AddressFunc", inv.ID)
	}
	r := &createRequest{ctx: ctx, inv: *inv, notes: notes, addr: addr, done: make(chan error, 1)}
	if err := r.encode(); err != nil {
		return fmt.Errorf("create invoice %s: %w", inv.ID, err)
	}
	select {
	case db.reqs <- r:
	case <-db.quit:
		return fmt.Errorf("create invoice %s: %w", inv.ID, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("create invoice %s: %w", inv.ID, ctx.Err())
	}
	select {
	case err := <-r.done:
		if err != nil {
			return fmt.Errorf("create invoice %s: %w", inv.ID, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("create invoice %s: %w", inv.ID, ctx.Err())
	}
	r.allocated(inv)
	return nil
}

// allocated sets the address the writer allocated on inv's on-chain
// method, and the version a new invoice has.
func (r *createRequest) allocated(inv *invoice.Invoice) {
	if m := inv.Method(invoice.MethodBTC); m != nil {
		m.Destination, m.Script, m.KeyIndex, m.Reused = r.address, r.script, r.index, r.reused
	}
	inv.Version = 1
}

// encode prepares the request's row and outbox arguments.
func (r *createRequest) encode() error {
	inv := r.inv
	inv.Methods = slices.Clone(inv.Methods)
	chain, err := onChain(&inv)
	if err != nil {
		return err
	}
	chain.Destination, chain.Script, chain.KeyIndex, chain.Reused, inv.Version = "", nil, 0, false, 1
	if r.args, err = insertArgs(&inv); err != nil {
		return err
	}
	if len(r.notes) == 0 {
		return nil
	}
	if r.snapshot, err = json.Marshal(&inv); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	r.noteIDs = make([]string, len(r.notes))
	for i := range r.noteIDs {
		r.noteIDs[i] = auth.NewID()
	}
	return nil
}

// start launches the writer goroutine (and on SQLite the checkpointer);
// Close stops them.
func (db *DB) start() {
	db.reqs = make(chan *createRequest)
	db.quit = make(chan struct{})
	db.done.Go(db.run)
	if db.dialect == SQLite {
		db.done.Go(db.checkpointer)
	}
}

// run is the writer: it takes one request, then every other request
// already waiting (up to MaxBatch), and commits them together.
func (db *DB) run() {
	batch := make([]*createRequest, 0, db.opts.MaxBatch)
	for {
		select {
		case r := <-db.reqs:
			batch = append(batch[:0], r)
		case <-db.quit:
			return
		}
	fill:
		for len(batch) < db.opts.MaxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch stores a batch and answers every caller. When one invoice
// fails, the transaction is rolled back and retried without it; a failed
// multi-row insert is first retried row by row to learn which one failed.
func (db *DB) commitBatch(batch []*createRequest) {
	pending := make([]*createRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		pending = append(pending, r)
	}
	// Multi-row INSERTs save PostgreSQL a round trip per row; SQLite has
	// no round trips and parses a long statement more slowly than it
	// reuses a prepared one.
	bulk := db.dialect == Postgres && len(pending) > 1
	for len(pending) > 0 {
		failed, err := db.writeBatch(pending, bulk)
		switch {
		case errors.Is(err, errBulk):
			// Some row failed; go row by row to find it.
			bulk = false
			continue
		case err == nil:
			for _, r := range pending {
				r.done <- nil
			}
			return
		case failed < 0:
			for _, r := range pending {
				r.done <- err
			}
			return
		}
		pending[failed].done <- err
		pending = slices.Delete(pending, failed, failed+1)
	}
}

// writeBatch writes reqs in one transaction, with multi-row INSERTs when
// bulk is set. On failure it returns the index of the request at fault, or
// -1 when the failure is the transaction's own or, wrapping errBulk, a
// multi-row insert's.
func (db *DB) writeBatch(reqs []*createRequest, bulk bool) (failed int, err error) {
	ctx := context.Background()
	if db.dialect == SQLite {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	stores := make(map[string]*storeState)
	if db.dialect == Postgres {
		// Creation batches of several nodes run concurrently. Each holds
		// pglock.Create shared, which InvoicesAfter takes exclusively to
		// read a settled sequence, and locks its stores' rows, so no two
		// batches hand out one derivation index or reuse one address.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, pglock.Create); err != nil {
			return -1, fmt.Errorf("lock: %w", err)
		}
		if err := lockStores(ctx, tx, stores, reqs); err != nil {
			return -1, err
		}
	}

	// Allocate every invoice's address index (or reused address) first.
	for i, r := range reqs {
		st, err := loadStoreState(ctx, tx, stores, r.inv.StoreID)
		if err != nil {
			return i, err
		}
		if err := allocate(ctx, tx, st, r); err != nil {
			return i, err
		}
	}
	if i, err := deriveAddresses(reqs); err != nil {
		return i, err
	}

	if bulk {
		if err := db.insertBulk(ctx, tx, reqs); err != nil {
			return -1, err
		}
	} else {
		insInvoice, insOutbox, err := db.writerStatements(ctx, tx)
		if err != nil {
			return -1, err
		}
		for i, r := range reqs {
			if err := insertCreated(ctx, insInvoice, insOutbox, r); err != nil {
				return i, err
			}
		}
	}

	// Stores are updated in id order, the lock order Commit uses too.
	for _, id := range slices.Sorted(maps.Keys(stores)) {
		st := stores[id]
		if !st.moved {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stores SET next_index = $2 WHERE id = $1`, st.id, st.gov.Next); err != nil {
			return -1, fmt.Errorf("advance store %s: %w", st.id, err)
		}
	}
	if slices.ContainsFunc(reqs, func(r *createRequest) bool { return len(r.notes) > 0 }) {
		if err := db.notifyOutbox(ctx, tx); err != nil {
			return -1, err
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit: %w", err)
	}
	db.wrote.Store(true)
	db.commits.fire()
	return -1, nil
}

// writerStatements returns the writer's insert statements bound to tx.
// They are prepared once on the pool and reused on every connection that
// has seen them.
func (db *DB) writerStatements(ctx context.Context, tx *sql.Tx) (insInvoice, insOutbox *sql.Stmt, err error) {
	if db.insInvoice == nil {
		if db.insInvoice, err = db.sql.PrepareContext(ctx, insertInvoiceSQL); err != nil {
			db.insInvoice = nil
			return nil, nil, fmt.Errorf("prepare: %w", err)
		}
	}
	if db.insOutbox == nil {
		if db.insOutbox, err = db.sql.PrepareContext(ctx, insertOutboxSQL); err != nil {
			db.insOutbox = nil
			return nil, nil, fmt.Errorf("prepare: %w", err)
		}
	}
	return tx.StmtContext(ctx, db.insInvoice), tx.StmtContext(ctx, db.insOutbox), nil
}

// row returns the request's invoice row arguments with its address set.
func (r *createRequest) row() ([]any, error) {
	script := r.script
	if script == nil {
		script = []byte{}
	}
	inv := r.inv
	inv.Methods = slices.Clone(inv.Methods)
	r.allocated(&inv)
	methods, err := encodeMethods(inv.Methods)
	if err != nil {
		return nil, fmt.Errorf("encode methods: %w", err)
	}
	args := r.args
	args[argMethods], args[argAddress], args[argScript], args[argKeyIndex] = methods, r.address, script, int64(r.index)
	return args, nil
}

// events returns the argument lists of the request's outbox rows.
func (r *createRequest) events() ([][]any, error) {
	if len(r.notes) == 0 {
		return nil, nil
	}
	snapshot, ok := fillSnapshot(r.snapshot, r.address, r.script, r.index, r.reused)
	if !ok {
		// encoding/json changed its layout: encode the slow way.
		inv := r.inv
		inv.Methods = slices.Clone(inv.Methods)
		r.allocated(&inv)
		var err error
		if snapshot, err = json.Marshal(&inv); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	out := make([][]any, len(r.notes))
	for i, n := range r.notes {
		out[i] = []any{r.noteIDs[i], string(SubjectInvoice), r.inv.ID, r.inv.StoreID, int(n.Code), n.Code.Name(),
			string(n.Status), string(n.Exception), millis(n.At), string(snapshot)}
	}
	return out, nil
}

// insertCreated inserts a new invoice and its outbox events row by row.
func insertCreated(ctx context.Context, insInvoice, insOutbox *sql.Stmt, r *createRequest) error {
	row, err := r.row()
	if err != nil {
		return err
	}
	if _, err := insInvoice.ExecContext(ctx, row...); err != nil {
		return dupErr(err)
	}
	evs, err := r.events()
	if err != nil {
		return err
	}
	for i, ev := range evs {
		if _, err := insOutbox.ExecContext(ctx, ev...); err != nil {
			return fmt.Errorf("queue event %d: %w", r.notes[i].Code, err)
		}
	}
	return nil
}
