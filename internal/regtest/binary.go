package regtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BinaryEnv names the environment variable that points at the btcd
// executable.
const BinaryEnv = "KASSA_BTCD"

// ErrNoBinary is returned, wrapped with the places searched, when no btcd
// executable can be found.
var ErrNoBinary = errors.New("regtest: btcd not found; run scripts/install-btcd.sh or set " + BinaryEnv)

// FindBinary returns the btcd executable to run: explicit when it is not
// empty, else $KASSA_BTCD, else .tools/bin/btcd under the repository root
// (the nearest parent of the working directory holding go.mod), else btcd on
// PATH.
func FindBinary(explicit string) (string, error) {
	var tried []string
	check := func(path string) (string, bool) {
		tried = append(tried, path)
		info, err := os.Stat(path)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return "", false
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", false
		}
		return abs, true
	}
	if explicit != "" {
		if path, ok := check(explicit); ok {
			return path, nil
		}
		return "", fmt.Errorf("%w (Options.Binary %s is not an executable file)", ErrNoBinary, explicit)
	}
	if env := os.Getenv(BinaryEnv); env != "" {
		if path, ok := check(env); ok {
			return path, nil
		}
		return "", fmt.Errorf("%w (%s=%s is not an executable file)", ErrNoBinary, BinaryEnv, env)
	}
	if root, err := RepoRoot(); err == nil {
		if path, ok := check(filepath.Join(root, ".tools", "bin", "btcd")); ok {
			return path, nil
		}
	}
	if path, err := exec.LookPath("btcd"); err == nil {
		return path, nil
	}
	tried = append(tried, "btcd on PATH")
	return "", fmt.Errorf("%w (tried %q)", ErrNoBinary, tried)
}

// RepoRoot returns the nearest parent of the working directory, itself
// included, that holds a go.mod file.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("regtest: find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("regtest: find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}
