-- One outbox for every resource: an event and its deliveries name their
-- subject (invoice today; refund, payout, recipient, bill, subscription
-- next) and the subject's id, instead of an invoice id. The outbox's
-- reference to invoices goes: an event may be about any resource. On
-- SQLite that takes a rebuild of the outbox table (outboxSubjects, run
-- with foreign keys off), on PostgreSQL a dropped constraint; both in this
-- migration's one transaction. Every existing event is an invoice's.
ALTER TABLE deliveries RENAME COLUMN invoice_id TO subject_id;
ALTER TABLE deliveries ADD COLUMN subject TEXT NOT NULL DEFAULT 'invoice';
DROP INDEX deliveries_invoice;
CREATE INDEX deliveries_subject ON deliveries (subject_id, channel, outbox_seq);
