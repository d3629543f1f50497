//go:build !linux

package redisstore

import (
	"net"
	"sync/atomic"
)

// watchSupported is false: the store does not watch its connections
// outside Linux, and cached reads there have the window that client
// tracking leaves (see [watch]).
const watchSupported = false

// fdReader is only implemented on Linux.
type fdReader struct{}

func newFDReader(net.Conn, *atomic.Int32, *atomic.Int64) (*fdReader, bool) { return nil, false }

func (*fdReader) read([]byte) (int, error) { panic("redisstore: unreachable") }
func (*fdReader) pending() (int, bool)     { return 0, false }
