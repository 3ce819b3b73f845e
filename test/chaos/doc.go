// Package chaos is kassa's fault-injection harness. Its tests build the real
// kassa binary, run it as a single `kassa serve` process on SQLite against
// two btcd regtest nodes (kassa watches the first), and inject faults while
// invoices are created over HTTP and paid on the chain: kill -9 of kassa at
// random instants, reorganisations of 1–6 blocks, RBF and in-block
// double-spends, an IPN receiver that fails, hangs and recovers, the node's
// RPC disappearing, and (as root, on a small tmpfs) the disk filling up.
// A refund storm (refunds_test.go) then refunds completed invoices over
// HTTP while a merchant signs each spend's PSBT with the test wallet
// (psbtsign) and submits it with `kassa spend submit`, which is killed
// with SIGKILL after it records the signed spend and before it sends it,
// after it sends it and before it records that, and at random instants,
// while kassa serve is killed with spends out; each reorg then takes two
// refund transactions out of the chain and double-spends one of them
// (none in a reorg as deep as spend.FinalDepth: kassa stops following a
// final spend, as a complete invoice stays complete).
//
// After each phase a checker compares kassa's database with the chain and
// the IPN receiver's log: every invoice's live payments are exactly the
// outputs the chain (blocks and mempool) holds for its address, none is
// counted twice, every removed payment and every lost confirmation emitted
// its event, and every planned IPN arrived at least once; every refund is
// paid by exactly one transaction on the final chain, at its amount, with
// one live spend carrying it and its status success (a double-spent one:
// failure, paid by nothing), none lost and none paid twice.
//
// TestChaosSmall is the bounded run `make test` includes (build tag node,
// like every test that starts btcd); TestChaosFull (build tag chaos, `make
// chaos`) is the full one. The harness is built with either tag.
package chaos
