// Package testpg gives tests and benchmarks a private PostgreSQL schema on
// the test server (KASSA_TEST_POSTGRES, default the local server). Without
// PostgreSQL a test skips, except under CI=true, where it fails.
package testpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// DefaultURL is the test server on these machines: trust auth, database test.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test server's URL.
func URL() string {
	if u := os.Getenv("KASSA_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	once    sync.Once
	pingErr error
)

// Available pings the test server once per process.
func Available() error {
	once.Do(func() {
		db, err := sql.Open("pgx", URL())
		if err != nil {
			pingErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pingErr = db.PingContext(ctx)
	})
	return pingErr
}

// Schema creates a random schema, returns a URL whose connections use it,
// and drops it when the test ends.
func Schema(tb testing.TB) string {
	tb.Helper()
	if err := Available(); err != nil {
		msg := fmt.Sprintf("PostgreSQL at %s unreachable (set KASSA_TEST_POSTGRES): %v", URL(), err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	admin, err := sql.Open("pgx", URL())
	if err != nil {
		tb.Fatal(err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "kassa_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(URL())
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
