package gateway_test

import "github.com/btcsuite/btcd/chainhash/v2"

func chainHash(s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}
