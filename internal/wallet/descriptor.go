package wallet

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// parseDescriptor parses a single-key output descriptor, verifying its
// checksum when it carries one.
func parseDescriptor(s string, params *chaincfg.Params, network string) (*Key, error) {
	d, err := splitDescriptor(s)
	if err != nil {
		return nil, err
	}
	script, origin, encoded, pathExpr := d.script, d.origin, d.key, d.path
	if isHexKey(encoded) {
		return nil, fmt.Errorf("%w: descriptor holds a single public key, which gives one address; "+
			"kassa needs an extended public key (xpub/tpub) ending in /*", ErrMalformedKey)
	}
	ext, err := parseExtKey(encoded, network)
	if err != nil {
		return nil, err
	}
	if ext.version.prefix != "xpub" && ext.version.prefix != "tpub" {
		return nil, fmt.Errorf("%w: descriptors take xpub/tpub keys, not %s; the script type comes "+
			"from the descriptor, or give the %s on its own", ErrMalformedKey, ext.version.prefix, ext.version.prefix)
	}
	path, err := parseWildcardPath(pathExpr)
	if err != nil {
		return nil, err
	}
	return newKey(params, network, script, ext.key, origin, path)
}

// descriptorParts are a single-key descriptor's pieces: its script, the
// key origin in canonical form, the encoded key and the derivation after
// it ("/0/*").
type descriptorParts struct {
	script            ScriptType
	origin, key, path string
}

// splitDescriptor verifies a descriptor's checksum when it has one and
// cuts it into its parts.
func splitDescriptor(s string) (descriptorParts, error) {
	body, err := splitChecksum(s)
	if err != nil {
		return descriptorParts{}, err
	}
	script, keyExpr, err := splitScript(body)
	if err != nil {
		return descriptorParts{}, err
	}
	origin, rest, err := parseOrigin(keyExpr)
	if err != nil {
		return descriptorParts{}, err
	}
	d := descriptorParts{script: script, origin: origin, key: rest}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		d.key, d.path = rest[:i], rest[i:]
	}
	if d.key == "" {
		return descriptorParts{}, fmt.Errorf("%w: descriptor has no key", ErrMalformedKey)
	}
	return d, nil
}

// splitScript strips the script expression around the key expression and
// returns the script type it names.
func splitScript(body string) (ScriptType, string, error) {
	forms := []struct {
		open, close string
		script      ScriptType
	}{
		{"sh(wpkh(", "))", P2SHP2WPKH},
		{"wpkh(", ")", P2WPKH},
		{"pkh(", ")", P2PKH},
		{"tr(", ")", P2TR},
	}
	for _, f := range forms {
		inner, ok := strings.CutPrefix(body, f.open)
		if !ok {
			continue
		}
		if strings.Contains(inner, ",") {
			return 0, "", fmt.Errorf("%w: %s…%s with more than one argument (script paths or "+
				"multisig) is not supported", ErrUnsupportedScript, f.open, f.close)
		}
		inner, ok = strings.CutSuffix(inner, f.close)
		if !ok || strings.ContainsAny(inner, "()") {
			return 0, "", fmt.Errorf("%w: unbalanced parentheses in %s…%s", ErrMalformedKey, f.open, f.close)
		}
		return f.script, inner, nil
	}
	name, _, found := strings.Cut(body, "(")
	if !found {
		return 0, "", fmt.Errorf("%w: a descriptor needs a script expression such as wpkh(KEY/0/*)", ErrMalformedKey)
	}
	if !isIdentifier(name) {
		name = "this script"
	}
	return 0, "", fmt.Errorf("%w: %s(…) is not supported; use wpkh, sh(wpkh), pkh or tr with one "+
		"extended public key", ErrUnsupportedScript, name)
}

