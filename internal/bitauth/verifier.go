package bitauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// CacheSize is how many parsed public keys a Verifier keeps.
const CacheSize = 10_000

// Verifier checks BitAuth signatures against a fixed set of public
// origins. It is safe for concurrent use.
type Verifier struct {
	// origins holds each configured origin followed by its default-port
	// twin ("https://h" and "https://h:443"), deduplicated, in order.
	origins []string
	keys    *keyCache
	// hint is the index in origins that verified last. Trying it first
	// makes the common case one ECDSA verification, since one deployment
	// is usually reached under one name.
	hint atomic.Int32
}

// NewVerifier returns a Verifier for the public origins clients use to
// reach this server, such as "https://pay.example.com" or
// "https://bitpay.com": a scheme, a host and an optional port, without a
// path or trailing slash. A client may sign the default port explicitly
// (node-bitpay-client signed "https://test.bitpay.com:443/tokens"), so
// both forms of each origin are accepted.
func NewVerifier(origins []string) (*Verifier, error) {
	if len(origins) == 0 {
		return nil, fmt.Errorf("bitauth: no public origins configured")
	}
	v := &Verifier{keys: newKeyCache(CacheSize)}
	seen := make(map[string]bool)
	for _, o := range origins {
		forms, err := originForms(o)
		if err != nil {
			return nil, err
		}
		for _, f := range forms {
			if !seen[f] {
				seen[f] = true
				v.origins = append(v.origins, f)
			}
		}
	}
	return v, nil
}

// originForms validates one configured origin and returns it together
// with its explicit or implicit default-port form.
func originForms(origin string) ([]string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return nil, fmt.Errorf("bitauth: origin %q: %w", origin, err)
	}
	var defaultPort string
	switch u.Scheme {
	case "http":
		defaultPort = "80"
	case "https":
		defaultPort = "443"
	default:
		return nil, fmt.Errorf("bitauth: origin %q: scheme must be http or https", origin)
	}
	if u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.ForceQuery {
		return nil, fmt.Errorf("bitauth: origin %q: want scheme://host[:port] with no path or trailing slash", origin)
	}
	base := u.Scheme + "://" + u.Host
	switch u.Port() {
	case "":
		return []string{base, base + ":" + defaultPort}, nil
	case defaultPort:
		return []string{base, u.Scheme + "://" + strings.TrimSuffix(u.Host, ":"+defaultPort)}, nil
	default:
		return []string{base}, nil
	}
}

