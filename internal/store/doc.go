// Package store is kassa's repository: merchant stores, API tokens,
// invoices, the notification outbox and the chain watcher's progress, over
// SQLite (the single-node default) or PostgreSQL (several nodes).
//
// # One schema, one set of queries
//
// The migrations in migrations/ are written once, in SQLite's spelling;
// for PostgreSQL a small replacement map turns INTEGER PRIMARY KEY
// AUTOINCREMENT into an identity column and BLOB into BYTEA. Every query
// uses $N placeholders and standard SQL that both databases run unchanged
// (partial indexes, ON CONFLICT upserts). Migrate
// applies each migration once, recording it in schema_migrations; on
// PostgreSQL it holds an advisory transaction lock, on SQLite the
// immediate write transaction serializes concurrent migrators.
//
// Times are INTEGER unix milliseconds in UTC (0 for the zero time), fiat
// prices and rates TEXT decimals, the output script a BLOB. An invoice's
// payments and its echoed request fields are JSON columns on the invoice
// row; order_id, guid and has_payments are copied out of them for the
// indexes. A partial unique index on (store_id, guid) rejects a second
// invoice with the same guid (ErrDuplicate). Each invoice row carries a
// seq, a creation sequence number that grows in commit order, which
// InvoicesAfter pages on, and a version for optimistic concurrency.
//
// SQLite runs in WAL mode with synchronous=FULL, foreign keys on, a 10 s
// busy timeout and BEGIN IMMEDIATE for every write transaction, so a
// `kassa serve` and CLI commands can write the same file at once: another
// process's writer waits for the lock rather than failing. Inside one
// process write transactions queue on a mutex instead. Automatic WAL
// checkpoints are off; a background goroutine runs passive checkpoints
// every 100 ms after writes, so no commit pays for copying the WAL back.
//
// # The invoice writer
//
// CreateInvoice does not open a transaction per invoice. Every call is
// handed to one writer goroutine, which takes all calls waiting at that
// moment (up to Options.MaxBatch) and stores them in one transaction: one
// fsync for the batch. The callers' goroutines do the per-invoice
// encoding beforehand (row arguments, the outbox snapshot with a hole
// for the address, event ids), so the writer only allocates addresses
// (loading each store's counters once per batch, deriving new addresses
// in parallel), inserts the rows and their notifications (one prepared
// statement per row on SQLite, multi-row INSERTs on PostgreSQL), and
// writes each store's next_index back once. If one invoice fails
// (a duplicate guid, an unknown store, an address that cannot be derived)
// the transaction is rolled back and retried without it, so only that
// caller sees the error. On PostgreSQL the batches of several nodes run
// concurrently: each locks its stores' rows, so derivation indexes stay
// unique, and holds an advisory lock shared that InvoicesAfter takes
// exclusively, so a reader paging by seq never passes a number a batch
// still in flight will commit.
//
// Commit is the other writer: it stores a set of invoice changes, their
// outbox events and the chain watcher's processed blocks in one
// transaction. Each update is guarded by the invoice's version; one stale
// version rolls everything back with ErrConflict.
//
// # The gap-limit governor
//
// A wallet restored from the store's key scans only so many unused
// addresses in a row (its gap limit) past the last used one; payments to
// addresses beyond that stay invisible to it. Each store row therefore
// keeps next_index, the next unused derivation index, and last_paid_index,
// the highest index that ever received a payment (raised by Commit). The
// rule is wallet.Governor's: while the unpaid run (next_index - 1 -
// last_paid_index) is below the store's gap limit a new invoice gets
// next_index; at the limit it reuses an address the store offers as
// reusable: the oldest invoice's that expired without ever seeing a
// payment (late ones included), lies above last_paid_index and is not in
// use by another open invoice (new, paid, confirmed, invalid); such an
// invoice's on-chain method is marked Reused. When none qualifies the
// invoice goes past the gap with next_index, and GapRun lets the
// dashboard warn about it. The store supplies the counters (read and
// locked once per batch) and the candidates (reuseSQL); the writer asks
// the governor.
package store
