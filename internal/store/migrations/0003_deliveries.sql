-- 0003_deliveries adds durable notification delivery. The outbox keeps the
-- events; an event's delivered_at now marks it planned: the planner has
-- turned it into deliveries (none, when the invoice asked for no
-- notification), in the same transaction. A delivery is one event sent
-- over one channel (an IPN to the notificationURL, a mail to the
-- notificationEmail) and every try is a delivery attempt. Workers of any
-- process or node lease due deliveries; per invoice and channel they go
-- out in outbox order.

ALTER TABLE stores ADD COLUMN sign_ipn BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX outbox_unplanned ON outbox (seq) WHERE delivered_at IS NULL;

CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	outbox_seq      BIGINT NOT NULL REFERENCES outbox (seq),
	event_id        TEXT NOT NULL,
	invoice_id      TEXT NOT NULL,
	store_id        TEXT NOT NULL,
	code            INTEGER NOT NULL,
	channel         TEXT NOT NULL,
	target          TEXT NOT NULL,
	host            TEXT NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	next_attempt_at BIGINT NOT NULL,
	deadline        BIGINT NOT NULL,
	delivered_at    BIGINT NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	leased_until    BIGINT NOT NULL DEFAULT 0,
	lease_owner     TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX deliveries_event_channel ON deliveries (outbox_seq, channel);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id, channel, outbox_seq);
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_queue ON deliveries (invoice_id, channel, outbox_seq) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
	n           INTEGER NOT NULL,
	at          BIGINT NOT NULL,
	status_code INTEGER NOT NULL,
	latency_us  BIGINT NOT NULL,
	error       TEXT NOT NULL
);

CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, n);
