-- A store's unspent coins by amount: the spend engine reads the few coins
-- a spend can use (wallet.Candidates: those in an amount range, the first
-- above it, the largest) instead of all of a store's coins on every build.
CREATE INDEX coins_store_amount ON coins (store_id, amount) WHERE spent_txid = '';
