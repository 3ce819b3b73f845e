-- Client-requested pairings (POST /tokens {id, facade}) that name no
-- store, on a server with several: parked here until a merchant approves
-- one for a store of theirs from /api-access-request?pairingCode=, which
-- moves it into tokens. Expired rows are swept when another is parked.
CREATE TABLE parked_tokens (
	value              TEXT PRIMARY KEY,
	facade             TEXT NOT NULL,
	label              TEXT NOT NULL,
	sin                TEXT NOT NULL,
	pairing_code       TEXT NOT NULL UNIQUE,
	pairing_expires_at BIGINT NOT NULL,
	created_at         BIGINT NOT NULL
);
