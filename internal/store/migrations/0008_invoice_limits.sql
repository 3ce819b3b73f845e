-- Each store's own invoice-creation limits ('' = the server's default),
-- and the budget those limits are drawn from, shared by every node: for
-- each of the three periods, the time (Unix nanoseconds) its token
-- bucket is full again (see api's limiter).
ALTER TABLE stores ADD COLUMN invoice_limits TEXT NOT NULL DEFAULT '';
CREATE TABLE invoice_budgets (
	store_id    TEXT PRIMARY KEY,
	hour_full   BIGINT NOT NULL,
	minute_full BIGINT NOT NULL,
	second_full BIGINT NOT NULL
);
