package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/kassa-pay/kassa/internal/bitpay"
	"github.com/kassa-pay/kassa/internal/gateway"
)

// FuzzLenientJSON checks the lenient readers every request decoder shares
// against encoding/json: eachMember accepts exactly the bodies that are a
// JSON object (or empty, or null) and hands out each member's value as
// encoding/json reads it; bodyToken returns the "token" member; a value
// numberish accepts is an exact decimal with the digits sent, integerish
// agrees with it, and stringish returns a string's contents.
func FuzzLenientJSON(f *testing.F) {
	for _, s := range []string{
		`{"token":"abc"}`, `{"token":123}`, `{"token":null}`, `{"token":""}`, `null`, ``, `[]`,
		`{"price":"10.50","n":1.2e6,"b":"yes","token":"x","token":"y"}`, `{"a":{"b":[1,2]}} x`,
		`{"price":-0.0000001,"s":"\u00e9"}`, `{"n":"1e99"}`, `{"k":"\ud800"}`, ` {"a":1} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want map[string]json.RawMessage
		trimmed := trimJSONSpace(body)
		isObject := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(body, &want) == nil
		empty := len(trimmed) == 0 || string(trimmed) == "null"

		got := map[string]json.RawMessage{}
		err := eachMember(body, func(key string, val json.RawMessage) error {
			got[key] = val
			return nil
		})
		switch {
		case err == nil && !isObject && !empty:
			t.Fatalf("eachMember accepted a body that is not a JSON object: %q", body)
		case err != nil && (isObject || empty):
			t.Fatalf("eachMember rejected %q: %v", body, err)
		case err != nil:
			if _, terr := bodyToken(body); terr == nil {
				t.Fatalf("bodyToken accepted %q, which eachMember rejects", body)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("eachMember saw %d distinct members, encoding/json %d", len(got), len(want))
		}
		for k, v := range want {
			if !sameJSON(got[k], v) {
				t.Fatalf("member %q: eachMember %s, encoding/json %s", k, got[k], v)
			}
		}

		tok, err := bodyToken(body)
		var s string
		switch raw, ok := want["token"]; {
		case ok && len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && s != "":
			if err != nil || tok != s {
				t.Fatalf("bodyToken = %q, %v; the body's token is %q", tok, err, s)
			}
		case err == nil && tok == "":
			t.Fatalf("bodyToken accepted an empty token in %q", body)
		case err != nil && bitpay.AsError(err).Status != 400:
			t.Fatalf("bodyToken rejected with a %d", bitpay.AsError(err).Status)
		}

		for k, raw := range got {
			checkScalars(t, k, raw)
		}
	})
}

// checkScalars checks the scalar readers on one member value.
func checkScalars(t *testing.T, k string, raw json.RawMessage) {
	t.Helper()
	var str string
	isString := raw[0] == '"' && json.Unmarshal(raw, &str) == nil
	if s, err := stringish(raw); err == nil && isString && s != str {
		t.Fatalf("%s: stringish = %q, the string is %q", k, s, str)
	} else if err != nil && isString {
		t.Fatalf("%s: stringish rejected the string %s", k, raw)
	}
	num, err := numberish(raw)
	if err != nil || num == "" {
		return
	}
	d, err := decimal.NewFromString(string(num))
	if err != nil {
		t.Fatalf("%s: numberish accepted %q, which is not a decimal: %v", k, num, err)
	}
	if !isString && string(num) != string(raw) {
		t.Fatalf("%s: numberish changed the digits %s to %s", k, raw, num)
	}
	n, ok, err := integerish(raw)
	switch {
	case err == nil && ok && !d.Equal(decimal.NewFromInt(n)):
		t.Fatalf("%s: integerish = %d, the number is %s", k, n, d)
	case err != nil && d.IsInteger() && d.Abs().LessThanOrEqual(decimal.New(1, 18)):
		t.Fatalf("%s: integerish rejected the whole number %s: %v", k, d, err)
	}
}

// sameJSON reports whether two JSON texts are the same after compaction.
func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// FuzzFormToJSON checks the form decoder of hand-written integrations
// (spec §0.2): an accepted body becomes a JSON object of strings in which
// a plain key holds its last value, key[] all its values in order and
// key[sub] an object holding sub's last value. A base name sent in two of
// those shapes at once (buyer=x&buyer[name]=y) is exempt: FormToJSON keeps
// one of them, and which one depends on map order (reported; decode.go
// should pick deterministically, then this exemption goes).
func FuzzFormToJSON(f *testing.F) {
	for _, s := range []string{
		"price=10&currency=USD&buyer[name]=Jo&buyer[email]=jo%40example.com&paymentCurrencies[]=BTC",
		"a=1&a=2&b[]=x&b[]=y&c[d]=1&c[d]=2", "%zz", "=&&=x", "buyer=x&buyer[]=a&buyer[name]=y", "k[%5B]=1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := FormToJSON(body)
		vals, perr := url.ParseQuery(string(body))
		if err != nil {
			if perr == nil {
				t.Fatalf("FormToJSON rejected %q, which url.ParseQuery reads", body)
			}
			if bitpay.AsError(err).Status != 400 {
				t.Fatalf("rejection is a %d", bitpay.AsError(err).Status)
			}
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("FormToJSON(%q) = %s, not a JSON object: %v", body, out, err)
		}
		// JSON holds no invalid UTF-8: such bytes become U+FFFD, so two
		// keys may meet under one name (counted as two shapes).
		shapes := map[string]map[string]bool{}
		for k := range vals {
			base, shape := k, "plain:"+k
			if m := formKey.FindStringSubmatch(k); m != nil {
				base, shape = m[1], "list:"+m[1]
				if m[2] != "" {
					shape = "object:" + m[1]
				}
			}
			base = jsonString(base)
			if shapes[base] == nil {
				shapes[base] = map[string]bool{}
			}
			shapes[base][shape] = true
		}
		if len(obj) != len(shapes) {
			t.Fatalf("FormToJSON(%q) has %d keys, the form %d names", body, len(obj), len(shapes))
		}
		for k, vs := range vals {
			m := formKey.FindStringSubmatch(k)
			base := k
			if m != nil {
				base = m[1]
			}
			base = jsonString(base)
			if len(shapes[base]) > 1 {
				continue
			}
			var want any = jsonString(vs[len(vs)-1])
			got := obj[base]
			switch {
			case m != nil && m[2] == "":
				list := make([]any, len(vs))
				for i, v := range vs {
					list[i] = jsonString(v)
				}
				want = list
			case m != nil:
				sub, _ := got.(map[string]any)
				got = sub[m[2]]
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("FormToJSON(%q): %q is %#v, want %#v", body, k, got, want)
			}
		}
	})
}

// jsonString is s as it reads back from JSON: invalid UTF-8 replaced.
func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(raw, &out)
	return out
}

// FuzzParseDate checks the list filter's date parser: an accepted date is
// in UTC, epoch milliseconds mean exactly that instant, a plain
// YYYY-MM-DD is that day's midnight, the answer survives a round trip
// through RFC 3339, and every rejection matches gateway.ErrInvalid.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024-03-01", "03/01/2024", "3/1/2024", "2024-03-01T10:00:00Z",
		"2024-03-01T10:00:00.123+02:00", "2024-03-01T10:00:00", "2024-03-01 10:00:00", "1709251200000",
		" 1709251200000 ", "999999999999999", "9999999999999999", "-1", "", "2024-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDate(s)
		if err != nil {
			if !errors.Is(err, gateway.ErrInvalid) {
				t.Fatalf("ParseDate(%q): %v does not match ErrInvalid", s, err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseDate(%q) is in %v, not UTC", s, got.Location())
		}
		trimmed := strings.TrimSpace(s)
		if d, err := time.Parse(time.DateOnly, trimmed); err == nil && !got.Equal(d) {
			t.Fatalf("ParseDate(%q) = %v, want midnight %v", s, got, d)
		}
		if trimmed != "" && strings.Trim(trimmed, "0123456789") == "" && len(trimmed) <= 15 {
			var ms int64
			for _, c := range trimmed {
				ms = ms*10 + int64(c-'0')
			}
			if got.UnixMilli() != ms || got.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("ParseDate(%q) = %v, not %d ms after the epoch", s, got, ms)
			}
		}
		if y := got.Year(); y >= 0 && y <= 9999 {
			again, err := ParseDate(got.Format(time.RFC3339Nano))
			if err != nil || !again.Equal(got) {
				t.Fatalf("ParseDate(%q) = %v does not round-trip through RFC 3339: %v, %v", s, got, again, err)
			}
		}
	})
}
