-- Coins: every output that pays one of a store's scripts (an invoice's
-- address, a change address, a closed invoice's address paid late), with
-- the key that unlocks it (branch 0 receive, 1 change; key_index on that
-- branch). height is 0 while unconfirmed; spent_txid is '' while no
-- transaction spends it, else the spender, confirmed at spent_height (0:
-- in the mempool). invoice_id is '' for an output no invoice owns. The
-- chain watcher writes them in the transaction of the batch that reveals
-- them; the spend engine selects a store's unspent coins and learns here
-- when its transaction confirms or was double-spent.
CREATE TABLE coins (
	txid         TEXT NOT NULL,
	vout         BIGINT NOT NULL,
	store_id     TEXT NOT NULL REFERENCES stores (id),
	amount       BIGINT NOT NULL,
	script       BLOB NOT NULL,
	branch       BIGINT NOT NULL,
	key_index    BIGINT NOT NULL,
	height       BIGINT NOT NULL,
	invoice_id   TEXT NOT NULL,
	spent_txid   TEXT NOT NULL,
	spent_height BIGINT NOT NULL,
	seen_at      BIGINT NOT NULL,
	PRIMARY KEY (txid, vout)
);
CREATE INDEX coins_store_unspent ON coins (store_id, seen_at) WHERE spent_txid = '';
CREATE INDEX coins_spent_by ON coins (spent_txid) WHERE spent_txid <> '';
