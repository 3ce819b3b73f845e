-- Automatic exception refunds (package refund, Automatic): on unless the
-- merchant turns them off; the partial index finds the invoices that may
-- call for one without reading every expired invoice.
ALTER TABLE stores ADD COLUMN auto_refunds BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX invoices_exceptions ON invoices (store_id, updated_at) WHERE exception IN ('paidPartial', 'paidOver');
