package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/config"
	"github.com/kassa-pay/kassa/internal/metrics"
)

// TestLogsMaskSecrets logs the ways a secret can slip into a record and
// checks none reaches the output: attributes named like secrets, URL
// passwords in strings and in errors.
func TestLogsMaskSecrets(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&b, &config.Config{LogLevel: "debug", LogFormat: "json"})
	log.Info("connecting", "chain", "rpc://kassa:s3cret-one@127.0.0.1:18443", "password", "s3cret-two",
		"api_token", "s3cret-three", "Authorization", "Bearer s3cret-four")
	log.Warn("failed", "err", fmt.Errorf("dial postgres://app:s3cret-five@db.internal/kassa: %w", errors.New("refused")))
	log.Info("fine", "store", "Shop", "url", "https://example.com/invoice?id=1")
	out := b.String()
	for _, secret := range []string{"s3cret-one", "s3cret-two", "s3cret-three", "s3cret-four", "s3cret-five"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%s logged:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"rpc://kassa:xxxxx@127.0.0.1:18443", "postgres://app:xxxxx@db.internal/kassa", `"store":"Shop"`,
		"https://example.com/invoice?id=1"} {
		if !strings.Contains(out, kept) {
			t.Fatalf("%q missing:\n%s", kept, out)
		}
	}
}

// TestLogFormatAndLevel: auto is JSON when not on a terminal (a pipe, a
// file, /dev/null), text forces text, and the level filters.
func TestLogFormatAndLevel(t *testing.T) {
	var b bytes.Buffer
	newLogger(&b, &config.Config{LogLevel: "warn", LogFormat: "auto"}).Info("hidden")
	newLogger(&b, &config.Config{LogLevel: "warn", LogFormat: "auto"}).Warn("shown")
	if out := b.String(); strings.Contains(out, "hidden") || !json.Valid([]byte(strings.TrimSpace(out))) {
		t.Fatalf("auto off a terminal must be JSON at the level: %q", out)
	}
	b.Reset()
	newLogger(&b, &config.Config{LogLevel: "info", LogFormat: "text"}).Info("hello", "k", "v")
	if out := b.String(); !strings.Contains(out, "msg=hello k=v") {
		t.Fatalf("text: %q", out)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Fatal("/dev/null is a character device but not a terminal")
	}
}

// TestRequestIDReachesLogs: a record logged with a request's context
// carries the request id the middleware gave it.
func TestRequestIDReachesLogs(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&b, &config.Config{LogLevel: "info", LogFormat: "json"})
	m := metrics.NewHTTPMetrics(metrics.NewRegistry(), log)
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "handled")
	}))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Request-Id", "req-77")
	h.ServeHTTP(httptest.NewRecorder(), req)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["request_id"] != "req-77" {
		t.Fatalf("log record %q: %v", b.String(), err)
	}
}

// TestProgress: on a terminal the bar is redrawn in place and log lines
// go above it; elsewhere one line per tenth.
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, tty: true}
	p.begin(11, 20, 3)
	p.block(15)
	fmt.Fprint(p, "a log line\n")
	p.block(20)
	p.end()
	out := b.String()
	if !strings.Contains(out, "\r\033[K[###############---------------]  50%  block 15/20") ||
		!strings.Contains(out, "\r\033[Ka log line\n\r\033[K[###") || !strings.HasSuffix(out, "100%  block 20/20  0 invoice updates\n") {
		t.Fatalf("tty progress: %q", out)
	}
	b.Reset()
	p = &progress{w: &b}
	p.begin(1, 100, 3)
	for h := int32(1); h <= 100; h++ {
		p.block(h)
	}
	if n := strings.Count(b.String(), "rescan: block"); n != 10 {
		t.Fatalf("want a line per tenth, got %d:\n%s", n, b.String())
	}
}

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); !errors.Is(err, errLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("a second lock must fail naming the holder: %v", err)
	}
	l.Close()
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("the lock must be free after Close: %v", err)
	}
	l2.Close()
}
