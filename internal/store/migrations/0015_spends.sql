-- Spends (package spend): payments out of a store's wallet, one row per
-- spend. outputs and inputs are JSON arrays; psbt is the unsigned PSBT as
-- built (base64), tx the signed transaction (hex), recorded before it is
-- ever sent. A subject (a refund, a payout batch) has at most one open
-- spend: the partial unique index is what makes a retry after a crash
-- find the spend it made instead of making a second one.
CREATE TABLE spends (
	id           TEXT PRIMARY KEY,
	store_id     TEXT NOT NULL REFERENCES stores (id),
	kind         TEXT NOT NULL,
	subject_id   TEXT NOT NULL,
	status       TEXT NOT NULL,
	outputs      TEXT NOT NULL,
	inputs       TEXT NOT NULL,
	change       BIGINT NOT NULL,
	change_index BIGINT NOT NULL,
	fee_rate     BIGINT NOT NULL,
	fee          BIGINT NOT NULL,
	psbt         TEXT NOT NULL,
	txid         TEXT NOT NULL,
	tx           TEXT NOT NULL,
	height       INTEGER NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	fail_reason  TEXT NOT NULL,
	version      BIGINT NOT NULL
);
CREATE UNIQUE INDEX spends_open_subject ON spends (kind, subject_id)
	WHERE status IN ('unsigned', 'signed', 'broadcast', 'confirmed', 'final');
CREATE INDEX spends_store_status ON spends (store_id, status, created_at);
CREATE INDEX spends_txid ON spends (txid) WHERE txid <> '';

-- The merchant's fee policy for spends, in satoshis per vbyte: the chain
-- backend's estimate is raised to the floor and capped at the ceiling, and
-- a signed transaction paying more than the ceiling is refused. 0 is the
-- default (merchant.DefaultFeeFloor, DefaultFeeCeiling).
ALTER TABLE stores ADD COLUMN fee_floor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stores ADD COLUMN fee_ceiling BIGINT NOT NULL DEFAULT 0;
