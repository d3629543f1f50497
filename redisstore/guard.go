package redisstore

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// guard is the rueidis.Client that the store calls through: it makes
// every call return by its context's deadline, even where rueidis would
// not.
//
// Why it is needed (rueidis v1.0.79, pipe.go and mux.go): rueidis abandons
// a call at its deadline but keeps its slot in the connection's queue
// (1024 per connection) until Redis answers or ConnWriteTimeout closes
// the connection. Against a hung Redis (SIGSTOP) under load the queues
// fill, and further calls then wait, without watching their context, for
// up to ConnWriteTimeout (10 s by default). TestHungUnderLoad fails
// without the guard (measured with suspicious always false: the slowest of
// its calls took 11.2 s against a 200 ms deadline); should a rueidis
// upgrade honour the context while queueing, that test keeps passing
// without it and the guard can go.
//
// Once a call has timed out, the guard is suspicious for a while and runs
// each call in a goroutine of its own that the caller leaves at its
// deadline. Otherwise (the normal case) calls go straight to rueidis, at
// no extra cost. Every other method is the client's own.
type guard struct {
	rueidis.Client
	window time.Duration
	until  atomic.Int64 // UnixNano until which calls are guarded
}

func newGuard(c rueidis.Client, connWriteTimeout time.Duration) *guard {
	if connWriteTimeout <= 0 {
		connWriteTimeout = 10 * time.Second // rueidis's default
	}
	// Long enough for rueidis to have closed every connection stuck on
	// the hang, and recovered, before calls go straight again.
	return &guard{Client: c, window: 2*connWriteTimeout + 5*time.Second}
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

// guarded runs f, left at ctx's deadline when the guard is suspicious.
func guarded[T any](g *guard, ctx context.Context, f func() T, failed func(error) T, errOf func(T) error) T {
	if !g.suspicious() {
		r := f()
		g.note(errOf(r))
		return r
	}
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

func resultErr(r rueidis.RedisResult) error { return r.Error() }

func (g *guard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	return guarded(g, ctx, func() rueidis.RedisResult { return g.Client.Do(ctx, cmd) }, rueidis.NewErrorResult, resultErr)
}

func (g *guard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	return guarded(g, ctx, func() rueidis.RedisResult { return g.Client.DoCache(ctx, cmd, ttl) }, rueidis.NewErrorResult, resultErr)
}

func (g *guard) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	return guarded(g, ctx, func() []rueidis.RedisResult { return g.Client.DoMulti(ctx, multi...) },
		func(err error) []rueidis.RedisResult {
			rs := make([]rueidis.RedisResult, len(multi))
			for i := range rs {
				rs[i] = rueidis.NewErrorResult(err)
			}
			return rs
		},
		func(rs []rueidis.RedisResult) error {
			for _, r := range rs {
				if err := r.Error(); err != nil {
					return err
				}
			}
			return nil
		})
}
