package wallet

import (
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Network names as kassa's configuration spells them.
const (
	Mainnet = "mainnet"
	Testnet = "testnet"
	Signet  = "signet"
	Regtest = "regtest"
)

// NetworkParams returns the chain parameters for a kassa network name:
// "mainnet", "testnet" (testnet3), "signet" or "regtest".
func NetworkParams(name string) (*chaincfg.Params, error) {
	switch name {
	case Mainnet:
		return &chaincfg.MainNetParams, nil
	case Testnet:
		return &chaincfg.TestNet3Params, nil
	case Signet:
		return &chaincfg.SigNetParams, nil
	case Regtest:
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("%w %q: want mainnet, testnet, signet or regtest", ErrUnknownNetwork, name)
}

// isMainnet reports whether name is the one network whose keys carry the
// mainnet version bytes; the three test networks share theirs.
func isMainnet(name string) bool { return name == Mainnet }
