package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
)

// This file holds the lenient JSON readers every request decoder shares.
// Clients of different generations send the same field as a number or a
// string, a boolean as true, "true" or 1, and drop empty fields (spec
// §3.2, §13.9); a value of the wrong kind is a field error, never a 500.

// eachMember calls fn for every member of the JSON object raw, in document
// order, with the raw bytes of its value. null or an empty body is an
// empty object; anything else but an object is an error.
func eachMember(raw []byte, fn func(key string, val json.RawMessage) error) error {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return errBadJSON
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errBadJSON
		}
		key, ok := t.(string)
		if !ok {
			return errBadJSON
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return errBadJSON
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errBadJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadJSON
	}
	return nil
}

var (
	errNotObject = errors.New("must be a JSON object")
	errBadJSON   = errors.New("is not valid JSON")
)

// isNull reports whether a value is absent in effect: JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// stringish reads a string field. A number is taken as its literal text
// (PHP sends orderId 123), null as "". Objects, arrays and booleans fail.
func stringish(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be a string")
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	}
	return "", errors.New("must be a string")
}

// boolish reads a boolean sent as true/false, "true"/"false" (any case,
// also "yes"/"no"), 1/0 or "1"/"0". null and "" are false: SDKs strip
// false values, so absent and false mean the same.
func boolish(raw json.RawMessage) (bool, error) {
	if isNull(raw) {
		return false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, errors.New("must be a boolean")
		}
	}
	return boolText(s)
}

// boolText parses the text of a boolean, also for query parameters such
// as forceCancel=true.
func boolText(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off", "":
		return false, nil
	}
	return false, errors.New("must be a boolean")
}

// decimalText matches a plain decimal number, optionally with an exponent
// (Python sends 1e-05), bounded so a hostile value cannot make later
// decimal arithmetic expensive.
var decimalText = regexp.MustCompile(`^-?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})([eE][-+]?\d{1,2})?$`)

// numberish reads a number sent as a JSON number or a numeric string and
// keeps its exact digits ("10.50" stays 10.50). null gives "".
func numberish(raw json.RawMessage) (json.Number, error) {
	if isNull(raw) {
		return "", nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be a number")
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return "", nil
		}
	}
	if !decimalText.MatchString(s) {
		return "", errors.New("must be a number")
	}
	return json.Number(s), nil
}

// integerish reads a whole number sent as a JSON number or numeric string;
// 1200000, "1200000" and 1.2e6 are all accepted. ok is false for null.
func integerish(raw json.RawMessage) (n int64, ok bool, err error) {
	num, err := numberish(raw)
	if err != nil || num == "" {
		return 0, false, err
	}
	if n, err := strconv.ParseInt(string(num), 10, 64); err == nil {
		return n, true, nil
	}
	// 1.2e6 and 1200000.0: read exactly as a decimal, never through a float.
	d, err := decimal.NewFromString(string(num))
	if err != nil || !d.IsInteger() || d.Abs().GreaterThan(decimal.New(1, 18)) {
		return 0, false, errors.New("must be a whole number")
	}
	return d.IntPart(), true, nil
}

// jsonText returns a value as text: a string's contents, or for anything
// else (an object posted as posData) its JSON text as sent.
func jsonText(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		return stringish(raw)
	}
	return string(raw), nil
}

// formKey matches PHP's http_build_query names: buyer[name] and
// paymentCurrencies[].
var formKey = regexp.MustCompile(`^([A-Za-z0-9_]+)\[([A-Za-z0-9_]*)\]$`)

// FormToJSON turns an application/x-www-form-urlencoded body (hand-written
// integrations post invoices that way, spec §0.2) into a JSON object of
// strings, which the lenient decoders read like any JSON body:
// buyer[name]=Jo becomes {"buyer":{"name":"Jo"}}, paymentCurrencies[]=BTC
// an array. A repeated plain key keeps its last value.
func FormToJSON(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, bitpay.BadRequest("request body is not a valid form")
	}
	obj := map[string]any{}
	// In key order, so a name sent in two shapes (buyer=x&buyer[name]=y)
	// always decodes the same way: the nested form wins.
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		vs := vals[k]
		m := formKey.FindStringSubmatch(k)
		switch {
		case m == nil:
			if _, nested := obj[k].(map[string]string); !nested {
				obj[k] = vs[len(vs)-1]
			}
		case m[2] == "":
			obj[m[1]] = vs
		default:
			sub, ok := obj[m[1]].(map[string]string)
			if !ok {
				sub = map[string]string{}
				obj[m[1]] = sub
			}
			sub[m[2]] = vs[len(vs)-1]
		}
	}
	return json.Marshal(obj)
}

// ParseDate parses a list filter date: YYYY-MM-DD (the SDKs), MM/dd/yyyy
// (NBitpayClient), RFC 3339 (with or without a zone; none means UTC) or
// epoch milliseconds. The result is in UTC. Errors match gateway.ErrInvalid.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s != "" && strings.Trim(s, "0123456789") == "" && len(s) <= 15 {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD, MM/dd/yyyy, RFC 3339 or epoch milliseconds: %w", s, gateway.ErrInvalid)
}

var dateLayouts = []string{
	time.DateOnly,
	"01/02/2006",
	"1/2/2006",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// trimJSONSpace trims the whitespace JSON allows around a value (space,
// tab, line feed, carriage return; RFC 8259 §2), and nothing else: a body
// ending in a vertical tab is not JSON.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\n\r") }
