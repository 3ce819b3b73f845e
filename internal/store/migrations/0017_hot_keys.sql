-- The opt-in hot signer (package hotwallet). hot_keys holds a store's
-- private key sealed under the operator's passphrase (never in clear: the
-- sealed blob is versioned, carries its key-derivation parameters and is
-- bound to the store's id) and the most it may sign per 24 hours, in
-- satoshis. hot_signatures records every spend the hot signer signed,
-- with what it took from the store (its outputs and fee): the sum over the
-- last 24 hours is checked against the limit in the transaction that
-- records the signed spend, with the store's hot_keys row locked, so that
-- two nodes signing at once cannot both pass the limit. Rows stay when the
-- key is removed: a key put back within a day still counts them.
CREATE TABLE hot_keys (
	store_id    TEXT PRIMARY KEY REFERENCES stores (id),
	sealed      BLOB NOT NULL,
	daily_limit BIGINT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE TABLE hot_signatures (
	spend_id  TEXT PRIMARY KEY REFERENCES spends (id),
	store_id  TEXT NOT NULL REFERENCES stores (id),
	amount    BIGINT NOT NULL,
	signed_at BIGINT NOT NULL
);
CREATE INDEX hot_signatures_store ON hot_signatures (store_id, signed_at);
