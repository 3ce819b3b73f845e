-- A refund's email (refundEmail of the PHP-era API): where the buyer is
-- asked for a refund address, "" for the invoice's buyer email.
ALTER TABLE refunds ADD COLUMN email TEXT NOT NULL DEFAULT '';
