package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/session"
)

// Store is the Redis [session.Store]; it also implements
// [session.Counter], [session.UserIndex] and [session.Checker]. Create one
// with [New] or [NewFromURL] and release its connections with
// [Store.Close]. All methods are safe for concurrent use. They return
// Redis's and the connection's errors as they are (the Manager wraps them
// in session.ErrStoreUnavailable), session.ErrTooLarge and
// session.ErrNotInteger for a refused call, ErrNotReplicated when
// Options.WaitReplicas were not reached, ErrNotConnected before the first
// connection, and ErrClosed after Close.
type Store struct {
	opts     Options
	wait     waiter
	clock    redisClock
	lastArgs atomic.Pointer[limitArgs]
	recent   recent // keys this process wrote lately, with ClientCache

	cn      atomic.Pointer[conn] // nil until connected
	lastErr atomic.Pointer[error]
	mu      sync.Mutex // orders Close and a connection that lands late
	closed  bool
	done    chan struct{} // closed by Close: stops connecting
	oldOnce sync.Once     // the log line for a session of another layout version
}

// conn is a connected client.
type conn struct {
	c       rueidis.Client
	r       *guard // c, bounded by each call's context
	cluster bool   // keys live on several servers
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.Counter   = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
	_ session.Checker   = (*Store)(nil)
)

var (
	// ErrClosed is returned by every call made after [Store.Close].
	ErrClosed = errors.New("redisstore: store closed")
	// ErrNotConnected is returned (wrapped, with the last error) by the
	// calls of a Store that has not reached Redis yet.
	ErrNotConnected = errors.New("redisstore: not connected to Redis yet")
)

// New returns a store on the Redis that opts.Client names: standalone,
// Sentinel when Client.Sentinel.MasterSet is set, Cluster when the first
// address answers as a Cluster node (several addresses must be one). It
// connects within ctx, loads the Lua scripts and checks what the options
// need. A Redis that cannot be reached is not an error unless
// Options.FailFast: New logs it and returns a store that connects in the
// background (every 2 s at most) and fails with ErrNotConnected (the
// Manager's 503) until then. What connecting again cannot mend fails at
// once: a refused password or ACL user, TLS, a Sentinel master set or a
// Cluster that the addresses are not, a password for a Redis that takes
// any, and what ClientCache or WaitAOF need but Redis lacks. Errors of
// connecting match session.ErrStoreUnavailable. Bad options panic.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if len(opts.Client.InitAddress) == 0 {
		return nil, errors.New("redisstore: New: no Redis address: set Options.Client.InitAddress or use NewFromURL")
	}
	s := &Store{opts: opts, done: make(chan struct{}),
		wait: waiter{n: int64(opts.WaitReplicas), timeout: opts.WaitTimeout, aof: opts.WaitAOF}}
	cn, err := s.connect(ctx)
	switch {
	case err == nil:
		s.cn.Store(cn)
		return s, nil
	case opts.FailFast || permanent(err):
		return nil, err
	}
	s.lastErr.Store(&err)
	s.opts.Logger.Warn("redisstore: Redis cannot be reached; connecting in the background, and answering 503 meanwhile",
		"addr", opts.Client.InitAddress[0], "err", err)
	go s.reconnect()
	return s, nil
}

