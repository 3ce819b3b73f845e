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
	u, drop, err := NewSchema(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Error(err)
		}
	})
	return u
}

// NewSchema creates a random schema on the test server and returns a URL
// whose connections use it and a function that drops it: for programs
// (make bench) that have no testing.TB.
func NewSchema(ctx context.Context) (string, func() error, error) {
	admin, err := sql.Open("pgx", URL())
	if err != nil {
		return "", nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "kassa_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() error {
		defer admin.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	u, err := url.Parse(URL())
	if err != nil {
		_ = drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
