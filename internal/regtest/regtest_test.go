//go:build node

package regtest_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/regtest"
)

// payee returns regtest addresses of every kind a customer's wallet might be
// asked to pay, all from one fixed key that the test wallet does not own.
func payee(t *testing.T) map[string]address.Address {
	t.Helper()
	secret := sha256.Sum256([]byte("kassa regtest payee"))
	_, pub := btcec.PrivKeyFromBytes(secret[:])
	params := &chaincfg.RegressionNetParams
	hash := address.Hash160(pub.SerializeCompressed())
	p2wpkh, err := address.NewAddressWitnessPubKeyHash(hash, params)
	if err != nil {
		t.Fatal(err)
	}
	p2pkh, err := address.NewAddressPubKeyHash(hash, params)
	if err != nil {
		t.Fatal(err)
	}
	nested, err := txscript.PayToAddrScript(p2wpkh)
	if err != nil {
		t.Fatal(err)
	}
	p2sh, err := address.NewAddressScriptHash(nested, params)
	if err != nil {
		t.Fatal(err)
	}
	p2tr, err := address.NewAddressTaproot(schnorr.SerializePubKey(pub), params)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]address.Address{"p2wpkh": p2wpkh, "p2pkh": p2pkh, "p2sh": p2sh, "p2tr": p2tr}
}

// paid returns the value tx pays to addr.
func paid(t *testing.T, tx *wire.MsgTx, addr address.Address) money.Sats {
	t.Helper()
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, out := range tx.TxOut {
		if string(out.PkScript) == string(script) {
			sum += out.Value
		}
	}
	return money.Sats(sum)
}

// findTx returns the transaction txid in block, or nil.
func findTx(block *wire.MsgBlock, txid chainhash.Hash) *wire.MsgTx {
	for _, tx := range block.Transactions {
		if tx.TxHash() == txid {
			return tx
		}
	}
	return nil
}

