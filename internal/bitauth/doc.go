// Package bitauth verifies BitPay's request signatures ("BitAuth", spec §1).
//
// A signed request carries two headers. X-Identity (x-pubkey on old
// clients) holds the client's secp256k1 public key as hex, and X-Signature
// holds a hex DER ECDSA signature over the single SHA-256 of the signed
// string: the full URL exactly as the client built it (scheme, host, an
// optional port, the raw request-target with its query, even a bare "?")
// followed by the raw body bytes. The server never sees the URL the client
// built, only the request-target, so a Verifier rebuilds the candidates
// from the public origins it was configured with and accepts the request
// when any candidate verifies.
//
// Several clients emit high-S signatures (PHP1, Python, the Node SDK), so
// the low-S rule of Bitcoin transactions is deliberately not enforced.
//
// A client is known by its SIN: base58check(0x0F 0x02 ‖ RIPEMD160(SHA256(P)))
// where P is the public key exactly as sent. Tokens are bound to SINs, so
// the SIN is what Verify returns.
package bitauth
