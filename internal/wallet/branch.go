package wallet

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// branchKey is the receive branch's extended public key, held in the form
// BIP32 public derivation consumes so that a child costs one HMAC-SHA512,
// one scalar base multiplication and one point addition. hdkeychain would
// decompress the parent point again for every child; that is a fifth of the
// work, and the branch never changes.
type branchKey struct {
	pub       []byte              // compressed parent public key, serP(K)
	point     btcec.JacobianPoint // the same point, affine (Z = 1)
	chainCode []byte
}

// newBranchKey caches what childPubKey needs from an extended public key.
func newBranchKey(k *hdkeychain.ExtendedKey) (branchKey, error) {
	pub, err := k.ECPubKey()
	if err != nil {
		return branchKey{}, fmt.Errorf("branch public key: %w", err)
	}
	b := branchKey{pub: pub.SerializeCompressed(), chainCode: k.ChainCode()}
	pub.AsJacobian(&b.point)
	return b, nil
}

// child returns the public key of the non-hardened child i, per BIP32's
// CKDpub: I = HMAC-SHA512(c, serP(K) || ser32(i)), K_i = parse256(I_L)·G + K.
// i must be below 2^31. It reads the branch only, so concurrent calls are
// safe.
func (b *branchKey) child(i uint32) (*btcec.PublicKey, error) {
	var data [33 + 4]byte
	copy(data[:33], b.pub)
	binary.BigEndian.PutUint32(data[33:], i)
	mac := hmac.New(sha512.New, b.chainCode)
	mac.Write(data[:])
	var sum [sha512.Size]byte
	mac.Sum(sum[:0])

	var il btcec.ModNScalar
	if overflow := il.SetByteSlice(sum[:32]); overflow {
		return nil, ErrInvalidChild
	}
	var ilG, childPoint btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&il, &ilG)
	btcec.AddNonConst(&ilG, &b.point, &childPoint)
	if (childPoint.X.IsZero() && childPoint.Y.IsZero()) || childPoint.Z.IsZero() {
		return nil, ErrInvalidChild
	}
	childPoint.ToAffine()
	return btcec.NewPublicKey(&childPoint.X, &childPoint.Y), nil
}
