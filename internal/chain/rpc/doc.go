// Package rpc is a small JSON-RPC 1.0 client for Bitcoin Core and btcd that
// serves kassa's chain watcher. It speaks only the dialect both nodes share:
// raw blocks and transactions are fetched as hex (verbosity 0) and decoded
// with wire, so segwit data and both nodes' JSON quirks never matter. The
// network name each node reports is normalised to kassa's names (mainnet,
// testnet, testnet4, signet, regtest, simnet).
package rpc