// reconnect connects in the background until it succeeds or Close.
func (s *Store) reconnect() {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		select {
		case <-s.done:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cn, err := s.connect(ctx)
		cancel()
		if err != nil {
			s.lastErr.Store(&err)
			if attempt%15 == 0 || permanent(err) {
				s.opts.Logger.Warn("redisstore: still cannot connect to Redis", "attempts", attempt, "err", err)
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			cn.c.Close()
		} else {
			s.cn.Store(cn)
			s.opts.Logger.Info("redisstore: connected to Redis", "attempts", attempt)
		}
		s.mu.Unlock()
		return
	}
}

// connect makes a client and checks it: the topology that the options
// name, the scripts on every server (SCRIPT LOAD, so that calls are
// EVALSHA from the first), the Redis clock, and what the options need.
func (s *Store) connect(ctx context.Context) (*conn, error) {
	type result struct {
		c   rueidis.Client
		err error
	}
	// rueidis.NewClient dials without a context: run it aside so that ctx
	// still bounds the connection, and close the client if it comes late.
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(s.opts.Client)
		done <- result{c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fail("connect", ctx.Err())
	}
	if r.err != nil {
		return nil, fail("connect", s.explain(r.err))
	}
	cn := &conn{c: r.c, r: newGuard(r.c, s.opts.Client.ConnWriteTimeout), cluster: r.c.Mode() == rueidis.ClientModeCluster}
	if err := s.check(ctx, cn); err != nil {
		r.c.Close()
		return nil, err
	}
	return cn, nil
}

// explain turns the errors that rueidis gives for a URL that names the
// wrong kind of server into errors that say what to change.
func (s *Store) explain(err error) error {
	o := s.opts.Client
	msg := strings.ToUpper(err.Error())
	switch {
	case o.Sentinel.MasterSet != "" && strings.Contains(msg, "SENTINEL"):
		return &configError{fmt.Errorf("master_set=%q names a Sentinel master set, but %s is not a sentinel (%w): give the sentinels' addresses, or drop master_set for a standalone Redis",
			o.Sentinel.MasterSet, o.InitAddress[0], err)}
	case o.Sentinel.MasterSet == "" && len(o.InitAddress) > 1 && strings.Contains(msg, "CLUSTER"):
		return &configError{fmt.Errorf("several addresses name the seed nodes of a Redis Cluster, but %s is not a Cluster node (%w): give one address for a standalone Redis, or add master_set=NAME if they are sentinels",
			o.InitAddress[0], err)}
	}
	return err
}

func (s *Store) check(ctx context.Context, cn *conn) error {
	for _, n := range cn.c.Nodes() {
		cmds := make(rueidis.Commands, 0, len(allScripts))
		for _, sc := range allScripts {
			cmds = append(cmds, n.B().ScriptLoad().Script(sc.src).Build())
		}
		for _, r := range n.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return fail("load scripts", err)
			}
		}
	}
	t0 := time.Now()
	t, err := cn.r.Do(ctx, cn.r.B().Time().Build()).AsStrSlice()
	if err != nil || len(t) != 2 {
		return fail("read the Redis clock", fmt.Errorf("TIME: %v %v", t, err))
	}
	sec, _ := strconv.ParseInt(t[0], 10, 64)
	usec, _ := strconv.ParseInt(t[1], 10, 64)
	s.clock.observe(sec*1000+usec/1000, t0)
	// A password for the default user of a Redis that has none: Redis
	// takes any password, so the URL's author believes Redis protected
	// when it is open. One AUTH with a random password tells (Redis logs
	// it as a failed authentication when it does have one).
	if o := s.opts.Client; o.Password != "" && (o.Username == "" || o.Username == "default") {
		if cn.r.Do(ctx, cn.r.B().Auth().Username("default").Password(rand.Text()).Build()).Error() == nil {
			return &configError{errors.New("redisstore: the URL gives a password, but this Redis takes any password: it has none for its default user; set one (requirepass, or an ACL user) or drop the password from the URL")}
		}
	}
	if s.opts.ClientCache {
		// rueidis silently runs cached commands uncached when Redis cannot
		// track keys, which would make every Load two round trips.
		res := cn.r.DoCache(ctx, cn.r.B().Hgetall().Key(s.opts.Prefix+"{cache-probe}").Cache(), time.Second)
		if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return fail("probe client-side cache", err)
		}
		if res.CachePTTL() < 0 {
			return &configError{errors.New("redisstore: New: Options.ClientCache: this Redis cannot track keys for the client-side cache (it needs Redis 6 or later over RESP3)")}
		}
	}
	if s.wait.aof {
		res, err := cn.r.Do(ctx, cn.r.B().CommandInfo().CommandName("waitaof").Build()).ToArray()
		if err != nil {
			return fail("probe WAITAOF", err)
		}
		if len(res) == 0 || res[0].IsNil() {
			return &configError{errors.New("redisstore: New: Options.WaitAOF: this Redis has no WAITAOF (it needs Redis 7.2 or later)")}
		}
	}
	return nil
}

