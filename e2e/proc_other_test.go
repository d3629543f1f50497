//go:build !linux

package e2e

import "syscall"

// sysProcAttr puts each child in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
