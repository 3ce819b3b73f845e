package wallet

import (
	"errors"
	"testing"
)

// FuzzParseKey feeds arbitrary input to ParseKey: it must never panic, every
// error must match one of the package's sentinels, and every accepted key
// must round-trip through its canonical descriptor and derive an address.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		bip84Zpub, bip49Upub, bip84Vpub, bip86Xprv,
		"wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/0/*)#cjjspncu",
		"tr([73c5da0a/86'/0'/0']" + bip86Xpub + "/0/*)",
		"sh(wpkh(" + bip84Tpub + "/1/2/*))",
		"wpkh(" + bip84Xpub + "/0/*h)",
		"raw(deadbeef)#89f8spxm",
	} {
		f.Add(s)
	}
	sentinels := []error{
		ErrMalformedKey, ErrBadChecksum, ErrPrivateKey, ErrWrongNetwork,
		ErrHardenedDerivation, ErrUnsupportedScript,
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, network := range []string{Mainnet, Regtest} {
			key, err := ParseKey(s, network)
			if err != nil {
				known := false
				for _, sentinel := range sentinels {
					known = known || errors.Is(err, sentinel)
				}
				if !known {
					t.Fatalf("ParseKey(%q): error %v matches no sentinel", s, err)
				}
				continue
			}
			again, err := ParseKey(key.String(), network)
			if err != nil {
				t.Fatalf("ParseKey(%q) = %s, which does not parse: %v", s, key, err)
			}
			if again.String() != key.String() {
				t.Fatalf("round trip of %s gave %s", key, again)
			}
			if _, err := key.Derive(0); err != nil && !errors.Is(err, ErrInvalidChild) {
				t.Fatalf("Derive(0) on %s: %v", key, err)
			}
		}
	})
}
