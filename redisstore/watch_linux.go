package redisstore

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// watchSupported tells that the store watches its connections here (see
// [watch]).
const watchSupported = true

// fdReader reads a socket with system calls of its own, and tells how many
// bytes wait in the kernel. Only one goroutine may read at a time (rueidis
// has one reader per connection); pending may be called from any.
type fdReader struct {
	raw syscall.RawConn
	fd  uintptr // for pending only; see there
	// The read in progress: a function made once, so that a Read
	// allocates nothing.
	p        []byte
	n        int
	err      error
	busy     *atomic.Int32
	consumed *atomic.Int64
	readFn   func(fd uintptr) bool
}

func newFDReader(c net.Conn, busy *atomic.Int32, consumed *atomic.Int64) (*fdReader, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	r := &fdReader{raw: raw, busy: busy, consumed: consumed}
	if err := raw.Control(func(fd uintptr) { r.fd = fd }); err != nil {
		return nil, false
	}
	r.readFn = r.readOnce
	return r, true
}

// readOnce is the system call of a Read: busy is set while it runs, and
// consumed counts the bytes it returned.
func (r *fdReader) readOnce(fd uintptr) bool {
	for {
		r.busy.Store(1)
		r.n, r.err = syscall.Read(int(fd), r.p)
		if r.n > 0 {
			r.consumed.Add(int64(r.n))
		}
		r.busy.Store(0)
		if r.err != syscall.EINTR {
			break
		}
	}
	return r.err != syscall.EAGAIN
}

// read is net.Conn.Read.
func (r *fdReader) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p = p
	rerr := r.raw.Read(r.readFn)
	r.p = nil
	n, err := r.n, r.err
	if rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
	}
	if n <= 0 {
		return 0, io.EOF
	}
	return n, nil
}

// pending returns the bytes waiting to be read in the kernel, or false
// when the peer closed the connection (an end of file or an error waits)
// or the socket cannot be asked.
//
// It peeks at the descriptor number it noted at connect, without holding
// the descriptor open as RawConn.Control would (that costs an allocation
// per call on the hot path of every cached read). Should the connection
// be closed meanwhile and its number reused, the peek reads nothing from
// whatever it reaches (MSG_PEEK) and its answer is thrown away: a close
// makes settle report false, and loadCached compares closes before and
// after.
func (r *fdReader) pending() (int, bool) {
	var b [1]byte
	m, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, r.fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == syscall.EAGAIN:
		return 0, true // the common case: one system call
	case errno == 0 && m > 0:
		var count int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, r.fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&count))); errno != 0 {
			return 0, false
		}
		return int(count), true
	}
	return 0, false
}
