package wallet

// Account keys of the BIP test vectors (mnemonic "abandon … about"), as
// published in testdata/, and the same keys re-encoded with other version
// bytes the way wallets export them.
const (
	// bip84Zpub is m/84'/0'/0' from BIP84.
	bip84Zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
	// bip84Xpub is bip84Zpub with xpub version bytes.
	bip84Xpub = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
	// bip84Vpub and bip84Tpub are bip84Zpub with test-network version
	// bytes, used for regtest and signet tests.
	bip84Vpub = "vpub5YvMuJNjRSYon44z9QmCfdf8SqJRVNvz6m55Qy5iVjZQxDfUgtiQjnc7CC1fAbED2tAGCZRERUfvtn2DstZGU6HMns6dXXH2wujSc2wfi2x"
	bip84Tpub = "tpubDCxX2sYFS5bDkSe5GKKYHjBW7tgyN1R3UchpLJvdbf54ohxeGRtd8MbDUe1cguVHe4vnK68DsuD5MXjxi9EXx16rb9EnNsaF5KT99CinaJz"
	// bip84Zprv is the account private key from BIP84.
	bip84Zprv = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
	// bip84Receive0 and bip84Receive1 are BIP84's first two receive
	// addresses.
	bip84Receive0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
	bip84Receive1 = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"

	// bip49Upub is m/49'/1'/0' from BIP49 (testnet), bip49Uprv its
	// private key, bip49Receive0 its first receive address.
	bip49Upub     = "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY"
	bip49Uprv     = "uprv91G7gZkzehuMVxDJTYE6tLivdF8e4rvzSu1LFfKw3b2Qx1Aj8vpoFnHdfUZ3hmi9jsvPifmZ24RTN2KhwB8BfMLTVqaBReibyaFFcTP1s9n"
	bip49Receive0 = "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"

	// bip86Xpub is m/86'/0'/0' from BIP86, bip86Xprv the root private
	// key, bip86Receive0 and bip86Receive1 the first receive addresses.
	bip86Xpub     = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
	bip86Xprv     = "xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu"
	bip86Receive0 = "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
	bip86Receive1 = "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
)
