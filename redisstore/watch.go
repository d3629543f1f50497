package redisstore

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// watch closes the window that client tracking leaves open on its own.
//
// Redis writes the invalidation of a key to every client that cached it in
// the event-loop pass in which it answers the command that changed the
// key, just after that answer. But rueidis reads that push on its own
// goroutine: until
// that goroutine has run, a cached read in this process can still find
// the old entry, even though the push already sits in the socket. On this
// 2-core machine that is a window of tens of microseconds after the
// writer's answer, which an in-process test met in about one round in
// eight (27 of 200).
//
// So the store dials its connections itself and counts, per connection,
// the bytes rueidis has read (consumed) and, at the start of each Read
// call, how many it had read by then (started): rueidis's reader only
// asks for more bytes once it has handled every complete message it
// holds. Before answering from the cache, [watch.settle] takes, for each
// connection, the bytes read so far plus those waiting in the kernel
// (FIONREAD), and waits until rueidis starts a Read past that point. Then
// every invalidation that had reached this machine when the read began
// has been applied to the cache. Nothing is sent to Redis: the cost is one
// ioctl per connection, and a few scheduler yields when a push is waiting.
//
// The wait is bounded (settleRounds yields per connection); a reader that
// does not catch up in time, a closed connection or a connection the store
// could not watch (a custom Client.DialCtxFn that returns no socket, or an
// operating system other than Linux) make settle report false, and the
// caller then reads through Redis instead, which is always right.
//
// A connection that breaks loses the invalidations Redis would have sent
// on it; rueidis then drops the cache that came with it, but only after it
// has read the end of the connection and closed it, and a read that took
// the connection just before can still find an entry. So settle also
// reports false when an end of file waits on a connection, or one was
// closed less than closeGrace ago, and the caller compares closes (an
// epoch) before and after its cache lookup.
//
// Still needed after the store's redesign (the cached read is now
// rueidis's own DoCache of a plain HGETALL, and the window above is
// rueidis's): with watchSupported set to false, TestClientCacheSeesUpdates
// failed at its 5th round of 200 (B read the value A had just replaced).
// It depends on these behaviours of rueidis (v1.0.79, pipe.go and mux.go):
//   - every connection, the dedicated ones (blocking commands, WAIT)
//     included, is dialed through ClientOption.DialCtxFn;
//   - with OnInvalidations set, every connection's reader goroutine runs
//     from the connect on, and calls Read on the connection only once it
//     has handled every complete message it holds;
//   - a connection's cache goes with the connection.
//
// A rueidis upgrade that breaks the first two makes settle report false
// (reads go to Redis: correct, but TestClientCacheNoRoundTrip then fails)
// or reopens the window (TestClientCacheSeesUpdates fails).
type watch struct {
	mu        sync.Mutex
	conns     atomic.Pointer[[]*watchConn] // copy on write
	blind     atomic.Int32                 // live connections that cannot be watched
	closes    atomic.Int64                 // connections closed so far
	lastClose atomic.Int64                 // UnixNano of the last close
}

// settleRounds bounds the scheduler yields that settle spends on one
// connection before it gives up and lets the caller ask Redis.
const settleRounds = 64

// closeGrace is how long after a connection closed settle keeps
// reporting false: ample for rueidis to stop routing calls to the pipe of
// that connection, which it does right after closing it.
const closeGrace = time.Second

// watchConn is one connection to Redis as rueidis reads it.
type watchConn struct {
	net.Conn
	w        *watch
	fd       *fdReader
	busy     atomic.Int32 // a read system call is running
	consumed atomic.Int64 // bytes returned to rueidis so far
	started  atomic.Int64 // consumed when rueidis last called Read
	closed   atomic.Bool
	once     sync.Once
}