func TestPayTwiceBetweenBlocks(t *testing.T) {
	ctx := t.Context()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	if got, err := node.BlockCount(ctx); err != nil || got != regtest.MatureBlocks {
		t.Fatalf("BlockCount = %d, %v; want %d", got, err, regtest.MatureBlocks)
	}
	// Blocks 1 and 2 have 101 and 100 confirmations: two mature rewards.
	if got, err := node.Wallet().Balance(ctx); err != nil || got != 2*50*100_000_000 {
		t.Fatalf("Balance = %d, %v; want two 50 BTC rewards", got, err)
	}
	for kind, addr := range payee(t) {
		t.Run(kind, func(t *testing.T) {
			amounts := []money.Sats{150_000, 2_500_000}
			var txids []chainhash.Hash
			for _, amount := range amounts {
				txid, err := node.Wallet().Pay(ctx, addr.EncodeAddress(), amount)
				if err != nil {
					t.Fatalf("Pay(%s, %d): %v", addr, amount, err)
				}
				txids = append(txids, txid)
			}
			for _, txid := range txids {
				if in, err := node.InMempool(ctx, txid); err != nil || !in {
					t.Fatalf("InMempool(%s) = %v, %v; want true", txid, in, err)
				}
			}
			hashes, err := node.Mine(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			block, err := node.Block(ctx, hashes[0])
			if err != nil {
				t.Fatal(err)
			}
			for i, txid := range txids {
				tx := findTx(block, txid)
				if tx == nil {
					t.Fatalf("block %s lacks payment %s", hashes[0], txid)
				}
				if got := paid(t, tx, addr); got != amounts[i] {
					t.Errorf("payment %s pays %d sats to %s, want %d", txid, got, addr, amounts[i])
				}
				for _, in := range tx.TxIn {
					if in.Sequence != 0xfffffffd {
						t.Errorf("payment %s input sequence %#x, want BIP125 0xfffffffd", txid, in.Sequence)
					}
				}
			}
			if pool, err := node.Mempool(ctx); err != nil || len(pool) != 0 {
				t.Errorf("mempool after mining = %v, %v; want empty", pool, err)
			}
		})
	}
}

func TestPayMany(t *testing.T) {
	ctx := t.Context()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	addrs := payee(t)
	outputs := []regtest.Output{
		{Address: addrs["p2wpkh"].EncodeAddress(), Amount: 10_000},
		{Address: addrs["p2tr"].EncodeAddress(), Amount: 20_000},
	}
	txid, err := node.Wallet().PayMany(ctx, outputs)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	block, err := node.Block(ctx, hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	tx := findTx(block, txid)
	if tx == nil {
		t.Fatalf("block lacks %s", txid)
	}
	for _, kind := range []string{"p2wpkh", "p2tr"} {
		want := outputs[0].Amount
		if kind == "p2tr" {
			want = outputs[1].Amount
		}
		if got := paid(t, tx, addrs[kind]); got != want {
			t.Errorf("%s output = %d sats, want %d", kind, got, want)
		}
	}
}

func TestPayErrors(t *testing.T) {
	ctx := t.Context()
	node := regtest.MustStart(t, regtest.Options{})
	if _, err := node.Mine(ctx, 99); err != nil {
		t.Fatal(err)
	}
	if got, err := node.Wallet().Balance(ctx); err != nil || got != 0 {
		t.Fatalf("Balance with 99 immature coinbases = %d, %v; want 0", got, err)
	}
	tests := []struct {
		name   string
		addr   string
		amount money.Sats
		want   error // nil: any error will do.
	}{
		{"no mature coins", node.Wallet().MiningAddress(), 1000, regtest.ErrInsufficientFunds},
		{"mainnet address", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 1000, nil},
		{"garbage address", "not-an-address", 1000, nil},
		{"zero amount", node.Wallet().MiningAddress(), 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.Wallet().Pay(ctx, tc.addr, tc.amount)
			if err == nil {
				t.Fatal("Pay succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Pay error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReplace(t *testing.T) {
	ctx := t.Context()
	// With 100 blocks only the first coinbase is mature, so the second
	// payment must spend the first one's change.
	node := regtest.MustStart(t, regtest.Options{})
	if _, err := node.Mine(ctx, 100); err != nil {
		t.Fatal(err)
	}
	w := node.Wallet()
	invoice := payee(t)["p2wpkh"].EncodeAddress()
	txid, err := w.Pay(ctx, invoice, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	// The second payment spends the first one's change, so the
	// replacement evicts it too.
	child, err := w.Pay(ctx, invoice, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	back, err := w.NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	newTxid, err := w.Replace(ctx, txid, back)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	pool, err := node.Mempool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pool, newTxid) {
		t.Errorf("replacement %s not in mempool %v", newTxid, pool)
	}
	for _, gone := range []chainhash.Hash{txid, child} {
		if slices.Contains(pool, gone) {
			t.Errorf("replaced %s still in mempool", gone)
		}
	}
	if _, err := w.Replace(ctx, chainhash.Hash{1}, back); !errors.Is(err, regtest.ErrUnknownTx) {
		t.Errorf("Replace(unknown) error = %v, want ErrUnknownTx", err)
	}
	// The wallet keeps paying after the replacement and spends nothing
	// the replacement evicted.
	again, err := w.Pay(ctx, invoice, 70_000)
	if err != nil {
		t.Fatalf("Pay after Replace: %v", err)
	}
	hashes, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	block, err := node.Block(ctx, hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []chainhash.Hash{newTxid, again} {
		if findTx(block, want) == nil {
			t.Errorf("block lacks %s", want)
		}
	}
}

func TestReorg(t *testing.T) {
	ctx := t.Context()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	invoice := payee(t)["p2wpkh"].EncodeAddress()
	txid, err := a.Wallet().Pay(ctx, invoice, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	// The payment relays to b, whose competing chain must still leave it
	// out.
	if err := b.WaitForTx(ctx, txid); err != nil {
		t.Fatal(err)
	}
	res, err := regtest.Reorg(ctx, a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Orphaned) != 2 || len(res.Winning) != 3 {
		t.Fatalf("Reorg = %d orphaned, %d winning blocks; want 2 and 3", len(res.Orphaned), len(res.Winning))
	}
	orphan, err := a.Block(ctx, res.Orphaned[0])
	if err != nil {
		t.Fatal(err)
	}
	if findTx(orphan, txid) == nil {
		t.Fatalf("orphaned block %s lacks the payment", res.Orphaned[0])
	}
	bestA, err := a.BestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bestB, err := b.BestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bestA != bestB || bestA != res.Winning[2] {
		t.Fatalf("best blocks a=%s b=%s, want both %s", bestA, bestB, res.Winning[2])
	}
	if in, err := a.InMempool(ctx, txid); err != nil || !in {
		t.Fatalf("payment back in a's mempool = %v, %v; want true", in, err)
	}
	// The wallet still pays after losing the orphaned coinbases.
	if _, err := a.Wallet().Pay(ctx, invoice, 10_000); err != nil {
		t.Fatalf("Pay after reorg: %v", err)
	}
}

func TestDoubleSpendByReorg(t *testing.T) {
	ctx := t.Context()
	a, b := regtest.MustStartPair(t, regtest.Options{Mature: true})
	w := a.Wallet()
	txid, err := w.Pay(ctx, payee(t)["p2wpkh"].EncodeAddress(), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	back, err := w.NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	conflict, err := w.Replacement(ctx, txid, back)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	conflictBlock, err := b.MineBlock(ctx, conflict)
	if err != nil {
		t.Fatalf("MineBlock(conflict): %v", err)
	}
	if _, err := regtest.Overtake(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	block, err := a.Block(ctx, conflictBlock)
	if err != nil {
		t.Fatal(err)
	}
	if findTx(block, conflict.TxHash()) == nil {
		t.Fatalf("a's chain lacks the conflicting transaction")
	}
	if in, err := a.InMempool(ctx, txid); err != nil || in {
		t.Fatalf("double-spent payment in a's mempool = %v, %v; want false", in, err)
	}
}

func TestRestartAndKill(t *testing.T) {
	ctx := t.Context()
	node := regtest.MustStart(t, regtest.Options{})
	if _, err := node.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	url, host := node.RPCURL(), node.RPCHost()
	if err := node.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got, err := node.BlockCount(ctx); err != nil || got != 3 {
		t.Fatalf("BlockCount after Restart = %d, %v; want 3", got, err)
	}
	if node.RPCURL() != url || node.RPCHost() != host {
		t.Fatalf("Restart moved the node from %s to %s", url, node.RPCURL())
	}
	if err := node.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := node.BlockCount(ctx); !errors.Is(err, regtest.ErrStopped) {
		t.Fatalf("BlockCount after Kill error = %v, want ErrStopped", err)
	}
	if err := node.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatalf("Mine after Kill and Restart: %v", err)
	}
}

func TestRPCURL(t *testing.T) {
	node := regtest.MustStart(t, regtest.Options{RPCUser: "alice", RPCPass: "s3cret"})
	want := "rpc://alice:s3cret@" + node.RPCHost()
	if got := node.RPCURL(); got != want {
		t.Fatalf("RPCURL = %q, want %q", got, want)
	}
}

func TestMineBlock(t *testing.T) {
	ctx := t.Context()
	node := regtest.MustStart(t, regtest.Options{Mature: true})
	w := node.Wallet()
	invoice := payee(t)["p2wpkh"].EncodeAddress()
	tests := []struct {
		name     string
		payments int
	}{
		{"empty", 0},
		{"one transaction", 1},
		// Three leaves: the merkle tree pairs the last one with itself.
		{"two transactions", 2},
		{"three transactions", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var txs []*wire.MsgTx
			for range tc.payments {
				txid, err := w.Pay(ctx, invoice, 25_000)
				if err != nil {
					t.Fatal(err)
				}
				txs = append(txs, w.Transaction(txid))
			}
			hash, err := node.MineBlock(ctx, txs...)
			if err != nil {
				t.Fatalf("MineBlock: %v", err)
			}
			if best, err := node.BestBlockHash(ctx); err != nil || best != hash {
				t.Fatalf("best block = %s, %v; want %s", best, err, hash)
			}
			block, err := node.Block(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if len(block.Transactions) != len(txs)+1 {
				t.Fatalf("block has %d transactions, want %d", len(block.Transactions), len(txs)+1)
			}
			if pool, err := node.Mempool(ctx); err != nil || len(pool) != 0 {
				t.Errorf("mempool after MineBlock = %v, %v; want empty", pool, err)
			}
		})
	}
}
