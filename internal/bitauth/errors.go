package bitauth

import "errors"

// The errors Verify returns. Each is wrapped with detail, so callers match
// them with errors.Is and map them to BitPay's error envelope.
var (
	// ErrMissingIdentity means the request carries no X-Identity or
	// x-pubkey header.
	ErrMissingIdentity = errors.New("bitauth: missing identity")

	// ErrBadIdentity means the identity is not a hex secp256k1 public key
	// in compressed (33 bytes) or uncompressed (65 bytes) form.
	ErrBadIdentity = errors.New("bitauth: malformed identity")

	// ErrBadSignature means the signature is missing or is not hex DER.
	ErrBadSignature = errors.New("bitauth: malformed signature")

	// ErrInvalidSignature means a well-formed signature does not verify
	// for any configured origin.
	ErrInvalidSignature = errors.New("bitauth: invalid signature")
)
