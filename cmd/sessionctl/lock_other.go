//go:build !unix

package main

import (
	"errors"
	"fmt"
)

// lockDir is flock(2)'s on Unix; elsewhere the keys commands refuse to run
// rather than risk losing a key to a concurrent one.
func lockDir(dir string) (func(), error) {
	return nil, fmt.Errorf("%s: %w", dir, errors.ErrUnsupported)
}
