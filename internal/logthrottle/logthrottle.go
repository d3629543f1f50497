// Package logthrottle (standard library only, so that the session core may
// use it) keeps a repeated log line from flooding a log: at most
// one line per interval for each message, and the next line that passes
// carries the count of those suppressed meanwhile.
//
// A store that is down makes every request log the same error (every
// /healthz probe, every page view); one line every few seconds says as much,
// and the count says how often it happened.
package logthrottle

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// SuppressedKey is the attribute that a line which passes after suppressed
// ones carries: how many lines of the same message were dropped since the
// previous one that passed.
const SuppressedKey = "suppressed"

// Limiter lets one event through per interval and counts the others. It is
// safe for concurrent use; Allow takes no lock (two atomic loads in the
// common, suppressed case).
type Limiter struct {
	interval int64        // nanoseconds
	next     atomic.Int64 // clock reading from which the next event may pass
	dropped  atomic.Int64 // events refused since the last that passed
	clock    func() int64 // monotonic nanoseconds
}

// start anchors the monotonic clock of every Limiter.
var start = time.Now()

func monotonic() int64 { return int64(time.Since(start)) }

// NewLimiter returns a Limiter that lets one event through per interval.
// An interval of zero or less lets every event through.
func NewLimiter(interval time.Duration) *Limiter {
	return &Limiter{interval: int64(interval), clock: monotonic}
}

// Allow reports whether an event may pass now. When it may, suppressed is
// the number of events refused since the previous one that passed; every
// refused event is counted in exactly one later suppressed.
func (l *Limiter) Allow() (ok bool, suppressed int64) {
	if l.interval <= 0 {
		return true, 0
	}
	now := l.clock()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+l.interval) {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}

// maxKeys bounds the number of messages a Handler tracks one by one;
// further messages share one limiter, so a log of ever-new messages cannot
// grow the map without bound.
const maxKeys = 256

// Handler is a slog.Handler that throttles the records at or above a level,
// one limiter per (level, message): at most one record per interval passes
// for each, and the first to pass after others were dropped gets the
// attribute [SuppressedKey] with their count. Records below the level pass
// untouched. Suppressed records that no later record reports are not
// written. It is safe for concurrent use, as its inner handler must be.
type Handler struct {
	inner slog.Handler
	st    *state // shared by the handlers derived with WithAttrs and WithGroup
}

type state struct {
	interval time.Duration
	level    slog.Leveler
	limiters sync.Map // key -> *Limiter
	n        atomic.Int64
	overflow *Limiter
	clock    func() int64
}

type key struct {
	level slog.Level
	msg   string
}

// NewHandler returns a Handler that writes through inner and throttles the
// records at level and above to one per interval for each message.
// A nil level means slog.LevelWarn.
func NewHandler(inner slog.Handler, interval time.Duration, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelWarn
	}
	st := &state{interval: interval, level: level, clock: monotonic}
	st.overflow = st.newLimiter()
	return &Handler{inner: inner, st: st}
}

func (st *state) newLimiter() *Limiter {
	l := NewLimiter(st.interval)
	l.clock = st.clock
	return l
}

func (st *state) limiter(k key) *Limiter {
	if l, ok := st.limiters.Load(k); ok {
		return l.(*Limiter)
	}
	if st.n.Load() >= maxKeys {
		return st.overflow
	}
	l, loaded := st.limiters.LoadOrStore(k, st.newLimiter())
	if !loaded {
		st.n.Add(1)
	}
	return l.(*Limiter)
}

// Enabled reports whether the inner handler handles records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle writes r through the inner handler unless the limiter of its
// message refuses it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.st.level.Level() {
		return h.inner.Handle(ctx, r)
	}
	ok, suppressed := h.st.limiter(key{r.Level, r.Message}).Allow()
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone() // the caller's copy may share its attribute array
		r.AddAttrs(slog.Int64(SuppressedKey, suppressed))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a Handler whose inner handler has attrs; it shares the
// limiters of h.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), st: h.st}
}

// WithGroup returns a Handler whose inner handler has the group; it shares
// the limiters of h.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), st: h.st}
}
