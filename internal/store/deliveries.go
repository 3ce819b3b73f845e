package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/pglock"
)

// This file keeps the notification deliveries: the plan made from outbox
// events, the leases workers of any process or node take on due
// deliveries, and the record of every attempt.
//
// Planning is exactly-once: an outbox event is planned (its delivered_at
// set) in the transaction that inserts its deliveries, and that UPDATE is
// guarded by delivered_at IS NULL, so a second planner racing for the same
// event skips it. On PostgreSQL planners of several nodes also take turns
// through a try-advisory lock, so they do not block each other on rows.
//
// Claiming leases due pending deliveries whose invoice has no earlier
// pending delivery on the same channel, so an invoice's notifications go
// out one at a time in outbox order while different invoices go out in
// parallel. On PostgreSQL the claim selects FOR UPDATE SKIP LOCKED, so two
// nodes claiming at once lease disjoint rows without waiting for each
// other; on SQLite the claim runs under the process's write mutex and
// BEGIN IMMEDIATE, which serialize claimers of one and of several
// processes. A lease ends when the worker records its attempt (or releases
// the delivery untried); a worker that dies leaves a lease that runs out,
// after which the delivery is claimed again: delivery is at least once.

// The delivery channels.
const (
	ChannelIPN   = "ipn"
	ChannelEmail = "email"
)

// The delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one outbox event to be sent over one channel.
type Delivery struct {
	ID        int64
	OutboxSeq int64
	EventID   string // the outbox event's stable id, sent with every attempt
	Subject   Subject
	SubjectID string
	StoreID   string
	Code      int
	Channel   string // ChannelIPN or ChannelEmail
	Target    string // the notificationURL or the notificationEmail
	// Host is the target's host[:port] for an IPN, lower case; claims can
	// leave out hosts that already have enough requests in flight.
	Host          string
	State         string // DeliveryPending, DeliveryDelivered or DeliveryFailed
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// Deadline is when retrying stops: a failed attempt whose retry would
	// fall after it fails the delivery.
	Deadline    time.Time
	DeliveredAt time.Time // zero until delivered
	LastError   string
	LeasedUntil time.Time // zero when not leased
	LeaseOwner  string
}

// Claimed is a leased delivery with the outbox event it sends.
type Claimed struct {
	Delivery
	Event OutboxEvent
}

// DeliveryAttempt is one try of a delivery.
type DeliveryAttempt struct {
	DeliveryID int64
	Channel    string
	EventID    string
	Code       int
	Target     string
	N          int // 1 for the first attempt
	At         time.Time
	StatusCode int // the HTTP status; 0 when there was no response (or for mail)
	Latency    time.Duration
	Error      string // "" for a successful attempt
}

// NewDelivery is a delivery a plan asks for.
type NewDelivery struct {
	Channel string
	Target  string
	Host    string
}

// PlanFunc decides an outbox event's deliveries. earlier reports whether
// the invoice had an event with a code before this one. A PlanFunc must
// not fail on bad event data (answer no deliveries instead): an error
// stops planning, which is retried later.
type PlanFunc func(ev OutboxEvent, earlier func(code int) (bool, error)) ([]NewDelivery, error)

// PlanResult counts what PlanDeliveries did.
type PlanResult struct {
	Events     int            // outbox events planned
	Deliveries map[string]int // deliveries inserted, by channel
}

const deliveryColumns = `id, outbox_seq, event_id, subject, subject_id, store_id, code, channel, target, host, state,
	attempts, created_at, next_attempt_at, deadline, delivered_at, last_error, leased_until, lease_owner`

