//go:build !linux

package regtest

import "syscall"

// sysProcAttr returns nil: only Linux can tie btcd's life to its parent.
func sysProcAttr() *syscall.SysProcAttr { return nil }
