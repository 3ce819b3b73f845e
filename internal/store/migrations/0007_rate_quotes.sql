-- The last good answer of each exchange-rate provider, written by the
-- leader node and read by the others, so only one node calls the public
-- rate APIs.
CREATE TABLE rate_quotes (
	source     TEXT NOT NULL,
	currency   TEXT NOT NULL,
	rate       TEXT NOT NULL,
	fetched_at BIGINT NOT NULL,
	PRIMARY KEY (source, currency)
);
