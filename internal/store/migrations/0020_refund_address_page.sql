-- The buyer's refund page: address_secret is the proof its link carries
-- (random, apart from the API token); address_deadline (milliseconds, 0
-- for none) is when a refund still without an address fails. Refunds made
-- before have neither: their buyers were never sent a link.
ALTER TABLE refunds ADD COLUMN address_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN address_deadline BIGINT NOT NULL DEFAULT 0;
CREATE INDEX refunds_address_deadline ON refunds (address_deadline) WHERE status = 'created' AND address = '' AND address_deadline > 0;
-- One event may be mailed to several people (a refund's buyer and its
-- merchant): a delivery is unique per event, channel and target.
DROP INDEX deliveries_event_channel;
CREATE UNIQUE INDEX deliveries_event_channel_target ON deliveries (outbox_seq, channel, target);
