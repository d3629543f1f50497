package session

import (
	"context"
	"sync/atomic"
	"time"
)

// deadlines hands out the contexts of the store calls made in requests:
// each ends StoreTimeout after the call began, or up to a tick sooner, so
// that the calls that begin within one tick share one deadline and its
// timer. A context and a timer of its own per call cost more than the
// rest of a read's work in the session package, and lock the runtime's
// timers on every core.
type deadlines struct {
	timeout, tick time.Duration
	cur           atomic.Pointer[deadline]
}

// deadline is a context that ends at a moment; the calls that share it
// keep their own context's values.
type deadline struct {
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc // never called: the context ends at its deadline
}

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{timeout: timeout, tick: min(timeout/10, 10*time.Millisecond)}
}

// of returns the context of a call that begins now: the values of ctx,
// not its cancellation (a client that leaves does not abort a save half
// way), and a deadline between timeout-tick and timeout from now.
func (d *deadlines) of(ctx context.Context) context.Context {
	now := time.Now()
	cur := d.cur.Load()
	if cur == nil || now.Sub(cur.start) >= d.tick {
		next := &deadline{start: now}
		next.ctx, next.cancel = context.WithDeadline(context.Background(), now.Add(d.timeout))
		if !d.cur.CompareAndSwap(cur, next) {
			next.cancel() // another call made the next one first
			next = d.cur.Load()
		}
		cur = next
	}
	return callContext{Context: ctx, d: cur.ctx}
}

// callContext is ctx's values with d's deadline.
type callContext struct {
	context.Context
	d context.Context
}

func (c callContext) Deadline() (time.Time, bool) { return c.d.Deadline() }
func (c callContext) Done() <-chan struct{}       { return c.d.Done() }
func (c callContext) Err() error                  { return c.d.Err() }