// dial returns a DialCtxFn for rueidis that watches every connection it
// opens: inner (Options.Client.DialCtxFn, may be nil) or a plain TCP dial,
// then TLS over the watched connection when tlsConfig is set.
func (w *watch) dial(inner func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error)) func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
	return func(ctx context.Context, dst string, dialer *net.Dialer, tlsConfig *tls.Config) (net.Conn, error) {
		var raw net.Conn
		var err error
		if inner != nil {
			// A custom dialer does its own TLS: what it returns is
			// watched only if it is still a plain socket.
			raw, err = inner(ctx, dst, dialer, tlsConfig)
			tlsConfig = nil
		} else {
			raw, err = dialer.DialContext(ctx, "tcp", dst)
		}
		if err != nil {
			return nil, err
		}
		conn := w.wrap(raw)
		if tlsConfig == nil {
			return conn, nil
		}
		cfg := tlsConfig
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(dst)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			tc.Close()
			return nil, err
		}
		return tc, nil
	}
}

// wrap registers raw and returns the connection rueidis should use: a
// watchConn, or raw itself (counted blind) when it cannot be watched.
func (w *watch) wrap(raw net.Conn) net.Conn {
	c := &watchConn{Conn: raw, w: w}
	fd, ok := newFDReader(raw, &c.busy, &c.consumed)
	if !ok {
		w.blind.Add(1)
		return &blindConn{Conn: raw, w: w}
	}
	c.fd = fd
	w.mu.Lock()
	old := w.conns.Load()
	next := make([]*watchConn, 0, 1+lenOf(old))
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, c)
	w.conns.Store(&next)
	w.mu.Unlock()
	return c
}

func lenOf(p *[]*watchConn) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

func (w *watch) remove(c *watchConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.conns.Load()
	if old == nil {
		return
	}
	next := make([]*watchConn, 0, len(*old))
	for _, x := range *old {
		if x != c {
			next = append(next, x)
		}
	}
	w.conns.Store(&next)
}

// settle reports whether rueidis has handled every byte that had reached
// any of the store's connections when settle was called (see [watch]).
func (w *watch) settle(ctx context.Context) bool {
	if w.blind.Load() != 0 {
		return false
	}
	if last := w.lastClose.Load(); last != 0 && time.Now().UnixNano()-last < int64(closeGrace) {
		return false
	}
	conns := w.conns.Load()
	if conns == nil {
		return true
	}
	for _, c := range *conns {
		if !c.settle(ctx) {
			return false
		}
	}
	return true
}

// settle waits until rueidis starts a Read on c past every byte that had
// arrived when it was called.
func (c *watchConn) settle(ctx context.Context) bool {
	var frontier int64
	for i := 0; ; i++ {
		if i == settleRounds || c.closed.Load() || ctx.Err() != nil {
			return false
		}
		if c.busy.Load() != 0 {
			runtime.Gosched() // a read system call is moving bytes right now
			continue
		}
		before := c.consumed.Load()
		waiting, ok := c.fd.pending()
		if !ok {
			return false
		}
		// No read ran in between: before+waiting counts every byte that
		// had arrived, once.
		if c.busy.Load() != 0 || c.consumed.Load() != before {
			continue
		}
		frontier = before + int64(waiting)
		break
	}
	for i := 0; c.started.Load() < frontier; i++ {
		if i == settleRounds || c.closed.Load() || ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// Read reads from the socket directly, so that it knows when bytes leave
// the kernel.
func (c *watchConn) Read(p []byte) (int, error) {
	c.started.Store(c.consumed.Load())
	return c.fd.read(p)
}

func (c *watchConn) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.w.lastClose.Store(time.Now().UnixNano())
		c.w.closes.Add(1)
		c.w.remove(c)
	})
	return c.Conn.Close()
}

// blindConn is a connection the store cannot watch; while one is open,
// settle reports false.
type blindConn struct {
	net.Conn
	w    *watch
	once sync.Once
}

func (c *blindConn) Close() error {
	c.once.Do(func() {
		c.w.lastClose.Store(time.Now().UnixNano())
		c.w.closes.Add(1)
		c.w.blind.Add(-1)
	})
	return c.Conn.Close()
}
