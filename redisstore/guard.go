package redisstore

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// redis is the part of a rueidis.Client that the store's calls use.
type redis interface {
	B() rueidis.Builder
	Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult
	DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult
	DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult
}

// guard makes every call return by its context's deadline, even where
// rueidis would not: rueidis abandons a call at its deadline but keeps its
// slot in the connection's queue (1024 per connection) until Redis answers
// or ConnWriteTimeout closes the connection. Against a hung Redis under
// load the queues fill, and further calls then wait, without watching
// their context, for up to ConnWriteTimeout (10 s by default).
//
// So once a call has timed out, the guard is suspicious for a while and
// runs each call in a goroutine of its own that the caller leaves at its
// deadline. Otherwise (the normal case) calls go straight to rueidis, at
// no extra cost.
type guard struct {
	c      rueidis.Client
	window time.Duration
	until  atomic.Int64 // UnixNano until which calls are guarded
}

func newGuard(c rueidis.Client, connWriteTimeout time.Duration) *guard {
	if connWriteTimeout <= 0 {
		connWriteTimeout = 10 * time.Second // rueidis's default
	}
	// Long enough for rueidis to have closed every connection stuck on
	// the hang, and recovered, before calls go straight again.
	return &guard{c: c, window: 2*connWriteTimeout + 5*time.Second}
}

func (g *guard) B() rueidis.Builder { return g.c.B() }

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

func (g *guard) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if !g.suspicious() {
		r := g.c.Do(ctx, cmd)
		g.note(r.Error())
		return r
	}
	done := make(chan rueidis.RedisResult, 1)
	go func() { done <- g.c.Do(ctx, cmd) }()
	select {
	case r := <-done:
		g.note(r.Error())
		return r
	case <-ctx.Done():
		g.note(ctx.Err())
		return rueidis.NewErrorResult(ctx.Err())
	}
}

func (g *guard) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	if !g.suspicious() {
		r := g.c.DoCache(ctx, cmd, ttl)
		g.note(r.Error())
		return r
	}
	done := make(chan rueidis.RedisResult, 1)
	go func() { done <- g.c.DoCache(ctx, cmd, ttl) }()
	select {
	case r := <-done:
		g.note(r.Error())
		return r
	case <-ctx.Done():
		g.note(ctx.Err())
		return rueidis.NewErrorResult(ctx.Err())
	}
}

func (g *guard) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if !g.suspicious() {
		rs := g.c.DoMulti(ctx, multi...)
		g.noteAll(rs)
		return rs
	}
	done := make(chan []rueidis.RedisResult, 1)
	go func() { done <- g.c.DoMulti(ctx, multi...) }()
	select {
	case rs := <-done:
		g.noteAll(rs)
		return rs
	case <-ctx.Done():
		g.note(ctx.Err())
		rs := make([]rueidis.RedisResult, len(multi))
		for i := range rs {
			rs[i] = rueidis.NewErrorResult(ctx.Err())
		}
		return rs
	}
}

func (g *guard) noteAll(rs []rueidis.RedisResult) {
	for _, r := range rs {
		if err := r.Error(); err != nil {
			g.note(err)
			return
		}
	}
}
