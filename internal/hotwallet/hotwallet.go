// Package hotwallet is kassa's opt-in hot signer: a store's private key,
// kept sealed at rest under the operator's passphrase, that signs the
// store's spends at once, up to a limit per day, instead of waiting for
// the merchant's wallet.
//
// kassa is watch-only by default. A merchant who turns the hot signer on
// for a store (kassa store hot-signer) gives it the private key of the
// store's receiving key, which wallet.ParseHotKey checks derives exactly
// the store's key; Seal encrypts it (argon2id from the passphrase,
// XChaCha20-Poly1305 bound to the store's id) and only the sealed blob is
// stored. The passphrase comes from KASSA_HOT_WALLET_PASSPHRASE or
// KASSA_HOT_WALLET_PASSPHRASE_FILE, never from the database. Signer opens a
// store's key when a spend is to be signed and keeps it no longer than
// that; the spend engine (package spender) checks the daily limit and
// records the signed spend in one transaction, and what the key signs is
// checked like any upload before it is sent.
//
// Anyone who has both the database (or the machine) and the passphrase can
// spend a store's coins up to its limit per day: keep the limit low.
package hotwallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa/internal/merchant"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/wallet"
)

// Store is where sealed keys are kept (store.DB).
type Store interface {
	// GetHotKey loads a store's hot key, or fails with store.ErrNotFound.
	GetHotKey(ctx context.Context, storeID string) (store.HotKey, error)
	// HotKeys lists every store's hot key.
	HotKeys(ctx context.Context) ([]store.HotKey, error)
	GetStore(ctx context.Context, id string) (merchant.Store, error)
}

// Signer opens stores' hot keys with the operator's passphrase. It is
// safe for concurrent use.
type Signer struct {
	store      Store
	passphrase []byte
}

// New returns a signer opening keys in st with passphrase.
func New(st Store, passphrase []byte) *Signer {
	return &Signer{store: st, passphrase: passphrase}
}

// Key returns the store's hot key for its receiving key k, or nil and no
// error when the store has none. A key that does not open (a wrong
// passphrase, a damaged blob) or is no longer the store's key (the store's
// receiving key changed) is an error.
func (s *Signer) Key(ctx context.Context, st merchant.Store, k *wallet.Key) (*wallet.HotKey, error) {
	hk, err := s.store.GetHotKey(ctx, st.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.open(hk, k)
}

// open unseals a stored key and parses it against the store's key.
func (s *Signer) open(hk store.HotKey, k *wallet.Key) (*wallet.HotKey, error) {
	plain, err := Open(hk.Sealed, s.passphrase, hk.StoreID)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", hk.StoreID, err)
	}
	defer clear(plain)
	key, err := wallet.ParseHotKey(string(plain), k)
	if err != nil {
		return nil, fmt.Errorf("store %s: the sealed hot key: %w", hk.StoreID, err)
	}
	return key, nil
}

// Check opens every store's hot key: what kassa serve does at start, so
// that a wrong passphrase is said at once rather than at the first
// refund. It returns the number of keys.
func (s *Signer) Check(ctx context.Context) (int, error) {
	all, err := s.store.HotKeys(ctx)
	if err != nil {
		return 0, err
	}
	for _, hk := range all {
		st, err := s.store.GetStore(ctx, hk.StoreID)
		if err != nil {
			return 0, err
		}
		k, err := wallet.ParseKey(st.Key, st.Network)
		if err != nil {
			return 0, fmt.Errorf("store %s key: %w", st.ID, err)
		}
		if _, err := s.open(hk, k); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// Seal checks that secret is the private key of the store's receiving key
// and seals it for the store under the signer's passphrase with p.
func (s *Signer) Seal(st merchant.Store, secret []byte, p Params) ([]byte, error) {
	k, err := wallet.ParseKey(st.Key, st.Network)
	if err != nil {
		return nil, fmt.Errorf("store %s key: %w", st.ID, err)
	}
	if _, err := wallet.ParseHotKey(string(secret), k); err != nil {
		return nil, err
	}
	return Seal(secret, s.passphrase, st.ID, p)
}
