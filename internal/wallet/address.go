package wallet

import (
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

// ScriptForAddress returns the output script paying to addr, which must be a
// P2PKH, P2SH, P2WPKH, P2WSH or P2TR address for the named network.
func ScriptForAddress(addr, network string) ([]byte, error) {
	params, err := NetworkParams(network)
	if err != nil {
		return nil, err
	}
	decoded, err := address.DecodeAddress(addr, params)
	if err != nil {
		return nil, fmt.Errorf("%w for %s: %v", ErrBadAddress, network, err)
	}
	switch decoded.(type) {
	case *address.AddressPubKeyHash, *address.AddressScriptHash, *address.AddressWitnessPubKeyHash,
		*address.AddressWitnessScriptHash, *address.AddressTaproot:
	default:
		return nil, fmt.Errorf("%w: %T is not a payment address", ErrBadAddress, decoded)
	}
	if !decoded.IsForNet(params) {
		return nil, fmt.Errorf("%w: the address is not for %s", ErrBadAddress, network)
	}
	script, err := txscript.PayToAddrScript(decoded)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	return script, nil
}

// AddressForScript returns the address of a standard output script on the
// named network, "" when the script has none (a bare multisig, data).
func AddressForScript(script []byte, network string) (string, error) {
	params, err := NetworkParams(network)
	if err != nil {
		return "", err
	}
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, params)
	if err != nil || len(addrs) != 1 {
		return "", nil
	}
	return addrs[0].EncodeAddress(), nil
}
