package e2e

import "syscall"

// sysProcAttr puts each child in its own process group and has the kernel
// kill it when the test binary dies without running its cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