// PlanDeliveries plans up to limit unplanned outbox events, oldest first:
// plan names each event's deliveries, which are inserted pending and due
// now with the deadline now+window, and the event is marked planned in the
// same transaction. An event another planner got to first is skipped.
func (db *DB) PlanDeliveries(ctx context.Context, now time.Time, window time.Duration, limit int, plan PlanFunc) (PlanResult, error) {
	res := PlanResult{Deliveries: map[string]int{}}
	if limit <= 0 {
		return res, nil
	}
	// Read and plan outside the write transaction: outbox rows never change
	// but for the planned mark, which the transaction re-checks.
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return res, fmt.Errorf("load unplanned events: %w", err)
	}
	if len(evs) == 0 {
		return res, nil
	}
	plans := make([][]NewDelivery, len(evs))
	for i, ev := range evs {
		earlier := func(code int) (bool, error) {
			var n int
			err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE subject_id = $1 AND code = $2 AND seq < $3`,
				ev.SubjectID, int(code), ev.Seq).Scan(&n)
			return n > 0, err
		}
		if plans[i], err = plan(ev, earlier); err != nil {
			return res, fmt.Errorf("plan event %d of %s %s: %w", ev.Code, ev.Subject, ev.SubjectID, err)
		}
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		res = PlanResult{Deliveries: map[string]int{}}
		if db.dialect == Postgres {
			var got bool
			if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, pglock.Plan).Scan(&got); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if !got {
				return nil // another node is planning; it will get these events
			}
		}
		mark, err := tx.PrepareContext(ctx, `UPDATE outbox SET delivered_at = $2 WHERE seq = $1 AND delivered_at IS NULL`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer mark.Close()
		insert, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (outbox_seq, event_id, subject, subject_id, store_id, code,
			channel, target, host, state, created_at, next_attempt_at, deadline)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer insert.Close()
		for i, ev := range evs {
			r, err := mark.ExecContext(ctx, ev.Seq, max(millis(now), 1))
			if err != nil {
				return fmt.Errorf("mark event %d planned: %w", ev.Seq, err)
			}
			if n, err := r.RowsAffected(); err != nil {
				return fmt.Errorf("mark event %d planned: %w", ev.Seq, err)
			} else if n == 0 {
				continue // planned meanwhile by another planner
			}
			res.Events++
			for _, d := range plans[i] {
				_, err := insert.ExecContext(ctx, ev.Seq, ev.ID, string(ev.Subject), ev.SubjectID, ev.StoreID, int(ev.Code),
					d.Channel, d.Target, d.Host, DeliveryPending, millis(now), millis(now.Add(window)))
				if err != nil {
					return fmt.Errorf("queue %s delivery of event %d: %w", d.Channel, ev.Seq, dupErr(err))
				}
				res.Deliveries[d.Channel]++
			}
		}
		return nil
	})
	if err != nil {
		return PlanResult{}, fmt.Errorf("plan deliveries: %w", err)
	}
	return res, nil
}

// ClaimOptions describe a claim.
type ClaimOptions struct {
	Channel string
	// Owner names the claimer; RecordAttempts and ReleaseDeliveries only
	// act on leases it holds.
	Owner string
	Now   time.Time
	Lease time.Duration // how long the deliveries stay leased
	Limit int
	// SkipHosts leaves out deliveries to these hosts (Delivery.Host).
	SkipHosts []string
}

// ClaimDeliveries leases up to Limit deliveries of a channel that are
// pending, due at Now, not leased, and first in line for their invoice
// (no earlier pending delivery of the invoice on the channel), oldest due
// first, with their outbox events. Concurrent claimers, in this process or
// others, never get the same delivery while its lease runs.
func (db *DB) ClaimDeliveries(ctx context.Context, o ClaimOptions) ([]Claimed, error) {
	if o.Limit <= 0 || o.Owner == "" {
		return nil, nil
	}
	now := millis(o.Now)
	// A read first: an idle claimer does not take the write lock.
	var one int
	err := db.sql.QueryRowContext(ctx, `SELECT 1 FROM deliveries
		WHERE state = 'pending' AND channel = $1 AND next_attempt_at <= $2 AND leased_until <= $2 LIMIT 1`,
		o.Channel, now).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s deliveries: %w", o.Channel, err)
	}
	args := []any{millis(o.Now.Add(o.Lease)), o.Owner, o.Channel, now, o.Limit}
	skip := ""
	if len(o.SkipHosts) > 0 {
		ph := make([]string, len(o.SkipHosts))
		for i, h := range o.SkipHosts {
			args = append(args, h)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		skip = ` AND d.host NOT IN (` + strings.Join(ph, ", ") + `)`
	}
	lock := ""
	if db.dialect == Postgres {
		lock = ` FOR UPDATE OF d SKIP LOCKED`
	}
	// The due scan walks deliveries_due in time order and stops after
	// Limit heads; the head check is a correlated lookup on
	// deliveries_queue, which the planner picks whatever the table's
	// statistics say (an anti-join was planned as a nested loop over all
	// pending rows on a freshly filled table).
	query := `UPDATE deliveries SET leased_until = $1, lease_owner = $2
		WHERE id IN (SELECT d.id FROM deliveries d
			WHERE d.state = 'pending' AND d.channel = $3 AND d.next_attempt_at <= $4 AND d.leased_until <= $4` + skip + `
			AND d.outbox_seq = (SELECT e.outbox_seq FROM deliveries e
				WHERE e.subject_id = d.subject_id AND e.channel = d.channel AND e.state = 'pending'
				ORDER BY e.outbox_seq LIMIT 1)
			ORDER BY d.next_attempt_at LIMIT $5` + lock + `)
		RETURNING ` + deliveryColumns
	var out []Claimed
	err = db.leaseTx(ctx, func(tx *sql.Tx) (bool, error) {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return false, err
			}
			out = append(out, Claimed{Delivery: d})
		}
		return len(out) > 0, rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s deliveries: %w", o.Channel, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	slices.SortFunc(out, func(a, b Claimed) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	// The events: outbox rows never change but for the planned mark.
	seqs := make([]any, len(out))
	ph := make([]string, len(out))
	for i, c := range out {
		seqs[i] = c.OutboxSeq
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	evs, err := db.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE seq IN (`+strings.Join(ph, ", ")+`)`, seqs...)
	if err != nil {
		// The leases run out by themselves; release them sooner.
		ids := make([]int64, len(out))
		for i, c := range out {
			ids[i] = c.ID
		}
		_ = db.ReleaseDeliveries(context.WithoutCancel(ctx), o.Owner, ids)
		return nil, fmt.Errorf("claim %s deliveries: load events: %w", o.Channel, err)
	}
	bySeq := make(map[int64]OutboxEvent, len(evs))
	for _, ev := range evs {
		bySeq[ev.Seq] = ev
	}
	for i := range out {
		out[i].Event = bySeq[out[i].OutboxSeq]
	}
	return out, nil
}

