package spender

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/kassa-pay/kassa/internal/auth"
)

func newID() string { return auth.NewID() }

func serialize(tx *wire.MsgTx) ([]byte, error) {
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		return nil, fmt.Errorf("serialize transaction: %w", err)
	}
	return b.Bytes(), nil
}

func deserialize(raw []byte) (*wire.MsgTx, error) {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("decode the recorded transaction: %w", err)
	}
	return &tx, nil
}
