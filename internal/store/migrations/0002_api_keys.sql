-- 0002_api_keys adds the legacy API keys of BitPay's 2012 API (v0.3): a
-- store-scoped secret sent as HTTP Basic user name. Only its SHA-256 is
-- kept; prefix holds its first characters so lists can tell keys apart.

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	store_id   TEXT NOT NULL REFERENCES stores (id),
	key_hash   TEXT NOT NULL UNIQUE,
	prefix     TEXT NOT NULL,
	label      TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL
);

CREATE INDEX api_keys_store ON api_keys (store_id, created_at);
