package hotwallet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// memStore is a Store in memory.
type memStore struct {
	stores map[string]merchant.Store
	keys   map[string]store.HotKey
}

func (m *memStore) GetHotKey(_ context.Context, id string) (store.HotKey, error) {
	k, ok := m.keys[id]
	if !ok {
		return k, store.ErrNotFound
	}
	return k, nil
}

func (m *memStore) HotKeys(context.Context) ([]store.HotKey, error) {
	var out []store.HotKey
	for _, k := range m.keys {
		out = append(out, k)
	}
	return out, nil
}

func (m *memStore) GetStore(_ context.Context, id string) (merchant.Store, error) {
	return m.stores[id], nil
}

// TestSigner: a sealed key opens as the store's hot key; a store without
// one has none; a wrong passphrase is ErrWrongPassphrase at Check and at
// Key; a key that is not the store's is refused at Seal.
func TestSigner(t *testing.T) {
	ctx := context.Background()
	st := merchant.Store{ID: "s1", Network: "regtest", Key: kassatest.Key(t, "hot")}
	other := merchant.Store{ID: "s2", Network: "regtest", Key: kassatest.Key(t, "other")}
	mem := &memStore{stores: map[string]merchant.Store{"s1": st, "s2": other}, keys: map[string]store.HotKey{}}
	signer := New(mem, testPass)
	secret := kassatest.AccountPriv(t, "hot")

	if _, err := signer.Seal(st, []byte(kassatest.AccountPriv(t, "other")), cheap); !errors.Is(err, wallet.ErrNotStoreKey) {
		t.Fatalf("another store's key: %v", err)
	}
	sealed, err := signer.Seal(st, []byte(secret+"\n"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	mem.keys["s1"] = store.HotKey{StoreID: "s1", Sealed: sealed, DailyLimit: 10_000, CreatedAt: time.Now()}
	if n, err := signer.Check(ctx); err != nil || n != 1 {
		t.Fatalf("Check = %d, %v", n, err)
	}
	k, err := wallet.ParseKey(st.Key, st.Network)
	if err != nil {
		t.Fatal(err)
	}
	hot, err := signer.Key(ctx, st, k)
	if err != nil || hot == nil || hot.Key() != k {
		t.Fatalf("Key = %v, %v", hot, err)
	}
	ok, err := wallet.ParseKey(other.Key, other.Network)
	if err != nil {
		t.Fatal(err)
	}
	if none, err := signer.Key(ctx, other, ok); none != nil || err != nil {
		t.Fatalf("a store without a hot key: %v, %v", none, err)
	}

	wrong := New(mem, []byte("not the passphrase at all"))
	_, err = wrong.Check(ctx)
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Check with a wrong passphrase: %v", err)
	}
	if strings.Contains(err.Error(), secret[4:30]) || strings.Contains(err.Error(), string(testPass)) {
		t.Fatalf("the error shows a secret: %v", err)
	}
	if _, err := wrong.Key(ctx, st, k); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Key with a wrong passphrase: %v", err)
	}
	// A blob moved to another store does not open there.
	mem.keys["s2"] = store.HotKey{StoreID: "s2", Sealed: sealed}
	if _, err := signer.Key(ctx, other, ok); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("a blob moved to another store: %v", err)
	}
}
