package hotwallet

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Params are the argon2id parameters that turn a passphrase into the key
// sealing a hot key. Each sealed blob carries its own, so raising them
// later leaves older blobs readable (seal them again to upgrade).
type Params struct {
	Memory  uint32 // KiB
	Time    uint8  // passes
	Threads uint8  // lanes
}

// DefaultParams take about 200 ms and 64 MiB on one core of a small
// server: a guess at the passphrase costs an attacker who has the database
// as much. Opening happens when a spend is signed, not per request.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 1}

// The sealed format, version 1, all fixed-size fields big-endian:
//
//	0      version (1)
//	1      key derivation (1: argon2id v19)
//	2..5   argon2 memory, KiB
//	6      argon2 passes
//	7      argon2 lanes
//	8..23  salt (16 random bytes)
//	24..47 nonce (24 random bytes, XChaCha20-Poly1305)
//	48..   ciphertext and its 16-byte tag
//
// The AEAD's associated data is a domain label, the 48-byte header and the
// store's id: the parameters cannot be changed and a blob cannot be moved
// to another store without the tag failing.
const (
	sealVersion  = 1
	kdfArgon2id  = 1
	saltLen      = 16
	headerLen    = 8 + saltLen + chacha20poly1305.NonceSizeX
	sealOverhead = headerLen + chacha20poly1305.Overhead
	adLabel      = "kassa hot key\x00"
)

// Bounds on the parameters Open accepts: a tampered row must not make
// kassa allocate gigabytes or spin for minutes before the tag fails.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 16
	maxThreads = 16
)

// MinPassphraseLen is the fewest characters a passphrase may have.
const MinPassphraseLen = 12

var (
	// ErrWrongPassphrase means the passphrase does not open the sealed
	// key: it is another passphrase, or the blob was altered or belongs
	// to another store (AEAD cannot tell these apart, and need not).
	ErrWrongPassphrase = errors.New("the passphrase does not open the store's hot key " +
		"(a wrong passphrase, or the stored key was altered or is another store's)")

	// ErrSealedFormat means the stored blob is not a sealed key kassa
	// can read: truncated, an unknown version, or parameters out of
	// bounds.
	ErrSealedFormat = errors.New("the stored hot key is not in a format kassa reads")

	// ErrWeakPassphrase means the passphrase is too short to seal with.
	ErrWeakPassphrase = fmt.Errorf("the hot wallet passphrase must have at least %d characters", MinPassphraseLen)
)

// CheckPassphrase refuses a passphrase too short to seal a key with.
func CheckPassphrase(passphrase []byte) error {
	if utf8.RuneCount(passphrase) < MinPassphraseLen {
		return ErrWeakPassphrase
	}
	return nil
}

// Seal encrypts plaintext (a private key) under a key derived from the
// passphrase with argon2id at p, bound to the store's id, with a fresh
// random salt and nonce. The result holds nothing of plaintext in clear.
func Seal(plaintext, passphrase []byte, storeID string, p Params) ([]byte, error) {
	if err := CheckPassphrase(passphrase); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	out := make([]byte, headerLen, sealOverhead+len(plaintext))
	out[0], out[1] = sealVersion, kdfArgon2id
	binary.BigEndian.PutUint32(out[2:6], p.Memory)
	out[6], out[7] = p.Time, p.Threads
	if _, err := rand.Read(out[8:headerLen]); err != nil {
		return nil, fmt.Errorf("seal: random salt and nonce: %w", err)
	}
	aead, err := p.aead(passphrase, out[8:8+saltLen])
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, out[8+saltLen:headerLen], plaintext, associated(out[:headerLen], storeID)), nil
}

// Open decrypts what Seal made for storeID with the passphrase. Every
// failure to authenticate is ErrWrongPassphrase; a blob kassa cannot read
// is ErrSealedFormat. The caller should clear the plaintext when done.
func Open(sealed, passphrase []byte, storeID string) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrSealedFormat, len(sealed))
	}
	if sealed[0] != sealVersion || sealed[1] != kdfArgon2id {
		return nil, fmt.Errorf("%w: version %d, key derivation %d", ErrSealedFormat, sealed[0], sealed[1])
	}
	p := Params{Memory: binary.BigEndian.Uint32(sealed[2:6]), Time: sealed[6], Threads: sealed[7]}
	if err := p.check(); err != nil {
		return nil, err
	}
	aead, err := p.aead(passphrase, sealed[8:8+saltLen])
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, sealed[8+saltLen:headerLen], sealed[headerLen:], associated(sealed[:headerLen], storeID))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return plain, nil
}

// check refuses parameters out of the bounds Open accepts.
func (p Params) check() error {
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime ||
		p.Threads < 1 || p.Threads > maxThreads {
		return fmt.Errorf("%w: argon2id parameters m=%d t=%d p=%d are out of bounds", ErrSealedFormat, p.Memory, p.Time, p.Threads)
	}
	return nil
}

// aead derives the sealing key from the passphrase and salt.
func (p Params) aead(passphrase, salt []byte) (cipher.AEAD, error) {
	key := argon2.IDKey(passphrase, salt, uint32(p.Time), p.Memory, p.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead, nil
}

// associated is the AEAD's associated data: label, header, store id.
func associated(header []byte, storeID string) []byte {
	ad := make([]byte, 0, len(adLabel)+len(header)+len(storeID))
	return append(append(append(ad, adLabel...), header...), storeID...)
}
