-- 0004_accounts adds the merchant dashboard's accounts. A user signs in
-- with an email and an argon2id password hash, optionally a TOTP second
-- factor (totp_last_step refuses a code used before) with one-time
-- recovery codes kept as hashes. kind is admin (the operator: owner of
-- every store), merchant (may create stores of their own) or member (sees
-- only the stores it was invited to). A session is kept by the SHA-256 of
-- its cookie value; stage mfa marks one waiting for the second factor.
-- Memberships give a user a role in a store. Invites are one-time links,
-- kept by hash. login_failures throttles sign-in per account and per
-- client address. Applications are seed 002's merchant applications,
-- waiting for the operator.

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	email          TEXT NOT NULL UNIQUE,
	password_hash  TEXT NOT NULL,
	kind           TEXT NOT NULL,
	totp_secret    TEXT NOT NULL DEFAULT '',
	totp_pending   TEXT NOT NULL DEFAULT '',
	totp_last_step BIGINT NOT NULL DEFAULT 0,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
	user_id   TEXT NOT NULL REFERENCES users (id),
	code_hash TEXT NOT NULL,
	used_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sessions (
	id_hash      TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id),
	stage        TEXT NOT NULL,
	csrf         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	address      TEXT NOT NULL,
	user_agent   TEXT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE memberships (
	user_id    TEXT NOT NULL REFERENCES users (id),
	store_id   TEXT NOT NULL REFERENCES stores (id),
	role       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, store_id)
);

CREATE INDEX memberships_store ON memberships (store_id);

CREATE TABLE invites (
	token_hash TEXT PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	store_id   TEXT NOT NULL,
	role       TEXT NOT NULL,
	email      TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0,
	used_by    TEXT NOT NULL DEFAULT ''
);

CREATE INDEX invites_store ON invites (store_id, created_at);

CREATE TABLE login_failures (
	key             TEXT PRIMARY KEY,
	failures        INTEGER NOT NULL,
	last_failure_at BIGINT NOT NULL
);

CREATE TABLE applications (
	id          TEXT PRIMARY KEY,
	email       TEXT NOT NULL,
	first_name  TEXT NOT NULL,
	last_name   TEXT NOT NULL,
	phone       TEXT NOT NULL,
	org_name    TEXT NOT NULL,
	body        TEXT NOT NULL,
	status      TEXT NOT NULL,
	address     TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	decided_at  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX applications_created ON applications (created_at);
