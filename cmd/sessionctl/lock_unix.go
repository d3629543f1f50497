//go:build unix

package main

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the directory dir, waiting for it,
// and returns the func that releases it. The lock is flock(2)'s, on the
// directory itself: a lock on the secrets file would be lost with the file
// that the rename replaces, and a lock file would be left behind.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return func() { d.Close() }, nil // closing the descriptor releases the lock
}
