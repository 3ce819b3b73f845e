package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/psbt/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// MaxUploadBytes bounds a signed spend the merchant uploads, decoded: a
// PSBT or transaction for a refund or a payout batch is a few kilobytes,
// and BIP174 parsers commonly refuse values above 4 MB.
const MaxUploadBytes = 4_000_000

// ErrNotTransaction means an upload is neither a PSBT (base64, hex or
// binary) nor a raw transaction in hex, or is one that does not parse.
var ErrNotTransaction = errors.New("this is not a PSBT or a transaction: upload the signed PSBT " +
	"(base64, as wallets export it) or the signed transaction in hex")

// psbtMagic begins every PSBT (BIP174): "psbt" and 0xff.
var psbtMagic = []byte("psbt\xff")

// DecodePSBT parses a PSBT given in base64 (as wallets export it), in hex or
// in binary, with surrounding whitespace and line breaks ignored. It refuses
// anything larger than MaxUploadBytes and everything BIP174 calls invalid;
// errors wrap ErrNotTransaction.
func DecodePSBT(b []byte) (*psbt.Packet, error) {
	p, tx, err := decodeUpload(b)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		return nil, fmt.Errorf("%w: this is a raw transaction, not a PSBT", ErrNotTransaction)
	}
	return p, nil
}

// decodeUpload parses a PSBT (base64, hex or binary) or a raw transaction
// in hex. Exactly one of the results is non-nil when err is nil.
func decodeUpload(b []byte) (*psbt.Packet, *wire.MsgTx, error) {
	if len(b) > 2*MaxUploadBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes is too large", ErrNotTransaction, len(b))
	}
	if bytes.HasPrefix(b, psbtMagic) {
		p, err := parsePSBT(b)
		return p, nil, err
	}
	text := stripSpace(b)
	switch {
	case len(text) == 0:
		return nil, nil, fmt.Errorf("%w: the upload is empty", ErrNotTransaction)
	case bytes.HasPrefix(text, []byte("cHNidP8")):
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		n, err := base64.StdEncoding.Decode(raw, text)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the PSBT's base64 is damaged (truncated or mistyped?)", ErrNotTransaction)
		}
		p, err := parsePSBT(raw[:n])
		return p, nil, err
	}
	raw := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(raw, text); err != nil {
		return nil, nil, ErrNotTransaction
	}
	if bytes.HasPrefix(raw, psbtMagic) {
		p, err := parsePSBT(raw)
		return p, nil, err
	}
	if len(raw) > MaxUploadBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes is too large", ErrNotTransaction, len(raw))
	}
	tx := new(wire.MsgTx)
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil || r.Len() != 0 {
		return nil, nil, fmt.Errorf("%w: the hex is not a whole transaction", ErrNotTransaction)
	}
	return nil, tx, nil
}

// parsePSBT parses a binary PSBT. BIP174's own checks are psbt's; the
// error it gives is kept in the message (it names a field, never a key).
func parsePSBT(raw []byte) (*psbt.Packet, error) {
	if len(raw) > MaxUploadBytes {
		return nil, fmt.Errorf("%w: %d bytes is too large for a PSBT", ErrNotTransaction, len(raw))
	}
	r := bytes.NewReader(raw)
	p, err := psbt.NewFromRawBytes(r, false)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid PSBT: %v", ErrNotTransaction, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: invalid PSBT: %d bytes after its end", ErrNotTransaction, r.Len())
	}
	return p, nil
}

// stripSpace returns b without ASCII white space: wallets and mail wrap
// long base64 and hex in lines.
func stripSpace(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			out = append(out, c)
		}
	}
	return out
}
