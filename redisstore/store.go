package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/session"
)

// Store is the Redis [session.Store]; it also implements
// [session.Counter], [session.UserIndex] and [session.Checker]. Create one with [New] or
// [NewFromURL] and release its connections with [Store.Close]. All
// methods are safe for concurrent use. They return Redis's and the
// connection's errors as they are (the Manager wraps them in
// session.ErrStoreUnavailable), session.ErrTooLarge and
// session.ErrNotInteger for a refused call, ErrNotReplicated when
// Options.WaitReplicas were not reached, and ErrClosed after Close.
type Store struct {
	c        rueidis.Client
	r        *guard // c, bounded by each call's context
	prefix   string
	throttle time.Duration
	cache    bool // Options.ClientCache
	onCache  func(hit bool)
	watch    *watch // the connections, watched for cached reads; nil without
	wait     waiter
	clock    redisClock
	closed   atomic.Bool
	lastArgs atomic.Pointer[limitArgs]
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.Counter   = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
	_ session.Checker   = (*Store)(nil)
)

// New connects to the Redis that opts.Client names (standalone, Sentinel
// when Client.Sentinel.MasterSet is set, Cluster otherwise when the first
// address answers as a Cluster node), checks that it answers, and loads
// the store's Lua scripts. ctx bounds the connection; a Redis that cannot
// be reached gives an error wrapping session.ErrStoreUnavailable. Bad
// options (a negative WaitReplicas) panic.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if len(opts.Client.InitAddress) == 0 {
		return nil, errors.New("redisstore: New: no Redis address: set Options.Client.InitAddress or use NewFromURL")
	}
	var w *watch
	if opts.ClientCache {
		// Every connection has a reader goroutine running all the time
		// (rueidis starts one at connect when OnInvalidations is set),
		// so that invalidations are read as soon as they arrive.
		inv := opts.Client.OnInvalidations
		opts.Client.OnInvalidations = func(keys []rueidis.RedisMessage) {
			if inv != nil {
				inv(keys)
			}
		}
		if watchSupported {
			w = &watch{}
			opts.Client.DialCtxFn = w.dial(opts.Client.DialCtxFn)
			// A cached read checks every connection (one system call
			// each): one connection per node, unless set otherwise.
			if opts.Client.PipelineMultiplex == 0 {
				opts.Client.PipelineMultiplex = -1
			}
		}
	}
	type result struct {
		c   rueidis.Client
		err error
	}
	// rueidis.NewClient dials without a context: run it aside so that ctx
	// still bounds New, and close the client if it comes too late.
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(opts.Client)
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
		return nil, fail("connect", r.err)
	}
	s := &Store{
		c:        r.c,
		r:        newGuard(r.c, opts.Client.ConnWriteTimeout),
		prefix:   opts.Prefix,
		throttle: opts.TouchThrottle,
		cache:    opts.ClientCache,
		onCache:  opts.OnCacheRead,
		watch:    w,
		wait:     waiter{n: int64(opts.WaitReplicas), timeout: opts.WaitTimeout, aof: opts.WaitAOF},
	}
	if err := s.start(ctx); err != nil {
		r.c.Close()
		return nil, err
	}
	return s, nil
}

// start loads every script on every node once (SCRIPT LOAD), so that the
// first calls are EVALSHA already (a node that loses them, after a restart
// or a failover, gets them again through the NOSCRIPT fallback), reads
// the Redis clock, and checks what the options need.
func (s *Store) start(ctx context.Context) error {
	for _, n := range s.c.Nodes() {
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
	t, err := s.r.Do(ctx, s.r.B().Time().Build()).AsStrSlice()
	if err != nil || len(t) != 2 {
		return fail("read the Redis clock", fmt.Errorf("TIME: %v %v", t, err))
	}
	sec, _ := strconv.ParseInt(t[0], 10, 64)
	usec, _ := strconv.ParseInt(t[1], 10, 64)
	s.clock.observe(sec*1000+usec/1000, t0)
	if s.cache {
		if err := s.probeCache(ctx); err != nil {
			return err
		}
	}
	if s.wait.aof {
		if err := s.probeWaitAOF(ctx); err != nil {
			return err
		}
	}
	return nil
}

// probeCache checks that Redis tracks the keys the client caches: rueidis
// silently runs cached commands uncached when it cannot, which would make
// every Load two round trips.
func (s *Store) probeCache(ctx context.Context) error {
	res := s.r.DoCache(ctx, s.r.B().Hgetall().Key(s.prefix+"{cache-probe}").Cache(), time.Second)
	if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
		return fail("probe client-side cache", err)
	}
	if res.CachePTTL() < 0 {
		return errors.New("redisstore: New: Options.ClientCache: this Redis cannot track keys for the client-side cache (it needs Redis 6 or later over RESP3)")
	}
	return nil
}

// Close closes the connections to Redis, waiting for the calls in flight.
// Later calls fail with ErrClosed. Close is idempotent and returns nil.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.c.Close()
	}
	return nil
}

// check returns ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// sessionKey is the Redis key of the session stored under key. The braces
// make the whole key its own Cluster hash tag.
func (s *Store) sessionKey(key string) string { return s.prefix + "{" + key + "}" }

// userKey is the Redis key of user's index: a sorted set of the keys of
// the user's sessions, scored by the time each was added, in a slot of its
// own.
func (s *Store) userKey(user string) string { return s.prefix + "user:{" + user + "}" }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// limitArgs are the script arguments of a session.Limits, formatted once
// for the Limits that the Manager passes every time.
type limitArgs struct {
	lim                                session.Limits
	idle, absolute, maxSize, maxFields string
	throttleMS                         int64
	slide                              []string // the save script's arguments for a slide
}

func (s *Store) args(lim session.Limits) *limitArgs {
	if a := s.lastArgs.Load(); a != nil && a.lim == lim {
		return a
	}
	a := &limitArgs{
		lim:        lim,
		idle:       ms(max(lim.Idle, time.Millisecond)),
		absolute:   ms(max(lim.Absolute, time.Millisecond)),
		maxSize:    strconv.Itoa(max(lim.MaxSize, 0)),
		maxFields:  strconv.Itoa(max(lim.MaxFields, 0)),
		throttleMS: throttle(s.throttle, lim.Idle).Milliseconds(),
	}
	a.slide = a.save("u", session.Write{}, false, "", "", "", "", nil, nil)
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
