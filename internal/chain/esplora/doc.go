// Package esplora is a small client for the Esplora HTTP API (Blockstream's
// esplora, mempool.space and self-hosted instances), for merchants who run
// no node. It covers what kassa's address watcher needs: the tip, an
// address's transactions, a transaction's status and outputs, and the
// genesis hash that tells the network. Rate limiting (HTTP 429) and server
// errors are typed so the watcher can back off.
package esplora
