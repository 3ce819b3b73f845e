package bitauth

import "net/http"

// FromRequest returns the identity and signature headers of r. The
// identity is X-Identity, or x-pubkey as sent by the old node client when
// X-Identity is absent. Header names are matched case-insensitively.
func FromRequest(r *http.Request) (identity, signature string) {
	identity = r.Header.Get("X-Identity")
	if identity == "" {
		identity = r.Header.Get("X-Pubkey")
	}
	return identity, r.Header.Get("X-Signature")
}