// Verify checks that signatureHex is identityHex's signature over one of
// the configured origins followed by requestURI and body, and returns the
// client's SIN. requestURI is the raw request-target as received
// (http.Request.RequestURI), never a re-encoded URL, and body is the raw
// body, never re-serialized JSON. The errors wrap ErrMissingIdentity,
// ErrBadIdentity, ErrBadSignature or ErrInvalidSignature.
//
// High-S signatures are accepted. Other spellings of the same target are
// tried too: "+" and "%20" exchanged in the query, because PHP clients
// sign spaces as "+" while their HTTP library sends "%20" (spec §1.2), and
// the target normalised per RFC 3986 (targetForms).
func (v *Verifier) Verify(identityHex, signatureHex, requestURI string, body []byte) (sin string, err error) {
	if strings.TrimSpace(identityHex) == "" {
		return "", ErrMissingIdentity
	}
	key, cached, err := v.clientKey(identityHex)
	if err != nil {
		return "", err
	}
	sig, err := parseSignature(signatureHex)
	if err != nil {
		return "", err
	}
	// The errors below leave requestURI out: its query may hold a token.
	cands, target := v.candidates(requestURI)
	if len(cands) == 0 {
		return "", fmt.Errorf("%w: absolute request-target names an origin that is not configured", ErrInvalidSignature)
	}
	check := newSigCheck(sig, key.key)
	// The target as sent comes first: nearly every client signs what it
	// sends, and the other spellings cost a signature check each.
	for t := range targetForms(target) {
		for _, c := range cands {
			if check.verify(signedHash(c.origin, t, body)) {
				if c.index >= 0 {
					v.hint.Store(int32(c.index))
				}
				// Only keys that proved themselves are cached, so junk
				// requests cannot evict real clients.
				if !cached {
					v.keys.put(identityHex, key)
				}
				return key.sin, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no configured origin matches", ErrInvalidSignature)
}

// targetForms lists the spellings of target a client may have signed,
// the target as sent first, without repeats. HTTP libraries re-encode a
// URL between the client's signing code and the wire in two ways that
// keep its meaning (RFC 3986 §6.2.2): they decode or encode unreserved
// characters (in practice "~", which Java's URLEncoder and old PHP write
// as %7E) and they change the case of hex digits. The signature covers
// bytes, so kassa tries the target normalised per RFC 3986 (unreserved
// characters decoded, hex upper-cased) and its variants with "~" encoded
// and hex in lower case; reserved characters are never decoded (%2C and
// "," mean different things in a query). Each form is also tried with
// "+" and "%20" exchanged in its query (swapSpaces). The forms are made
// as they are tried, so a target that verifies as sent costs no more.
func targetForms(target string) iter.Seq[string] {
	return func(yield func(string) bool) {
		var seen []string
		try := func(f string) bool {
			for _, g := range [2]string{f, swapSpaces(f)} {
				if !slices.Contains(seen, g) {
					seen = append(seen, g)
					if !yield(g) {
						return false
					}
				}
			}
			return true
		}
		if !try(target) || !strings.ContainsAny(target, "%~") {
			return
		}
		for _, tilde := range [2]bool{false, true} {
			for _, lower := range [2]bool{false, true} {
				if !try(normalizeTarget(target, tilde, lower)) {
					return
				}
			}
		}
	}
}

// normalizeTarget decodes percent-encoded unreserved characters and
// writes every remaining escape's hex digits in one case (upper unless
// lowerHex); encodeTilde then writes every "~" as an escape. A malformed
// escape is kept as it is.
func normalizeTarget(target string, encodeTilde, lowerHex bool) string {
	hexDigits := "0123456789ABCDEF"
	if lowerHex {
		hexDigits = "0123456789abcdef"
	}
	escape := func(b *strings.Builder, c byte) {
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	var b strings.Builder
	b.Grow(len(target) + 8)
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '%' && i+2 < len(target) && isHex(target[i+1]) && isHex(target[i+2]) {
			c = unhex(target[i+1])<<4 | unhex(target[i+2])
			i += 2
			if !unreserved(c) {
				escape(&b, c)
				continue
			}
		}
		if c == '~' && encodeTilde {
			escape(&b, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// candidate is an origin to try, with its index in Verifier.origins, or
// -1 when it came from an absolute-form request-target.
type candidate struct {
	origin string
	index  int
}

// candidates splits requestURI into the origins to try and the part that
// follows them. An origin-form target ("/invoices?token=T") is tried after
// every configured origin, the last successful one first. An
// absolute-form target ("https://host/invoices", as sent to proxies)
// already holds the URL the client built; it is tried as sent, and only
// when its origin is a configured one.
func (v *Verifier) candidates(requestURI string) ([]candidate, string) {
	if origin, rest, ok := splitAbsolute(requestURI); ok {
		for _, o := range v.origins {
			if strings.EqualFold(o, origin) {
				return []candidate{{origin: origin, index: -1}}, rest
			}
		}
		return nil, requestURI
	}
	cands := make([]candidate, 0, len(v.origins))
	hint := int(v.hint.Load())
	if hint < len(v.origins) {
		cands = append(cands, candidate{v.origins[hint], hint})
	}
	for i, o := range v.origins {
		if i != hint {
			cands = append(cands, candidate{o, i})
		}
	}
	return cands, requestURI
}

// splitAbsolute splits an absolute-form http(s) request-target into its
// origin and the path and query after it.
func splitAbsolute(target string) (origin, rest string, ok bool) {
	lower := strings.ToLower(target)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return "", "", false
	}
	afterScheme := strings.Index(target, "://") + len("://")
	end := strings.IndexAny(target[afterScheme:], "/?")
	if end < 0 {
		return target, "", true
	}
	return target[:afterScheme+end], target[afterScheme+end:], true
}

// spaceSwapper exchanges the two encodings of a space in a query.
var spaceSwapper = strings.NewReplacer("%20", "+", "+", "%20")

// swapSpaces returns target with "+" and "%20" exchanged in its query, or
// target itself when the query holds neither.
func swapSpaces(target string) string {
	q := strings.IndexByte(target, '?')
	if q < 0 {
		return target
	}
	return target[:q+1] + spaceSwapper.Replace(target[q+1:])
}

// signedHash is the single SHA-256 of the signed string origin+target+body.
func signedHash(origin, target string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(origin))
	h.Write([]byte(target))
	h.Write(body)
	return h.Sum(nil)
}

// clientKey returns the parsed key and SIN for identityHex, from the cache
// when this identity was seen before, and whether it came from the cache.
func (v *Verifier) clientKey(identityHex string) (clientKey, bool, error) {
	if k, ok := v.keys.get(identityHex); ok {
		return k, true, nil
	}
	k, err := parseIdentity(identityHex)
	return k, false, err
}

// parseSignature decodes a hex DER signature. S may be high. Strict DER is
// tried first; the lenient BER parser then accepts the padding mistakes of
// hand-written encoders (PHP1 builds its DER by string concatenation),
// which yields the same r and s and so cannot make a forgery verify.
func parseSignature(signatureHex string) (*ecdsa.Signature, error) {
	signatureHex = strings.TrimSpace(signatureHex)
	if signatureHex == "" {
		return nil, fmt.Errorf("%w: missing X-Signature", ErrBadSignature)
	}
	raw, err := hex.DecodeString(signatureHex)
	if err != nil {
		return nil, fmt.Errorf("%w: not hex: %v", ErrBadSignature, err)
	}
	sig, err := ecdsa.ParseDERSignature(raw)
	if err == nil {
		return sig, nil
	}
	if sig, berErr := ecdsa.ParseSignature(raw); berErr == nil {
		return sig, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
}
