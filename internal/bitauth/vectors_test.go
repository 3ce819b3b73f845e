package bitauth

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The captured client requests of spec §1 (see the header of each file).
var vectorFiles = []string{
	"bitpay-sdk-8.0.4-requests.txt",
	"other-clients-requests.txt",
}

// capturedRequest is one request from a vector file.
type capturedRequest struct {
	name    string // section and number, for test names
	method  string
	target  string // raw request-target
	headers [][2]string
	body    []byte
	signed  bool
	// The capture server's own verdict, for signed requests.
	signedString string
	sigValid     bool
	highS        bool
	sin          string
}

func (c capturedRequest) header(name string) string {
	for _, h := range c.headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// vectorPath finds a vector file: the verbatim copy in testdata first,
// then shared/spec/vectors in the working directory or any parent (the
// repository's CI keeps /work/shared beside the repository).
func vectorPath(t testing.TB, name string) string {
	t.Helper()
	local := filepath.Join("testdata", name)
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, ok := sharedVectorPath(name); ok {
		return p
	}
	t.Fatalf("vector file %s is neither in testdata/ nor in a shared/spec/vectors directory above the working directory", name)
	return ""
}

// sharedVectorPath walks up from the working directory looking for
// shared/spec/vectors/name.
func sharedVectorPath(name string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, "shared", "spec", "vectors", name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// loadVectors parses a capture file. Its format: "## SECTION name" starts
// a section; "### N METHOD target  (HTTP/1.1)" starts a request, followed
// by "headers:" and indented "name: value" lines, "body: raw" or
// "body: (empty)", and "bitauth: no x-identity/x-signature" or
// `bitauth: signed_string="…"` (a JSON string) with indented
// "sig_valid=… der_len=… high_s=…" and "sin_from_identity=…" lines.
func loadVectors(t testing.TB, name string) []capturedRequest {
	t.Helper()
	data, err := os.ReadFile(vectorPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var (
		reqs      []capturedRequest
		cur       *capturedRequest
		section   string
		inHeaders bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, args ...any) {
			t.Fatalf("%s:%d: %s: %q", name, n, fmt.Sprintf(format, args...), line)
		}
		switch {
		case strings.HasPrefix(line, "## SECTION "):
			section = strings.TrimPrefix(line, "## SECTION ")
		case strings.HasPrefix(line, "### "):
			f := strings.Fields(line)
			if len(f) != 5 {
				fail("bad request line")
			}
			reqs = append(reqs, capturedRequest{name: section + "/" + f[1] + "_" + f[2], method: f[2], target: f[3]})
			cur = &reqs[len(reqs)-1]
			inHeaders = false
		case cur == nil:
		case line == "headers:":
			inHeaders = true
		case inHeaders && strings.HasPrefix(line, "  "):
			k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if !ok {
				fail("bad header")
			}
			cur.headers = append(cur.headers, [2]string{k, v})
		case strings.HasPrefix(line, "body: "):
			inHeaders = false
			if b := strings.TrimPrefix(line, "body: "); b != "(empty)" {
				cur.body = []byte(b)
			}
		case line == "bitauth: no x-identity/x-signature":
		case strings.HasPrefix(line, "bitauth: signed_string="):
			s, err := strconv.Unquote(strings.TrimPrefix(line, "bitauth: signed_string="))
			if err != nil {
				fail("bad signed_string: %v", err)
			}
			cur.signed, cur.signedString = true, s
		case strings.HasPrefix(line, "  sig_valid="):
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "sig_valid":
					cur.sigValid = v == "true"
				case "high_s":
					cur.highS = v == "true"
				}
			}
		case strings.HasPrefix(line, "  sin_from_identity="):
			cur.sin = strings.TrimPrefix(line, "  sin_from_identity=")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return reqs
}

// TestCapturedRequests replays every signed request of both vector files
// and expects Verify to agree with the capture server's verdict, high-S
// signatures included.
func TestCapturedRequests(t *testing.T) {
	var signed, valid, validHighS int
	for _, file := range vectorFiles {
		for _, c := range loadVectors(t, file) {
			if !c.signed {
				continue
			}
			signed++
			if c.sigValid {
				valid++
				if c.highS {
					validHighS++
				}
			}
			t.Run(file+"/"+c.name, func(t *testing.T) {
				host := c.header("host")
				if got := "http://" + host + c.target + string(c.body); got != c.signedString {
					t.Fatalf("rebuilt signed string %q, file says %q", got, c.signedString)
				}
				r := c.httpRequest(t)
				identity, signature := FromRequest(r)
				if identity == "" || signature == "" {
					t.Fatalf("FromRequest found identity %q, signature %q", identity, signature)
				}
				// Another origin comes first, so a match must survive a
				// failed candidate.
				v, err := NewVerifier([]string{"https://bitpay.com", "http://" + host})
				if err != nil {
					t.Fatal(err)
				}
				sin, err := v.Verify(identity, signature, r.RequestURI, c.body)
				if got := err == nil; got != c.sigValid {
					t.Fatalf("Verify error %v, capture says sig_valid=%v (high_s=%v)", err, c.sigValid, c.highS)
				}
				if err == nil && sin != c.sin {
					t.Errorf("SIN %s, want %s", sin, c.sin)
				}
				raw, err := hex.DecodeString(identity)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := SIN(raw); err != nil || got != c.sin {
					t.Errorf("SIN(identity) = %s, %v; want %s", got, err, c.sin)
				}
			})
		}
	}
	// Guard against a parser that silently finds nothing.
	if signed != 55 || valid != 48 || validHighS != 12 {
		t.Errorf("found %d signed, %d valid, %d valid high-S requests; the files hold 55, 48, 12", signed, valid, validHighS)
	}
}

// httpRequest rebuilds the request as the server's HTTP parser sees it.
func (c capturedRequest) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	var raw strings.Builder
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\n", c.method, c.target)
	for _, h := range c.headers {
		fmt.Fprintf(&raw, "%s: %s\r\n", h[0], h[1])
	}
	raw.WriteString("\r\n")
	raw.Write(c.body)
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
	if err != nil {
		t.Fatalf("parse captured request: %v", err)
	}
	if r.RequestURI != c.target {
		t.Fatalf("RequestURI %q, captured target %q", r.RequestURI, c.target)
	}
	return r
}

// TestVectorCopiesVerbatim checks that testdata holds the shared vector
// files unchanged, when the shared directory is present.
func TestVectorCopiesVerbatim(t *testing.T) {
	for _, name := range vectorFiles {
		shared, ok := sharedVectorPath(name)
		if !ok {
			t.Skipf("no shared/spec/vectors above the working directory")
		}
		want, err := os.ReadFile(shared)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from %s", name, shared)
		}
	}
}
