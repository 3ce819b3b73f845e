package regtest

import "syscall"

// sysProcAttr asks Linux to kill btcd when the process that started it dies,
// so a crashed or interrupted test run leaves no node behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
