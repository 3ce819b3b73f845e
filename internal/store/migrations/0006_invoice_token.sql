-- The event stream (GET /events?token=) finds an invoice by its resource
-- token; unauthenticated callers must not be able to force table scans.
CREATE INDEX invoices_token ON invoices (token);
