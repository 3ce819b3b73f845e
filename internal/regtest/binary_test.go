package regtest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/regtest"
)

// TestFindBinary and TestStartFailure need no btcd (TestStartFailure runs a
// script in its place), so they are built without the tag node that the
// package's other tests and benchmarks need.

func TestFindBinary(t *testing.T) {
	t.Run("missing explicit binary", func(t *testing.T) {
		_, err := regtest.FindBinary(t.TempDir() + "/btcd")
		if !errors.Is(err, regtest.ErrNoBinary) {
			t.Fatalf("FindBinary error = %v, want ErrNoBinary", err)
		}
	})
	t.Run("missing env binary", func(t *testing.T) {
		t.Setenv(regtest.BinaryEnv, t.TempDir()+"/btcd")
		_, err := regtest.FindBinary("")
		if !errors.Is(err, regtest.ErrNoBinary) {
			t.Fatalf("FindBinary error = %v, want ErrNoBinary", err)
		}
	})
}

func TestStartFailure(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "btcd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho boom: bad flags >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := regtest.Start(t.Context(), regtest.Options{Binary: fake, DataDir: dir})
	if err == nil {
		t.Fatal("Start succeeded with a btcd that exits at once")
	}
	for _, want := range []string{"boom: bad flags", filepath.Join(dir, "btcd.log")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error %q does not mention %q", err, want)
		}
	}
}
