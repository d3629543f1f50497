package session

import (
	"context"
	"sync"
	"time"
)

// watchInterval is how often a Manager asks the store whether the sessions
// it watches are still live: a session that ends on another instance ends
// its watchers here within this long (plus one store call). Ends that this
// Manager makes itself (a logout, a revocation, an eviction) and absolute
// deadlines end them at once.
const watchInterval = time.Second

// watchBatch bounds the keys of one Checker.Live call.
const watchBatch = 500

// watcher watches the sessions that requests of one Manager wait on. All
// the watches of a Manager share one goroutine, which runs only while
// something is watched, and one batched store call per interval and
// watchBatch sessions: the cost grows with the number of sessions watched
// at once, not with the number of requests that wait on them.
type watcher struct {
	m     *Manager
	mu    sync.Mutex
	keys  map[string]*watch
	timer *time.Timer // nil when the loop is not running
}

// watch is one watched session: its channel, the requests waiting on it,
// its absolute deadline and its limits.
type watch struct {
	done     chan struct{}
	refs     int
	deadline time.Time
	lim      Limits
	ended    bool
}

// closedChan is the channel given when there is nothing to watch.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// add starts watching key, whose session dies at deadline at the latest
// and has the limits lim, for one more request, and returns its channel.
func (w *watcher) add(key string, deadline time.Time, lim Limits) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys == nil {
		w.keys = map[string]*watch{}
	}
	wt := w.keys[key]
	if wt == nil {
		wt = &watch{done: make(chan struct{}), deadline: deadline, lim: lim}
		w.keys[key] = wt
	}
	wt.refs++
	if w.timer == nil {
		w.timer = time.AfterFunc(watchInterval, w.check)
	}
	return wt.done
}

// release drops one request's watch of key, and stops the timer when
// nothing is watched any more.
func (w *watcher) release(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.keys[key]; wt != nil {
		if wt.refs--; wt.refs == 0 {
			delete(w.keys, key)
		}
	}
	if len(w.keys) == 0 && w.timer != nil {
		// A check already running finds no key and leaves the timer
		// alone, or resets the timer of a later add, which is harmless.
		w.timer.Stop()
		w.timer = nil
	}
}

// end ends the watches of keys, sessions that this Manager ended.
func (w *watcher) end(keys ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		w.endLocked(k)
	}
}

func (w *watcher) endLocked(key string) {
	if wt := w.keys[key]; wt != nil && !wt.ended {
		wt.ended = true
		close(wt.done)
	}
}

// check asks the store about every watched session, ends the dead ones,
// and runs again after watchInterval while anything is watched.
func (w *watcher) check() {
	now := time.Now()
	w.mu.Lock()
	keys := make([]string, 0, len(w.keys))
	for k, wt := range w.keys {
		switch {
		case wt.ended:
		case !wt.deadline.IsZero() && !now.Before(wt.deadline):
			w.endLocked(k)
		default:
			keys = append(keys, k)
		}
	}
	w.mu.Unlock()
	for len(keys) > 0 {
		n := min(len(keys), watchBatch)
		if dead := w.dead(keys[:n]); len(dead) > 0 {
			w.end(dead...)
		}
		keys = keys[n:]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.keys) == 0 {
		w.timer = nil
		return
	}
	w.timer.Reset(watchInterval)
}

// dead returns the keys whose sessions the store no longer holds. A store
// that cannot answer ends nothing: an outage is not a logout.
func (w *watcher) dead(keys []string) []string {
	m := w.m
	ctx := context.Background()
	var dead []string
	if c, ok := m.store.(Checker); ok {
		var live []bool
		err := m.call(ctx, OpLive, func(ctx context.Context) (err error) {
			live, err = c.Live(ctx, keys)
			return err
		})
		if err != nil || len(live) != len(keys) {
			return nil
		}
		for i, ok := range live {
			if !ok {
				dead = append(dead, keys[i])
			}
		}
		return dead
	}
	for _, k := range keys {
		lim := m.limits(false)
		w.mu.Lock()
		if wt := w.keys[k]; wt != nil {
			lim = wt.lim
		}
		w.mu.Unlock()
		var found bool
		err := m.call(ctx, OpLoad, func(ctx context.Context) (err error) {
			_, found, err = m.store.Load(ctx, k, lim)
			return notFound(found, err)
		})
		if err == nil && !found {
			dead = append(dead, k)
		}
	}
	return dead
}

// Done returns a channel that is closed when the session ends: a logout or
// a revocation on any instance, an eviction, its idle or absolute timeout,
// or a renewal that moved it to a new token (the client then holds a new
// cookie and may reconnect). It is meant for long-lived requests such as
// server-sent event streams, which should end when the session that
// authorised them ends.
//
// The Manager checks every watched session about once a second with one
// batched store call per 500 sessions ([Checker]), whatever the number of
// requests waiting; ends made by this Manager, and absolute deadlines, close
// the channel at once. The watch ends with the request, also when its
// handler panics. For a session that is not stored (anonymous, or ended),
// and after the request, Done returns a closed channel.
// Watching does not count as activity: a session that only streams still
// reaches its idle timeout.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over || s.loadLocked(s.ctx) != nil || !s.stored {
		return closedChan
	}
	if s.watched == "" {
		lim := s.m.limits(s.remember)
		var deadline time.Time
		if !s.loginAt.IsZero() {
			deadline = s.loginAt.Add(lim.Absolute)
		}
		s.watchDone = s.m.watch.add(s.key, deadline, lim)
		s.watched = s.key
	}
	return s.watchDone
}

// LoginTime returns when the session's user logged in (the creation of an
// anonymous session), or the zero time for a session that is not stored.
// The absolute timeout counts from it; [Manager.RequireRecentLogin] checks
// it.
func (s *Session) LoginTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked(s.ctx) != nil || !s.stored {
		return time.Time{}
	}
	return s.loginAt
}
