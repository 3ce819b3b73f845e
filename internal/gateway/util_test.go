package gateway_test

import (
	"os"
	"testing"

	"github.com/kassa-pay/kassa/internal/kassatest"
)

// The suite runs on SQLite, then again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(kassatest.RunOnBothDatabases(m)) }

// merchantKey is the test merchant's regtest receiving key, for the node
// tests' harness and for BenchmarkCreateInvoice.
func merchantKey(t testing.TB) string { return kassatest.Key(t, "gateway merchant") }