// leaseTx is writeTx for transactions whose commit wakes no one: claims
// and releases change only leases, which no reader waits for. fn reports
// whether it wrote anything.
func (db *DB) leaseTx(ctx context.Context, fn func(tx *sql.Tx) (bool, error)) error {
	if db.dialect == SQLite {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	wrote, err := fn(tx)
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if wrote {
		db.wrote.Store(true)
	}
	return nil
}

// AttemptResult is the outcome of one delivery attempt and the state it
// leaves the delivery in.
type AttemptResult struct {
	DeliveryID int64
	Owner      string // the lease holder that made the attempt
	At         time.Time
	StatusCode int // HTTP status, 0 for none
	Latency    time.Duration
	Error      string // "" when the attempt succeeded
	// State is the delivery's state after the attempt: DeliveryDelivered,
	// DeliveryPending (retried at NextAttemptAt) or DeliveryFailed.
	State         string
	NextAttemptAt time.Time
}

// RecordAttempts stores attempts and the states they leave their
// deliveries in, all in one transaction, and ends their leases. An attempt
// whose lease was lost meanwhile (it ran out and another worker claimed
// the delivery) is recorded and counted but changes the state only when it
// succeeded.
func (db *DB) RecordAttempts(ctx context.Context, results []AttemptResult) error {
	if len(results) == 0 {
		return nil
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		update, err := tx.PrepareContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, state = $3,
			next_attempt_at = $4, delivered_at = $5, last_error = $6, leased_until = 0, lease_owner = ''
			WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING attempts, subject_id, channel, outbox_seq`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer update.Close()
		// The deliveries queued behind one waiting for a retry wait as long,
		// so the due scan does not walk them; when it leaves the queue they
		// are due again. Only the first of a queue is ever attempted, so
		// the ones behind it have no retry time of their own.
		push, err := tx.PrepareContext(ctx, `UPDATE deliveries SET next_attempt_at = $4
			WHERE subject_id = $1 AND channel = $2 AND state = 'pending' AND outbox_seq > $3 AND next_attempt_at < $4`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer push.Close()
		pull, err := tx.PrepareContext(ctx, `UPDATE deliveries SET next_attempt_at = $4
			WHERE subject_id = $1 AND channel = $2 AND state = 'pending' AND outbox_seq > $3 AND next_attempt_at > $4`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer pull.Close()
		insert, err := tx.PrepareContext(ctx, `INSERT INTO delivery_attempts (delivery_id, n, at, status_code, latency_us, error)
			VALUES ($1, $2, $3, $4, $5, $6)`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer insert.Close()
		for _, r := range results {
			var delivered int64
			if r.State == DeliveryDelivered {
				delivered = max(millis(r.At), 1)
			}
			next := millis(r.NextAttemptAt)
			if r.State != DeliveryPending {
				next = millis(r.At)
			}
			var (
				n                  int
				invoiceID, channel string
				seq                int64
			)
			err := update.QueryRowContext(ctx, r.DeliveryID, r.Owner, r.State, next, delivered, r.Error).
				Scan(&n, &invoiceID, &channel, &seq)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				n, err = lostLease(ctx, tx, r, delivered)
			case err == nil && r.State == DeliveryPending:
				_, err = push.ExecContext(ctx, invoiceID, channel, seq, next)
			case err == nil:
				_, err = pull.ExecContext(ctx, invoiceID, channel, seq, millis(r.At))
			}
			if err != nil {
				return fmt.Errorf("update delivery %d: %w", r.DeliveryID, err)
			}
			_, err = insert.ExecContext(ctx, r.DeliveryID, n, millis(r.At), r.StatusCode, r.Latency.Microseconds(), r.Error)
			if err != nil {
				return fmt.Errorf("record attempt %d of delivery %d: %w", n, r.DeliveryID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d delivery attempts: %w", len(results), err)
	}
	return nil
}

// lostLease counts an attempt made without the lease and, if it
// succeeded, marks the delivery delivered.
func lostLease(ctx context.Context, tx *sql.Tx, r AttemptResult, delivered int64) (int, error) {
	var n int
	var err error
	if r.State == DeliveryDelivered {
		var (
			invoiceID, channel string
			seq                int64
		)
		err = tx.QueryRowContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, state = 'delivered',
			delivered_at = $2, last_error = '' WHERE id = $1 RETURNING attempts, subject_id, channel, outbox_seq`,
			r.DeliveryID, delivered).Scan(&n, &invoiceID, &channel, &seq)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = $4
				WHERE subject_id = $1 AND channel = $2 AND state = 'pending' AND outbox_seq > $3 AND next_attempt_at > $4`,
				invoiceID, channel, seq, millis(r.At))
		}
	} else {
		err = tx.QueryRowContext(ctx, `UPDATE deliveries SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts`,
			r.DeliveryID).Scan(&n)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return n, err
}

// ReleaseDeliveries ends leases owner holds without recording an attempt,
// so the deliveries are claimable again at once: for work claimed but not
// done at shutdown.
func (db *DB) ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.leaseTx(ctx, func(tx *sql.Tx) (bool, error) {
		for _, id := range ids {
			_, err := tx.ExecContext(ctx, `UPDATE deliveries SET leased_until = 0, lease_owner = ''
				WHERE id = $1 AND lease_owner = $2 AND state = 'pending'`, id, owner)
			if err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("release %d deliveries: %w", len(ids), err)
	}
	// Released deliveries are due: wake the claimers.
	db.commits.fire()
	return nil
}

// NextDeliveryDue returns the earliest retry time after now of a pending
// delivery of the channel, or false when none waits for a later time.
func (db *DB) NextDeliveryDue(ctx context.Context, channel string, now time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries
		WHERE state = 'pending' AND channel = $1 AND next_attempt_at > $2`, channel, millis(now)).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next %s delivery: %w", channel, err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(next.Int64), true, nil
}

