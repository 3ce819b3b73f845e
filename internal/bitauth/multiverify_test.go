package bitauth

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// TestSigCheckMatchesLibrary cross-checks sigCheck against the library's
// ecdsa.Signature.Verify on low- and high-S signatures, right and wrong
// digests, and right and wrong keys.
func TestSigCheckMatchesLibrary(t *testing.T) {
	other := testKey(t, 200).PubKey()
	for i := range 64 {
		priv := testKey(t, byte(i))
		msg := sha256.Sum256(fmt.Appendf(nil, "message %d", i))
		wrong := sha256.Sum256(fmt.Appendf(nil, "message %d!", i))
		low := ecdsa.Sign(priv, msg[:])
		r, s := low.R(), low.S()
		s.Negate()
		high := ecdsa.NewSignature(&r, &s)
		for _, sig := range []*ecdsa.Signature{low, high} {
			for _, key := range []*btcec.PublicKey{priv.PubKey(), other} {
				check := newSigCheck(sig, key)
				for _, digest := range [][32]byte{msg, wrong} {
					want := sig.Verify(digest[:], key)
					if got := check.verify(digest[:]); got != want {
						t.Fatalf("key %d: sigCheck %v, library %v", i, got, want)
					}
				}
			}
		}
		if !newSigCheck(high, priv.PubKey()).verify(msg[:]) {
			t.Fatalf("key %d: high-S signature rejected", i)
		}
	}
}

// TestSigCheckLargeX covers the rare branch where the nonce point's x
// coordinate exceeds the group order N, so r = x - N. No nonce with that
// property is known, so the test picks such a point R, a digest e and s,
// and solves for the key: Q = r⁻¹·(s·R − e·G) makes (r, s) valid for e.
func TestSigCheckLargeX(t *testing.T) {
	var one, x, y btcec.FieldVal
	one.SetInt(1)
	found := false
	for k := uint16(1); k < 1000; k++ {
		x.Set(&curveOrder).Add(new(btcec.FieldVal).SetInt(k)).Normalize()
		if btcec.DecompressY(&x, false, &y) {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("no curve point with N < x < N+1000")
	}
	point := btcec.MakeJacobianPoint(&x, &y, &one)
	xBytes := x.Bytes()
	var r, s, e btcec.ModNScalar
	r.SetBytes(xBytes) // reduces x mod N
	s.SetByteSlice([]byte("some signature s value, 32 bytes"))
	digest := sha256.Sum256([]byte("large x"))
	e.SetByteSlice(digest[:])

	var sR, eG, diff, q btcec.JacobianPoint
	btcec.ScalarMultNonConst(&s, &point, &sR)
	btcec.ScalarBaseMultNonConst(&e, &eG)
	eG.Y.Negate(1).Normalize()
	btcec.AddNonConst(&sR, &eG, &diff)
	btcec.ScalarMultNonConst(new(btcec.ModNScalar).InverseValNonConst(&r), &diff, &q)
	q.ToAffine()
	key := btcec.NewPublicKey(&q.X, &q.Y)

	sig := ecdsa.NewSignature(&r, &s)
	if !sig.Verify(digest[:], key) {
		t.Fatal("constructed signature does not verify with the library")
	}
	check := newSigCheck(sig, key)
	if check.rPlusN == nil {
		t.Fatal("r+N branch not prepared")
	}
	if !check.verify(digest[:]) {
		t.Error("sigCheck rejects a signature whose nonce point has x > N")
	}
	wrong := sha256.Sum256([]byte("other"))
	if check.verify(wrong[:]) {
		t.Error("sigCheck accepts a wrong digest")
	}
}
