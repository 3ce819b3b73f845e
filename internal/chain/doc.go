// Package chain tells kassa when transaction outputs pay the scripts of
// open invoices, and how deep they are buried.
//
// Two backends implement Backend. The node Watcher follows a Bitcoin Core
// or btcd node through a Source (package rpc is the JSON-RPC Source): each
// cycle it reads the tip, walks back to the fork point if the tip is not a
// descendant of the last processed block, disconnects the reorged-out
// blocks (their payments return to height 0), connects the new blocks one
// by one, then examines the mempool's new transactions and reports the
// unconfirmed payments that left both the mempool and the chain (double
// spend, RBF, eviction) — only when the tip did not move during the cycle,
// so a payment that was just mined is never reported gone. The
// EsploraWatcher serves merchants without a node: it polls each watched
// address on a schedule (fresh invoices often, old ones rarely, failing
// ones with backoff, everything paused on HTTP 429) and re-checks recent
// payments' status whenever the tip changes.
//
// Both report to a Sink, one Batch per processed block, reorg or mempool
// round, so a block's effects commit atomically with its hash. A batch the
// sink fails to apply is recomputed and retried; the watcher's own record
// of reported payments advances only when Apply succeeds. Applying the
// same block twice changes nothing: a payment already reported at a height
// is not reported again, and the sink is idempotent.
//
// Late watches: an invoice created by another process (the CLI while the
// server runs) is watched only when the server notices it, so its payment
// may already be in a mempool transaction the node watcher examined, or in
// a block it matched without the script. The watcher keeps the examined
// mempool transactions' outputs indexed by a keyed 64-bit hash of their
// script, and the output script hashes of the last RescanDepth (6)
// processed blocks. The cycle after a Watch looks the new scripts up in
// both, refetches only the transactions and blocks that may pay them,
// checks the full script and reports the payments in one batch. The
// Esplora watcher needs none of this: an address's history holds its
// earlier payments.
//
// Coins: the stores' scripts registered with WatchScript (every invoice's
// address, kept after the invoice is unwatched, and change addresses) stay
// watched for good in a second watch set; an output paying one is a
// CoinSeen, and any transaction spending a coin the watcher follows (in a
// block or the mempool, whoever made it) is a Spent. Reorgs and removals
// undo both as they undo payments (coins.go). The Esplora watcher reports
// coins too, within a request budget (esplora_coins.go): outputs to store
// scripts in the transactions its invoice polls list, each other store
// script polled by address every ScriptInterval (10 min), each followed
// coin's transaction's outspends every SpendInterval (5 min) and after
// each block while a spend is unconfirmed, all of it at most
// MaxCoinRequests (30) a minute.
//
// Resuming after a restart: the sink's RecentBlocks gives the processed
// blocks and the caller restores known payments with WatchPayment, then
// Run continues from the last processed block. A brand-new database starts
// at the node's tip. Open parses KASSA_CHAIN (rpc://user:pass@host:port,
// http(s)://…, esplora+https://host/api) and refuses a backend on another
// network than the configured one.
//
// Notifications: the node watcher polls every PollInterval (1 s by
// default) and also wakes at once on the node's notifications when it can
// subscribe to them: btcd's websocket (notifyblocks,
// notifynewtransactions) or Bitcoin Core's ZMQ publishers found through
// getzmqnotifications (package zmq, a small ZMTP 3.0 subscriber).
//
// The watch set holds a million scripts in about 140 bytes each, and a
// 4,000-transaction block is matched against it in about a millisecond
// (BenchmarkMatchBlock). The mempool index costs about 125 bytes per
// output (BenchmarkMempoolIndex).
package chain