// PendingDeliveries counts the pending deliveries of a channel.
func (db *DB) PendingDeliveries(ctx context.Context, channel string) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND channel = $1`,
		channel).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending %s deliveries: %w", channel, err)
	}
	return n, nil
}

// Deliveries returns an invoice's deliveries, by channel and in outbox
// order.
func (db *DB) Deliveries(ctx context.Context, invoiceID string) ([]Delivery, error) {
	out, err := queryAll(ctx, db, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries WHERE subject_id = $1
		ORDER BY channel, outbox_seq`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("load deliveries of invoice %s: %w", invoiceID, err)
	}
	return out, nil
}

// DeliveryAttempts returns every attempt of an invoice's deliveries in the
// order they were made.
func (db *DB) DeliveryAttempts(ctx context.Context, invoiceID string) ([]DeliveryAttempt, error) {
	scan := func(r scanner) (DeliveryAttempt, error) {
		var (
			a         DeliveryAttempt
			code      int
			at, micro int64
		)
		err := r.Scan(&a.DeliveryID, &a.Channel, &a.EventID, &code, &a.Target, &a.N, &at, &a.StatusCode, &micro, &a.Error)
		a.Code = code
		a.At = fromMillis(at)
		a.Latency = time.Duration(micro) * time.Microsecond
		return a, err
	}
	out, err := queryAll(ctx, db, scan, `SELECT a.delivery_id, d.channel, d.event_id, d.code, d.target, a.n, a.at,
		a.status_code, a.latency_us, a.error
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.subject_id = $1 ORDER BY a.at, a.id`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("load delivery attempts of invoice %s: %w", invoiceID, err)
	}
	return out, nil
}

