// Package esplora is a small client for the Esplora HTTP API (Blockstream's
// esplora, mempool.space and self-hosted instances), for merchants who run
// no node. It covers what kassa's address watcher needs: the tip, an
// address's transactions, a transaction's status, outputs and outspends,
// and the genesis hash that tells the network; and what the spend engine
// needs: SendTx (POST /tx, idempotent: a transaction the server's node
// already has is sent) and FeeRate (GET /fee-estimates, read as decimals
// and rounded up). Rate limiting (HTTP 429) and server errors are typed
// so the watcher can back off; a node's refusal of a transaction is
// ErrTxRejected.
package esplora
