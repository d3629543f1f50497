//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func procAttr() *syscall.SysProcAttr { return nil }

func raiseNoFile() (uint64, error) {
	return 0, errors.New("raising the open-file limit is only done on Linux")
}
