// Package regtest runs real btcd nodes in regression-test mode for kassa's
// integration tests and for the `kassa demo` command. It imports no testing
// package: tests use MustStart and MustStartPair, which take the small TB
// interface, and everything else returns errors.
//
// A Node is one btcd process on free loopback ports with its own data
// directory and a Wallet: an in-memory P2WPKH wallet whose keys come from
// Options.Seed, so addresses repeat from run to run. btcd mines to the
// wallet's first address, so every block the node mines adds a coinbase the
// wallet can spend after 100 confirmations (Options.Mature mines 101 blocks at
// start). The wallet pays regtest addresses with real signed transactions that
// signal BIP125 replaceability, and can replace them.
//
// btcd is found through Options.Binary, the KASSA_BTCD environment variable,
// <repository root>/.tools/bin/btcd (installed by scripts/install-btcd.sh) or
// PATH, in that order.
//
// Tests and benchmarks that start a node are built only with the tag node
// (`go test -tags node`, which `make test` passes), so `go test ./...` alone
// runs the node-less suite without btcd.
//
// # Paying an invoice
//
//	node := regtest.MustStart(t, regtest.Options{Mature: true})
//	// Point kassa at node.RPCURL(), e.g. "rpc://kassa:kassa@127.0.0.1:40123".
//	txid, err := node.Wallet().Pay(ctx, invoiceAddress, 150_000)
//	// The payment is in the mempool: kassa should see it unconfirmed.
//	hashes, err := node.Mine(ctx, 1)
//	// Now it has one confirmation, in block hashes[0].
//
// # Double spend by replacement (RBF)
//
//	txid, err := node.Wallet().Pay(ctx, invoiceAddress, 150_000)
//	back, err := node.Wallet().NewAddress()
//	newTxid, err := node.Wallet().Replace(ctx, txid, back)
//	// txid has left the mempool; newTxid pays the wallet instead.
//
// # Reorganisation
//
// Two nodes share a chain; kassa watches a. Reorg disconnects them, mines
// depth blocks on a (confirming a's mempool), mines depth+1 empty blocks on b
// and reconnects, so a abandons its blocks and the payment is unconfirmed
// again:
//
//	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
//	txid, err := a.Wallet().Pay(ctx, invoiceAddress, 150_000)
//	res, err := regtest.Reorg(ctx, a, b, 2)
//	// res.Orphaned held txid; it is back in a's mempool.
//
// The same by hand, to check kassa between the steps:
//
//	err = a.Disconnect(ctx, b)
//	_, err = a.Mine(ctx, 2)          // kassa sees two confirmations...
//	_, err = regtest.Overtake(ctx, a, b) // ...and then none.
//
// To replace the payment in the winning chain by a double spend, build the
// conflicting transaction without broadcasting it and mine it on b:
//
//	conflict, err := a.Wallet().Replacement(ctx, txid, back)
//	err = a.Disconnect(ctx, b)
//	_, err = a.Mine(ctx, 1)
//	_, err = b.MineBlock(ctx, conflict)
//	_, err = regtest.Overtake(ctx, a, b)
//	// a's chain now confirms conflict; txid is gone for good.
package regtest
