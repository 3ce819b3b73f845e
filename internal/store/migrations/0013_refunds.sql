-- Refunds (package refund): money owed back to a buyer for an invoice.
-- Amount is what was asked for, a decimal in currency; sats what the
-- refund pays out before a fee the buyer bears; fee and txid the paying
-- transaction's once broadcast. A client's guid is unique per store.
CREATE TABLE refunds (
	id             TEXT PRIMARY KEY,
	store_id       TEXT NOT NULL REFERENCES stores (id),
	invoice_id     TEXT NOT NULL REFERENCES invoices (id),
	token          TEXT NOT NULL,
	guid           TEXT NOT NULL,
	reference      TEXT NOT NULL,
	status         TEXT NOT NULL,
	amount         TEXT NOT NULL,
	currency       TEXT NOT NULL,
	rate           TEXT NOT NULL,
	notify_url     TEXT NOT NULL,
	sats           BIGINT NOT NULL,
	buyer_pays_fee BOOLEAN NOT NULL,
	immediate      BOOLEAN NOT NULL,
	cancellable    BOOLEAN NOT NULL,
	address        TEXT NOT NULL,
	txid           TEXT NOT NULL,
	fee            BIGINT NOT NULL,
	requested_at   BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	fail_reason    TEXT NOT NULL,
	version        BIGINT NOT NULL
);
CREATE INDEX refunds_invoice ON refunds (invoice_id, requested_at);
CREATE UNIQUE INDEX refunds_guid ON refunds (store_id, guid) WHERE guid <> '';
CREATE INDEX refunds_token ON refunds (token);
