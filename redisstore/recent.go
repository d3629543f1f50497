package redisstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// recentWindow is how long, after this process wrote a session, its
// Loads read Redis, not the client-side cache: rueidis applies the
// invalidation of a write a moment after its reply, when its reader gets
// to it. 250 ms is more than ten times that moment at its longest under
// load (TestClientCacheWindow), and short enough that the slide of a hot
// session leaves its reads to the cache again at once: a request that
// follows a write on the same instance sees it.
const recentWindow = 250 * time.Millisecond

// recent is the set of keys this process wrote within recentWindow (to
// twice that), in two generations of at least recentWindow each.
type recent struct {
	mu    sync.Mutex
	gens  [2]map[string]struct{}
	since int64        // UnixNano when gens[0] became the current generation
	last  atomic.Int64 // UnixNano of the last write: no lookup when old
}

// add notes a write of key, at its reply.
func (r *recent) add(keys ...string) {
	now := time.Now().UnixNano()
	r.last.Store(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	if now-r.since > 2*int64(recentWindow) {
		r.gens[0] = nil // older than the window: both generations go
	}
	if r.gens[0] == nil || now-r.since > int64(recentWindow) {
		r.gens[1], r.gens[0], r.since = r.gens[0], make(map[string]struct{}), now
	}
	for _, k := range keys {
		r.gens[0][k] = struct{}{}
	}
}

// has reports whether key was written within the window (or a little
// more, never less).
func (r *recent) has(key string) bool {
	if time.Now().UnixNano()-r.last.Load() > int64(recentWindow) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, a := r.gens[0][key]
	_, b := r.gens[1][key]
	return a || b
}
