package bitauth

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// sigCheck verifies one signature by one key against several candidate
// digests, one per origin a client may have signed.
//
// ECDSA verification computes X = u1·G + u2·Q with w = s⁻¹, u1 = e·w and
// u2 = r·w, and accepts when X.x ≡ r. Only u1 depends on the digest e, so
// the costly variable-base product u2·Q is computed once per request and
// each candidate costs one fixed-base product (about 30 µs instead of
// 180 µs here). A signature that matches no origin, the case an attacker
// controls, thus costs little more than one that matches. The steps are
// those of secp256k1/v4's ecdsa.Signature.Verify, which the tests
// cross-check; like it, they accept high S.
type sigCheck struct {
	w   btcec.ModNScalar
	u2Q btcec.JacobianPoint
	r   btcec.FieldVal
	// rPlusN is r+N as a field element when r+N < P, else nil: X.x may
	// exceed the group order N, and then r = X.x - N.
	rPlusN *btcec.FieldVal
}

// curveOrder is the group order N as a field element.
var curveOrder = func() (n btcec.FieldVal) {
	n.SetByteSlice(btcec.S256().N.Bytes())
	return n
}()

// newSigCheck prepares sig and key for verification.
func newSigCheck(sig *ecdsa.Signature, key *btcec.PublicKey) *sigCheck {
	r, s := sig.R(), sig.S()
	c := &sigCheck{}
	c.w.InverseValNonConst(&s)
	var u2 btcec.ModNScalar
	u2.Mul2(&r, &c.w)
	var q btcec.JacobianPoint
	key.AsJacobian(&q)
	btcec.ScalarMultNonConst(&u2, &q, &c.u2Q)
	rBytes := r.Bytes()
	c.r.SetBytes(&rBytes)
	if !c.r.IsGtOrEqPrimeMinusOrder() {
		c.rPlusN = new(btcec.FieldVal).Add2(&c.r, &curveOrder).Normalize()
	}
	return c
}

// verify reports whether the signature is valid for the 32-byte digest
// hash. The parsers guarantee r and s in [1, N-1].
func (c *sigCheck) verify(hash []byte) bool {
	var e, u1 btcec.ModNScalar
	e.SetByteSlice(hash)
	u1.Mul2(&e, &c.w)
	var u1G, x btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&u1, &u1G)
	btcec.AddNonConst(&u1G, &c.u2Q, &x)
	if (x.X.IsZero() && x.Y.IsZero()) || x.Z.IsZero() {
		return false // the point at infinity
	}
	// Compare in Jacobian coordinates: X.x = x/z², so test r·z² == x.
	z2 := new(btcec.FieldVal).SquareVal(&x.Z)
	if new(btcec.FieldVal).Mul2(&c.r, z2).Normalize().Equals(&x.X) {
		return true
	}
	return c.rPlusN != nil && new(btcec.FieldVal).Mul2(c.rPlusN, z2).Normalize().Equals(&x.X)
}
