-- Fee bumps (RBF) of spends: the txids a bump replaced (a JSON array; any
-- may still confirm) and the replacement waiting for its signature (the
-- plan as JSON, '' for none).
ALTER TABLE spends ADD COLUMN replaced TEXT NOT NULL DEFAULT '[]';
ALTER TABLE spends ADD COLUMN bump TEXT NOT NULL DEFAULT '';