// parseOrigin splits an optional "[fingerprint/path]" key origin from a key
// expression and returns it in canonical form: lower-case fingerprint and
// 'h' for hardened steps.
func parseOrigin(expr string) (origin, rest string, err error) {
	inner, ok := strings.CutPrefix(expr, "[")
	if !ok {
		return "", expr, nil
	}
	inner, rest, ok = strings.Cut(inner, "]")
	if !ok {
		return "", "", fmt.Errorf("%w: key origin has no closing ']'", ErrMalformedKey)
	}
	if strings.HasPrefix(rest, "[") {
		return "", "", fmt.Errorf("%w: more than one key origin", ErrMalformedKey)
	}
	fp, path, _ := strings.Cut(inner, "/")
	if len(fp) != 8 || !isHex(fp) {
		return "", "", fmt.Errorf("%w: key origin fingerprint must be 8 hex digits", ErrMalformedKey)
	}
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.ToLower(fp))
	if strings.Contains(inner, "/") {
		for step := range strings.SplitSeq(path, "/") {
			num, hardened := strings.CutSuffix(step, "h")
			if !hardened {
				num, hardened = strings.CutSuffix(step, "'")
			}
			n, err := parseIndex(num)
			if err != nil {
				return "", "", fmt.Errorf("key origin: %w", err)
			}
			b.WriteByte('/')
			b.WriteString(strconv.FormatUint(uint64(n), 10))
			if hardened {
				b.WriteByte('h')
			}
		}
	}
	b.WriteByte(']')
	return b.String(), rest, nil
}

// parseWildcardPath parses the derivation after the extended key, which
// must be zero or more non-hardened steps followed by "/*".
func parseWildcardPath(expr string) ([]uint32, error) {
	steps, ok := strings.CutSuffix(expr, "/*")
	if !ok {
		switch {
		case strings.HasSuffix(expr, "/*h"), strings.HasSuffix(expr, "/*'"):
			return nil, fmt.Errorf("hardened wildcard: %w", ErrHardenedDerivation)
		case strings.ContainsAny(expr, "<>;"):
			return nil, fmt.Errorf("%w: multipath <a;b> keys are not supported; give the receive "+
				"branch only, such as /0/*", ErrMalformedKey)
		}
		return nil, fmt.Errorf("%w: the key must end in /* so that every invoice gets a fresh address",
			ErrMalformedKey)
	}
	var path []uint32
	if steps == "" {
		return path, nil
	}
	for step := range strings.SplitSeq(strings.TrimPrefix(steps, "/"), "/") {
		if strings.HasSuffix(step, "h") || strings.HasSuffix(step, "'") {
			return nil, fmt.Errorf("step %s: %w", short(step), ErrHardenedDerivation)
		}
		if strings.ContainsAny(step, "<>;") {
			return nil, fmt.Errorf("%w: multipath <a;b> keys are not supported; give the receive "+
				"branch only, such as /0/*", ErrMalformedKey)
		}
		i, err := parseIndex(step)
		if err != nil {
			return nil, err
		}
		path = append(path, i)
	}
	return path, nil
}

// parseIndex parses a decimal BIP32 child number below the hardened range.
func parseIndex(s string) (uint32, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: derivation step %q is not a number", ErrMalformedKey, short(s))
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n >= hdkeychain.HardenedKeyStart {
		return 0, fmt.Errorf("%w: derivation step %s is out of range", ErrMalformedKey, short(s))
	}
	return uint32(n), nil
}

// isHexKey reports whether s is a hex public key: 33 or 65 bytes, or a
// 32-byte x-only key as tr() takes.
func isHexKey(s string) bool {
	return (len(s) == 64 || len(s) == 66 || len(s) == 130) && isHex(s)
}

// isHex reports whether s is non-empty hex.
func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return s != "" && err == nil
}

// isIdentifier reports whether s looks like a script function name and so
// is safe to repeat in an error message.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") == ""
}

// short returns s for an error message when it is short enough not to be
// key material pasted in the wrong place.
func short(s string) string {
	if len(s) > 12 {
		return "(long step)"
	}
	return s
}
