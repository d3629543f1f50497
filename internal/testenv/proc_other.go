//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts each child in its own process group. Outside Linux there
// is no parent-death signal: a parent killed before it stops its children
// leaves them behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
