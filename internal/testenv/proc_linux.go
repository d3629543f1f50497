package testenv

import "syscall"

// sysProcAttr puts each child in its own process group, so that it and any
// child it forks (Redis's AOF rewrite, nginx's workers) are signalled
// together, and has the kernel kill it when its parent dies without
// stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
