package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A kassa serve holds an exclusive lock on DATA_DIR/kassa.lock while it
// runs; kassa restore and kassa rescan take the same lock, so they refuse
// to run beside a server and a server cannot start while they run. The
// lock is the operating system's (flock on Unix): it goes away with the
// process, however it ends, so a stale file never blocks anything. The
// file holds the owner's pid for the message.

// lockName is the lock file in the data directory.
const lockName = "kassa.lock"

// errLocked means another process holds the data directory.
var errLocked = errors.New("data directory in use")

// dirLock is a held data-directory lock.
type dirLock struct {
	f *os.File
}

// lockDataDir takes the data directory's lock without waiting. If another
// process holds it the error matches errLocked and names its pid.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := "another process"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			holder = "process " + strconv.Itoa(pid)
		}
		return nil, fmt.Errorf("%w: %s holds %s (is kassa serve running?)", errLocked, holder, path)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// Close releases the lock.
func (l *dirLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
