package redisstore

import (
	"cmp"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// guard is the rueidis.Client that the store calls through: it makes
// every call return by its context's deadline, which rueidis does not
// while a connection's queue is full (rueidis issue #858, open; delete
// the guard when a fixed release makes TestHungUnderLoad pass without
// it). Once a call has timed out, each call runs in a goroutine of its
// own that the caller leaves at its deadline, for a while; otherwise calls
// go straight to rueidis.
type guard struct {
	rueidis.Client
	window time.Duration
	until  atomic.Int64 // UnixNano until which calls are guarded
}

// newGuard guards c for long enough after a timeout for rueidis to have
// closed every connection stuck on a hang (ConnWriteTimeout) and recovered.
func newGuard(c rueidis.Client, connWriteTimeout time.Duration) *guard {
	return &guard{Client: c, window: 2*cmp.Or(connWriteTimeout, 10*time.Second) + 5*time.Second}
}

// suspicious reports whether calls must be guarded now.
func (g *guard) suspicious() bool {
	u := g.until.Load()
	return u != 0 && time.Now().UnixNano() < u
}

// note makes the guard suspicious when err is a timeout.
func (g *guard) note(err error) {
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		g.until.Store(time.Now().Add(g.window).UnixNano())
	}
}

// slow runs f in a goroutine that the caller leaves at ctx's deadline.
func slow[T any](g *guard, ctx context.Context, f func() T, failed func(error) T, errOf func(T) error) T {
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case r := <-done:
		g.note(errOf(r))
		return r
	case <-ctx.Done():
		g.note(ctx.Err())
		return failed(ctx.Err())
	}
}

func (g *guard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if g.suspicious() {
		return slow(g, ctx, func() rueidis.RedisResult { return g.Client.Do(ctx, cmd) }, rueidis.NewErrorResult, rueidis.RedisResult.Error)
	}
	r := g.Client.Do(ctx, cmd)
	g.note(r.Error())
	return r
}

func (g *guard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if g.suspicious() {
		return slow(g, ctx, func() rueidis.RedisResult { return g.Client.DoCache(ctx, cmd, ttl) }, rueidis.NewErrorResult, rueidis.RedisResult.Error)
	}
	r := g.Client.DoCache(ctx, cmd, ttl)
	g.note(r.Error())
	return r
}

func (g *guard) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if g.suspicious() {
		return slow(g, ctx, func() []rueidis.RedisResult { return g.Client.DoMulti(ctx, multi...) },
			func(err error) []rueidis.RedisResult {
				rs := make([]rueidis.RedisResult, len(multi))
				for i := range rs {
					rs[i] = rueidis.NewErrorResult(err)
				}
				return rs
			}, firstErr)
	}
	rs := g.Client.DoMulti(ctx, multi...)
	g.note(firstErr(rs))
	return rs
}
