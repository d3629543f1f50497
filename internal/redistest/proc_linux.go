package redistest

import "syscall"

// sysProcAttr puts each server in its own process group, so that it and
// any child it forks (AOF rewrite, BGSAVE) can be signalled together, and
// has the kernel kill it when the test binary dies without running its
// cleanups (a go test timeout, a crash).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
