// Package wallet turns a merchant's receiving key into payment addresses.
//
// kassa is non-custodial: it never holds a key that can spend. The merchant
// gives it the account-level extended public key of their own wallet, either
// as a SLIP-132 string (xpub/ypub/zpub on mainnet, tpub/upub/vpub on the test
// networks) or as an output descriptor such as
//
//	wpkh([d34db33f/84h/0h/0h]xpub.../0/*)#cjjspncu
//
// and kassa derives one fresh address per invoice along the receive branch,
// account/0/i for extended keys, or the descriptor's own non-hardened path.
//
// ParseKey validates the input against the network kassa runs on and returns
// a Key. Every way a key can be wrong has its own sentinel error
// (ErrWrongNetwork, ErrPrivateKey, ErrHardenedDerivation, ErrBadChecksum,
// ErrMalformedKey, ErrUnsupportedScript, ErrUnknownNetwork) so the caller can
// tell the merchant exactly what to fix; private keys are refused outright and
// never echoed back. Key.String gives the canonical descriptor with its
// BIP-380 checksum, which is what kassa stores: parsing it again yields the
// same addresses.
//
// Key derives the branch key once at parse time, so each Derive costs a single
// BIP32 child derivation plus hashing. A Key is immutable and safe for
// concurrent use. Cache keeps addresses derived ahead of use for callers on a
// hot path, such as the store's writer choosing an address inside its
// transaction.
//
// The script types are the single-key ones wallets export for receiving:
// P2PKH (BIP44, pkh), P2SH-P2WPKH (BIP49, sh(wpkh)), P2WPKH (BIP84, wpkh) and
// key-path-only P2TR (BIP86, tr), whose output key is the internal key tweaked
// with the TapTweak of an empty script tree.
//
// Money goes out without kassa holding a key: Key.BuildSpend selects coins
// (Select) and builds an unsigned PSBT (BIP174, btcd's psbt/v2) with change
// on the key's change branch (DeriveChange) and everything a wallet needs to
// sign it, BIP32 derivations from the key origin included (HasOrigin,
// WithOrigin); Key.CheckSigned takes back what the wallet signed and returns
// the transaction to broadcast only when it is the approved one, fully and
// validly signed, with a fee under the ceiling.
//
// The one place kassa holds a private key is the opt-in hot signer:
// ParseHotKey takes the private key of a store's Key (the account xprv,
// the master xprv along the key origin, or a descriptor with the private
// key) and refuses any key that does not derive exactly the store's;
// HotKey.Sign signs an approved spend as the merchant's wallet would, and
// what it signs goes through CheckSigned like any upload. A HotKey prints
// and logs as a placeholder, and no error repeats key material.
package wallet