// Close closes the connections to Redis, waiting for the calls in flight,
// and stops connecting. Later calls fail with ErrClosed. Close is
// idempotent and returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
		if cn := s.cn.Load(); cn != nil {
			cn.c.Close()
		}
	}
	return nil
}

// use returns the connection for a call, or why there is none.
func (s *Store) use() (*conn, error) {
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	if cn := s.cn.Load(); cn != nil {
		return cn, nil
	} else if p := s.lastErr.Load(); p != nil {
		return nil, fmt.Errorf("%w (last attempt: %w)", ErrNotConnected, *p)
	}
	return nil, ErrNotConnected
}

// wrote notes that this process wrote the sessions under keys: with the
// client-side cache, Loads of them read Redis for a while (see recent).
func (s *Store) wrote(keys ...string) {
	if s.opts.ClientCache {
		s.recent.add(keys...)
	}
}

func (s *Store) sessionKey(key string) string { return redislayout.SessionKey(s.opts.Prefix, key) }
func (s *Store) markerKey(key string) string  { return redislayout.MarkerKey(s.opts.Prefix, key) }
func (s *Store) userKey(user string) string   { return redislayout.UserKey(s.opts.Prefix, user) }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// limitArgs are the script arguments of a session.Limits, formatted once
// for the Limits that the Manager passes every time.
type limitArgs struct {
	lim                                          session.Limits
	idle, absolute, maxSize, maxFields, throttle string
	throttleMS                                   int64
}

func (s *Store) args(lim session.Limits) *limitArgs {
	if a := s.lastArgs.Load(); a != nil && a.lim == lim {
		return a
	}
	t := throttle(s.opts.TouchThrottle, lim.Idle).Milliseconds()
	a := &limitArgs{lim: lim, idle: ms(max(lim.Idle, time.Millisecond)), absolute: ms(max(lim.Absolute, time.Millisecond)),
		maxSize: strconv.Itoa(max(lim.MaxSize, 0)), maxFields: strconv.Itoa(max(lim.MaxFields, 0)),
		throttle: strconv.FormatInt(t, 10), throttleMS: t}
	s.lastArgs.Store(a)
	return a
}

// throttle is the touch throttle in force for an idle timeout of idle,
// given Options.TouchThrottle t: see its comment.
func throttle(t, idle time.Duration) time.Duration {
	switch {
	case t < 0:
		return 0
	case t == 0:
		return idle / DefaultTouchFraction
	}
	return min(t, idle/4)
}

// markerTTL is how long a session's marker lives; takeGrace, how old a
// take may be for its put to be written: less, so that a revocation's
// marker outlives every put it refuses, across two nodes' clocks.
const (
	markerTTL = time.Minute
	takeGrace = 20 * time.Second
)

// tooLarge is the error of a write refused by a script's code -1 (too many
// fields) or -2 (too large).
func tooLarge(op string, code int64, lim session.Limits) error {
	if code == -1 {
		return fmt.Errorf("redisstore: %s: more than %d fields: %w", op, lim.MaxFields, session.ErrTooLarge)
	}
	return fmt.Errorf("redisstore: %s: more than %d bytes: %w", op, lim.MaxSize, session.ErrTooLarge)
}

// opError names the operation that failed, keeping err for errors.Is.
func opError(op string, err error) error { return fmt.Errorf("redisstore: %s: %w", op, err) }

// fail is the error of the step op of connecting: it matches
// session.ErrStoreUnavailable and keeps err.
func fail(op string, err error) error {
	return unavailableError{fmt.Errorf("redisstore: %s: %w", op, err)}
}

type unavailableError struct{ error }

func (e unavailableError) Unwrap() []error { return []error{e.error, session.ErrStoreUnavailable} }

// configError is a failure that connecting again cannot mend.
type configError struct{ error }

func (e *configError) Unwrap() error { return e.error }

// permanent reports whether err, a failure to connect, needs a change of
// configuration, not time.
func permanent(err error) bool {
	var ce *configError
	var re *rueidis.RedisError
	var rh tls.RecordHeaderError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ce), errors.As(err, &rh), errors.As(err, &ve):
		return true
	case errors.As(err, &re) && !rueidis.IsRedisNil(re):
		for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
			if strings.HasPrefix(re.Error(), p) {
				return false
			}
		}
		return true
	}
	return false
}
