-- Payment methods are data: an invoice's methods (today bitcoin on-chain;
-- each with its currency, locked rate, amount due, destination and
-- derivation index) are the methods JSON column, and each stored payment
-- names its method. The step in methods.go fills both from the old columns
-- in this same transaction, then drops rate and reused; due, address,
-- script and key_index stay as derived columns for the indexes and the
-- gap-limit governor.
ALTER TABLE invoices ADD COLUMN methods TEXT NOT NULL DEFAULT '[]';