// SetStoreSignIPN turns a store's signed IPNs on or off, or fails with
// ErrNotFound.
func (db *DB) SetStoreSignIPN(ctx context.Context, storeID string, on bool) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, `UPDATE stores SET sign_ipn = $2 WHERE id = $1`, storeID, on)
	})
	if err != nil {
		return fmt.Errorf("set signed IPNs of store %s: %w", storeID, err)
	}
	return nil
}

func scanDelivery(r scanner) (Delivery, error) {
	var (
		d                                               Delivery
		code                                            int
		created, next, deadline, delivered, leasedUntil int64
	)
	var subject string
	err := r.Scan(&d.ID, &d.OutboxSeq, &d.EventID, &subject, &d.SubjectID, &d.StoreID, &code, &d.Channel, &d.Target, &d.Host,
		&d.State, &d.Attempts, &created, &next, &deadline, &delivered, &d.LastError, &leasedUntil, &d.LeaseOwner)
	d.Subject = Subject(subject)
	d.Code = code
	d.CreatedAt = fromMillis(created)
	d.NextAttemptAt = fromMillis(next)
	d.Deadline = fromMillis(deadline)
	d.DeliveredAt = fromMillis(delivered)
	d.LeasedUntil = fromMillis(leasedUntil)
	return d, err
}
