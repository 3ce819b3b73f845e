package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/refund"
	"github.com/kassa-pay/kassa/internal/spend"
)

// Unit is one write transaction that any resource can join: the new state
// of invoices (and, as they come, refunds, payouts, bills…), the outbox
// events the changes cause, the chain watcher's progress and the ledger
// postings they imply commit together or not at all. Commit is the
// invoices' and the chain watcher's use of it.
type Unit struct {
	ctx       context.Context
	tx        *sql.Tx
	events    int
	invoices  []*invoice.Invoice // whose Version goes up when the unit commits
	refunds   []*refund.Refund   // likewise
	spends    []*spend.Spend     // likewise
	insOutbox *sql.Stmt
}

// Event is an outbox event of any subject, as Unit.Emit queues it.
type Event struct {
	Subject   Subject
	SubjectID string
	StoreID   string
	// Code is the subject's event code (an invoice.Code for an invoice).
	Code int
	// Name is the event's name as extended IPNs carry it; "" is the
	// invoice code's own name, for an invoice's event.
	Name string
	// Status and Exception are the resource's status (and for an invoice
	// its exception) at the event.
	Status    string
	Exception string
	At        time.Time
	// Snapshot is the resource at the event; encoding/json writes it.
	Snapshot any
}

// Unit runs fn in one write transaction and commits what it joined; when
// fn or the commit fails nothing is stored. The unit is only valid inside
// fn. On success, the Version of every invoice joined with Invoices is
// increased by one.
func (db *DB) Unit(ctx context.Context, fn func(u *Unit) error) error {
	var u *Unit
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		u = &Unit{ctx: ctx, tx: tx}
		defer u.close()
		if err := fn(u); err != nil {
			return err
		}
		if u.events > 0 {
			return db.notifyOutbox(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, inv := range u.invoices {
		inv.Version++
	}
	for _, r := range u.refunds {
		r.Version++
	}
	for _, s := range u.spends {
		s.Version++
	}
	return nil
}

func (u *Unit) close() {
	if u.insOutbox != nil {
		u.insOutbox.Close()
	}
}

// outbox returns the unit's prepared outbox insert.
func (u *Unit) outbox() (*sql.Stmt, error) {
	if u.insOutbox == nil {
		st, err := u.tx.PrepareContext(u.ctx, insertOutboxSQL)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		u.insOutbox = st
	}
	return u.insOutbox, nil
}

// Invoices joins invoice changes: each is written only if its stored
// version is still Invoice.Version (else the unit fails with ErrConflict),
// with its notifications queued in the outbox.
func (u *Unit) Invoices(changes []Change) error {
	var ins *sql.Stmt
	if slices.ContainsFunc(changes, func(c Change) bool { return len(c.Notes) > 0 }) {
		var err error
		if ins, err = u.outbox(); err != nil {
			return err
		}
	}
	if err := writeChanges(u.ctx, u.tx, ins, changes); err != nil {
		return err
	}
	for _, c := range changes {
		u.invoices = append(u.invoices, c.Invoice)
		u.events += len(c.Notes)
	}
	return nil
}

// Chain joins the chain watcher's progress.
func (u *Unit) Chain(c *ChainUpdate) error {
	return writeChain(u.ctx, u.tx, c)
}

// Emit queues an outbox event of any subject.
func (u *Unit) Emit(ev Event) error {
	if ev.Subject == "" || ev.SubjectID == "" || ev.StoreID == "" || ev.Code == 0 {
		return errors.New("emit: an event needs its subject, the subject's id, its store and a code")
	}
	snapshot, err := json.Marshal(ev.Snapshot)
	if err != nil {
		return fmt.Errorf("emit event %d of %s %s: snapshot: %w", ev.Code, ev.Subject, ev.SubjectID, err)
	}
	name := ev.Name
	if name == "" && ev.Subject == SubjectInvoice {
		name = invoice.Code(ev.Code).Name()
	}
	if name == "" {
		return fmt.Errorf("emit event %d of %s %s: an event needs its name", ev.Code, ev.Subject, ev.SubjectID)
	}
	ins, err := u.outbox()
	if err != nil {
		return err
	}
	_, err = ins.ExecContext(u.ctx, auth.NewID(), string(ev.Subject), ev.SubjectID, ev.StoreID, int(ev.Code), name,
		ev.Status, ev.Exception, millis(ev.At), string(snapshot))
	if err != nil {
		return fmt.Errorf("emit event %d of %s %s: %w", ev.Code, ev.Subject, ev.SubjectID, err)
	}
	u.events++
	return nil
}
