// Package chaos is kassa's fault-injection harness. Its tests build the real
// kassa binary, run it as a single `kassa serve` process on SQLite against
// two btcd regtest nodes (kassa watches the first), and inject faults while
// invoices are created over HTTP and paid on the chain: kill -9 of kassa at
// random instants, reorganisations of 1–6 blocks, RBF and in-block
// double-spends, an IPN receiver that fails, hangs and recovers, the node's
// RPC disappearing, and (as root, on a small tmpfs) the disk filling up.
//
// After each phase a checker compares kassa's database with the chain and
// the IPN receiver's log: every invoice's live payments are exactly the
// outputs the chain (blocks and mempool) holds for its address, none is
// counted twice, every removed payment and every lost confirmation emitted
// its event, and every planned IPN arrived at least once.
//
// TestChaosSmall is the bounded run `make test` includes (build tag node,
// like every test that starts btcd); TestChaosFull (build tag chaos, `make
// chaos`) is the full one. The harness is built with either tag.
package chaos
