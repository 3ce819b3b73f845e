-- 0001_init creates kassa's tables. It is written in SQLite's dialect; the
-- store rewrites the few types PostgreSQL spells differently (see ddl.go).

CREATE TABLE stores (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL,
	network          TEXT NOT NULL,
	key              TEXT NOT NULL,
	speed            TEXT NOT NULL,
	expiry_ms        BIGINT NOT NULL,
	gap_limit        INTEGER NOT NULL,
	default_currency TEXT NOT NULL,
	created_at       BIGINT NOT NULL,
	next_index       BIGINT NOT NULL DEFAULT 0,
	last_paid_index  BIGINT NOT NULL DEFAULT -1
);

CREATE TABLE tokens (
	value              TEXT PRIMARY KEY,
	store_id           TEXT NOT NULL REFERENCES stores (id),
	facade             TEXT NOT NULL,
	label              TEXT NOT NULL,
	sin                TEXT NOT NULL,
	active             BOOLEAN NOT NULL,
	pairing_code       TEXT NOT NULL,
	pairing_expires_at BIGINT NOT NULL,
	created_at         BIGINT NOT NULL,
	revoked_at         BIGINT NOT NULL,
	last_used_at       BIGINT NOT NULL
);

CREATE INDEX tokens_store ON tokens (store_id);
CREATE INDEX tokens_sin ON tokens (sin) WHERE sin <> '';
CREATE UNIQUE INDEX tokens_pairing_code ON tokens (pairing_code) WHERE pairing_code <> '';

CREATE TABLE invoices (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	store_id     TEXT NOT NULL REFERENCES stores (id),
	token        TEXT NOT NULL,
	status       TEXT NOT NULL,
	exception    TEXT NOT NULL,
	speed        TEXT NOT NULL,
	price        TEXT NOT NULL,
	currency     TEXT NOT NULL,
	rate         TEXT NOT NULL,
	due          BIGINT NOT NULL,
	address      TEXT NOT NULL,
	script       BLOB NOT NULL,
	key_index    BIGINT NOT NULL,
	reused       BOOLEAN NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	paid_at      BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	cancelled    BOOLEAN NOT NULL,
	payments     TEXT NOT NULL,
	has_payments BOOLEAN NOT NULL,
	fields       TEXT NOT NULL,
	order_id     TEXT NOT NULL,
	guid         TEXT NOT NULL,
	version      BIGINT NOT NULL
);

CREATE INDEX invoices_store_created ON invoices (store_id, created_at);
CREATE INDEX invoices_store_order ON invoices (store_id, order_id);
CREATE UNIQUE INDEX invoices_store_guid ON invoices (store_id, guid) WHERE guid <> '';
CREATE INDEX invoices_status ON invoices (status);
CREATE INDEX invoices_updated ON invoices (updated_at);
CREATE INDEX invoices_address ON invoices (address);
CREATE INDEX invoices_reusable ON invoices (store_id, created_at) WHERE status = 'expired' AND has_payments = FALSE;

CREATE TABLE outbox (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT NOT NULL,
	invoice_id      TEXT NOT NULL REFERENCES invoices (id),
	store_id        TEXT NOT NULL,
	code            INTEGER NOT NULL,
	name            TEXT NOT NULL,
	status          TEXT NOT NULL,
	exception       TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	snapshot        TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL DEFAULT 0,
	delivered_at    BIGINT
);

CREATE INDEX outbox_invoice ON outbox (invoice_id, seq);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE chain_blocks (
	height BIGINT PRIMARY KEY,
	hash   TEXT NOT NULL
);
