-- Which API token created each invoice (auth.Token.Ref, never the token's
-- value); its secret keys the invoice's signed IPNs. '' for invoices made
-- without a token and for those created before kassa recorded it.
ALTER TABLE invoices ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
