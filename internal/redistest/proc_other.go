//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr puts each server in its own process group, so that it and
// any child it forks can be signalled together. Outside Linux there is no
// parent-death signal: a test binary killed before its cleanups run leaves
// its servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
