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

// Store is the Redis [session.Store]. Create one with [New] or
// [NewFromURL] and release its connections with [Store.Close]. All methods
// are safe for concurrent use; every error they return wraps
// session.ErrStoreUnavailable, except the ErrNotInteger of Incr.
type Store struct {
	c        rueidis.Client
	r        *guard // c, bounded by each call's context
	prefix   string
	max      int
	throttle time.Duration
	cache    bool   // Options.ClientCache
	watch    *watch // the connections, watched for cached reads; nil without
	closed   atomic.Bool
	lastArgs atomic.Pointer[lifetimeArgs]
}

var _ session.Store = (*Store)(nil)

// New connects to the Redis that opts.Client names (standalone, Sentinel
// when Client.Sentinel.MasterSet is set, Cluster otherwise when the first
// address answers as a Cluster node), checks that it answers, and loads
// the store's Lua scripts. ctx bounds the connection; a Redis that cannot
// be reached gives an error wrapping session.ErrStoreUnavailable. Bad
// options (a negative MaxSessionsPerUser) panic.
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
		max:      opts.MaxSessionsPerUser,
		throttle: opts.TouchThrottle,
		cache:    opts.ClientCache,
		watch:    w,
	}
	if err := s.loadScripts(ctx); err != nil {
		r.c.Close()
		return nil, err
	}
	if s.cache {
		if err := s.probeCache(ctx); err != nil {
			r.c.Close()
			return nil, err
		}
	}
	return s, nil
}

// probeCache checks that Redis tracks the keys the client caches: rueidis
// silently runs cached commands uncached when it cannot, which would make
// every Load two round trips; and that it has EVALSHA_RO (Redis 7).
func (s *Store) probeCache(ctx context.Context) error {
	res := s.r.DoCache(ctx, scriptPeek.cached(s.r, s.prefix+"{cache-probe}"), time.Second)
	if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
		return fail("probe client-side cache (Options.ClientCache needs Redis 7 or later)", err)
	}
	if res.CachePTTL() < 0 {
		return errors.New("redisstore: New: Options.ClientCache: this Redis cannot track keys for the client-side cache (it needs Redis 7 or later over RESP3)")
	}
	return nil
}

// loadScripts sends every script to every node once (SCRIPT LOAD), so that
// the first calls are EVALSHA already. A node that loses them (a restart, a
// failover) gets them again through the NOSCRIPT fallback.
func (s *Store) loadScripts(ctx context.Context) error {
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
	return nil
}

// Close closes the connections to Redis, waiting for the calls in flight.
// Later calls fail with an error wrapping ErrClosed and
// session.ErrStoreUnavailable. Close is idempotent and returns nil.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.c.Close()
	}
	return nil
}

// check reports the error of a call on a closed store.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fail(op, ErrClosed)
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

// lifetimeArgs are the script arguments of a Lifetime: milliseconds, at
// least 1, in decimal.
type lifetimeArgs struct {
	lt                       session.Lifetime
	idle, absolute, throttle string
	throttleMS               int64
}

// args returns the arguments of lt, formatted once for the lifetime that
// the Manager passes every time.
func (s *Store) args(lt session.Lifetime) *lifetimeArgs {
	if a := s.lastArgs.Load(); a != nil && a.lt == lt {
		return a
	}
	t := throttle(s.throttle, lt.Idle)
	a := &lifetimeArgs{
		lt:         lt,
		idle:       ms(max(lt.Idle, time.Millisecond)),
		absolute:   ms(max(lt.Absolute, time.Millisecond)),
		throttle:   ms(t),
		throttleMS: t.Milliseconds(),
	}
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

// Load implements [session.Store.Load] in one round trip (one EVALSHA):
// the script reads the hash, checks both deadlines against the Redis
// clock, deletes an expired session, and slides the idle deadline unless
// Options.TouchThrottle lets it skip. With Options.ClientCache, a read of
// an unchanged session that needs no slide costs no round trip (see
// loadCached).
func (s *Store) Load(ctx context.Context, key string, lt session.Lifetime) (session.Record, bool, error) {
	if err := s.check("Load"); err != nil {
		return session.Record{}, false, err
	}
	if s.cache {
		return s.loadCached(ctx, key, lt)
	}
	return s.loadScript(ctx, s.sessionKey(key), lt)
}

// loadScript is Load through the Load script, by the Redis session key sk.
func (s *Store) loadScript(ctx context.Context, sk string, lt session.Lifetime) (session.Record, bool, error) {
	return s.loadScriptThrottled(ctx, sk, lt, s.args(lt).throttle)
}

// loadScriptThrottled is loadScript with the touch throttle throttle (ms,
// decimal): "0" slides whatever the last slide.
func (s *Store) loadScriptThrottled(ctx context.Context, sk string, lt session.Lifetime, throttle string) (session.Record, bool, error) {
	res := scriptLoad.run(ctx, s.r, []string{sk}, s.args(lt).idle, throttle)
	h, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return session.Record{}, false, nil
		}
		return session.Record{}, false, fail("Load", err)
	}
	rec, ok := parseLoad(h, false)
	if !ok {
		return session.Record{}, false, fail("Load", fmt.Errorf("unexpected reply of %d elements", len(h)))
	}
	return rec, true, nil
}

// loadCached is Load through the client-side cache: the read-only Peek
// script (EVALSHA_RO: HGETALL, returned in the shape of the Load script's
// reply, deadlines as integers), from the cache when Redis has sent no
// invalidation for the key since it was fetched (one round trip with the
// key's PTTL otherwise). First, every
// invalidation that has reached this process is applied (see [watch]);
// when that cannot be made sure of, the Load script answers. The cached
// answer is only used when it needs no slide; otherwise the Load script
// runs, which slides (and so invalidates the session in every process's
// cache).
//
// No deadline is compared with this machine's clock: the Redis clock now
// is estimated as the key's expiry (its idle deadline, Redis clock) less
// the time the cache entry has left (rueidis started it at the key's PTTL
// when the reply came, and counts it down on this machine's clock), which
// is right to within one round trip whatever the skew between the clocks.
func (s *Store) loadCached(ctx context.Context, key string, lt session.Lifetime) (session.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return session.Record{}, false, fail("Load", err) // a cache hit would not notice
	}
	sk := s.sessionKey(key)
	var closes int64
	if s.watch != nil {
		closes = s.watch.closes.Load()
		if !s.watch.settle(ctx) {
			return s.loadScript(ctx, sk, lt)
		}
	}
	ttl := max(lt.Idle, time.Millisecond)
	res := s.r.DoCache(ctx, scriptPeek.cached(s.r, sk), ttl)
	if noScript(res.Error()) {
		// A Redis that lost its scripts (a restart, a new node). rueidis
		// keeps the error in the cache like any reply, until the key
		// changes: load the script, and answer through the Load script
		// with a slide, which changes the key (and so drops the error).
		// EVAL_RO (not SCRIPT LOAD, which Cluster sends to any node)
		// loads it on the node of the key.
		peek := s.r.B().EvalRo().Script(scriptPeek.src).Numkeys(1).Key(sk).Build()
		if err := s.r.Do(ctx, peek).Error(); err != nil && !rueidis.IsRedisNil(err) {
			return session.Record{}, false, fail("Load", err)
		}
		return s.loadScriptThrottled(ctx, sk, lt, "0")
	}
	if s.watch != nil && s.watch.closes.Load() != closes {
		return s.loadScript(ctx, sk, lt) // the answer may come from a broken connection's cache
	}
	h, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return session.Record{}, false, nil
		}
		return session.Record{}, false, fail("Load", err)
	}
	rec, ok := parseLoad(h, true)
	if !ok {
		return session.Record{}, false, fail("Load", fmt.Errorf("unexpected reply of %d elements", len(h)))
	}
	if left := res.CachePTTL(); left > 0 {
		idle, _ := h[2].AsInt64()
		seen, _ := h[3].AsInt64()
		if redisNow := idle - left; redisNow-seen < s.args(lt).throttleMS {
			return rec, true, nil
		}
	}
	return s.loadScript(ctx, sk, lt)
}

// parseLoad decodes the reply of the Load or the Peek script. The values
// are copies when copyValues (h is shared: a client-side cache entry),
// otherwise the bytes of h themselves (rueidis read each into memory of
// its own, which nothing else holds once h is dropped).
func parseLoad(h []rueidis.RedisMessage, copyValues bool) (rec session.Record, ok bool) {
	if len(h) < metaFields || len(h)%2 != 0 {
		return rec, false
	}
	created, _ := h[0].AsInt64()
	absolute, _ := h[1].AsInt64()
	idle, _ := h[2].AsInt64()
	seen, _ := h[3].AsInt64()
	rec.User, _ = h[4].ToString()
	rec.UserAgent, _ = h[5].ToString()
	rec.Created = time.UnixMilli(created)
	rec.LastSeen = time.UnixMilli(seen)
	rec.Expires = time.UnixMilli(min(idle, absolute))
	rec.Values = make(map[string][]byte, (len(h)-metaFields)/2)
	for j := metaFields; j+1 < len(h); j += 2 {
		f, _ := h[j].ToString()
		if len(f) < len(valuePrefix) || f[:len(valuePrefix)] != valuePrefix {
			continue
		}
		if copyValues {
			v, _ := h[j+1].ToString()
			rec.Values[f[len(valuePrefix):]] = []byte(v)
		} else {
			rec.Values[f[len(valuePrefix):]], _ = h[j+1].AsBytes()
		}
	}
	return rec, true
}

// parseHash decodes a session hash returned flat (name, value, ...). ok
// is false when the metadata is missing. With values, the record gets the
// session's values: copies when copyValues (h is shared, as a client-side
// cache entry is), otherwise the bytes of h themselves (rueidis read each
// into memory of its own, which nothing else holds once h is dropped).
func parseHash(h []rueidis.RedisMessage, values, copyValues bool) (rec session.Record, ok bool) {
	var created, absolute, idle, seen int64
	if values {
		rec.Values = make(map[string][]byte, max(len(h)/2-metaFields, 0))
	}
	for j := 0; j+1 < len(h); j += 2 {
		f, _ := h[j].ToString()
		switch {
		case len(f) > len(valuePrefix) && f[:len(valuePrefix)] == valuePrefix:
			if values {
				if copyValues {
					v, _ := h[j+1].ToString()
					rec.Values[f[len(valuePrefix):]] = []byte(v)
				} else {
					rec.Values[f[len(valuePrefix):]], _ = h[j+1].AsBytes()
				}
			}
			continue
		}
		v, _ := h[j+1].ToString()
		switch {
		case f == fieldCreated:
			created, _ = strconv.ParseInt(v, 10, 64)
		case f == fieldAbsolute:
			absolute, _ = strconv.ParseInt(v, 10, 64)
			ok = true
		case f == fieldIdle:
			idle, _ = strconv.ParseInt(v, 10, 64)
		case f == fieldSeen:
			seen, _ = strconv.ParseInt(v, 10, 64)
		case f == fieldUser:
			rec.User = v
		case f == fieldUserAgent:
			rec.UserAgent = v
		}
	}
	rec.Created = time.UnixMilli(created)
	rec.LastSeen = time.UnixMilli(seen)
	rec.Expires = time.UnixMilli(min(idle, absolute))
	return rec, ok
}

// createCall is the script call that stores a new session under key.
func (s *Store) createCall(key string, values map[string][]byte, user, userAgent string, lt session.Lifetime) call {
	args := make([]string, 0, 4+2*len(values))
	a := s.args(lt)
	args = append(args, a.idle, a.absolute, user, userAgent)
	for k, v := range values {
		// Copies: a call abandoned at its deadline may still be written
		// after we return, when the caller may reuse its buffers.
		args = append(args, valuePrefix+k, string(v))
	}
	return call{s: scriptCreate, keys: []string{s.sessionKey(key)}, args: args}
}

// indexAddCall is the script call that adds key to user's index.
func (s *Store) indexAddCall(user, key string, lt session.Lifetime) call {
	return call{s: scriptIndexAdd, keys: []string{s.userKey(user)}, args: []string{key, s.args(lt).absolute}}
}

// indexRemoveCall is the command that removes keys from user's index.
func (s *Store) indexRemoveCall(user string, keys ...string) call {
	uk := s.userKey(user)
	return call{build: func(b rueidis.Builder) rueidis.Completed {
		return b.Zrem().Key(uk).Member(keys...).Build().ToRetryable()
	}}
}

// Create implements [session.Store.Create]: one script call writes the
// hash, its deadlines and its expiry; when ch.User is set, the user's
// index is updated in the same pipeline (one round trip), and sessions
// past Options.MaxSessionsPerUser are evicted after it.
func (s *Store) Create(ctx context.Context, key string, ch session.Change, lt session.Lifetime) error {
	if err := s.check("Create"); err != nil {
		return err
	}
	calls := []call{s.createCall(key, ch.Set, ch.User, ch.UserAgent, lt)}
	if ch.User != "" {
		calls = append(calls, s.indexAddCall(ch.User, key, lt))
	}
	res := pipeline(ctx, s.r, calls...)
	for _, r := range res {
		if err := r.Error(); err != nil {
			return fail("Create", err)
		}
	}
	if ch.User != "" {
		return s.afterIndexAdd(ctx, "Create", res[1], ch.User, key)
	}
	return nil
}

// afterIndexAdd enforces MaxSessionsPerUser once key joined user's index,
// whose size res reports.
func (s *Store) afterIndexAdd(ctx context.Context, op string, res rueidis.RedisResult, user, key string) error {
	n, err := res.AsInt64()
	if err != nil {
		return fail(op, err)
	}
	if s.max > 0 && n > int64(s.max) {
		if err := s.evict(ctx, user, key); err != nil {
			return fail(op, err)
		}
	}
	return nil
}

// Update implements [session.Store.Update] in one script call that checks
// the session is live, then deletes ch.Del, sets ch.Set (only those
// fields: concurrent updates of other fields are kept), binds the user
// when ch.SetUser and slides the idle deadline. A change of user moves the
// session between indexes in a second round trip.
func (s *Store) Update(ctx context.Context, key string, ch session.Change, lt session.Lifetime) (bool, error) {
	if err := s.check("Update"); err != nil {
		return false, err
	}
	setUser := "0"
	if ch.SetUser {
		setUser = "1"
	}
	args := make([]string, 0, 4+2*len(ch.Set)+len(ch.Del))
	args = append(args, s.args(lt).idle, setUser, ch.User, strconv.Itoa(len(ch.Set)))
	for k, v := range ch.Set {
		args = append(args, valuePrefix+k, string(v))
	}
	for _, k := range ch.Del {
		args = append(args, valuePrefix+k)
	}
	res := scriptUpdate.run(ctx, s.r, []string{s.sessionKey(key)}, args...)
	arr, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return false, nil
		}
		return false, fail("Update", err)
	}
	if !ch.SetUser {
		return true, nil
	}
	old := ""
	if len(arr) > 0 {
		old, _ = arr[0].ToString()
	}
	if old == ch.User {
		return true, nil
	}
	var calls []call
	if old != "" {
		calls = append(calls, s.indexRemoveCall(old, key))
	}
	if ch.User != "" {
		calls = append(calls, s.indexAddCall(ch.User, key, lt))
	}
	out := pipeline(ctx, s.r, calls...)
	for _, r := range out {
		if err := r.Error(); err != nil {
			return true, fail("Update", err)
		}
	}
	if ch.User != "" {
		return true, s.afterIndexAdd(ctx, "Update", out[len(out)-1], ch.User, key)
	}
	return true, nil
}

// Renew implements [session.Store.Renew] without RENAME, which Cluster
// refuses across slots: a first script takes the old session whole and
// deletes it atomically (from then on the old key is dead for reads and
// writes, and requests still carrying it find no session), then one
// pipeline creates the new session with the change applied and moves the
// index entry. Should Redis fail between the two round trips, the session
// is lost (the user logs in again); nothing is ever left readable under
// the old key.
func (s *Store) Renew(ctx context.Context, oldKey, newKey string, ch session.Change, lt session.Lifetime) (bool, error) {
	if err := s.check("Renew"); err != nil {
		return false, err
	}
	res := scriptTake.run(ctx, s.r, []string{s.sessionKey(oldKey)})
	h, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return false, nil
		}
		return false, fail("Renew", err)
	}
	rec, _ := parseHash(h, true, false)
	for _, k := range ch.Del {
		delete(rec.Values, k)
	}
	for k, v := range ch.Set {
		rec.Values[k] = v
	}
	user := rec.User
	if ch.SetUser || ch.User != "" {
		user = ch.User
	}
	ua := rec.UserAgent
	if ch.UserAgent != "" {
		ua = ch.UserAgent
	}
	calls := []call{s.createCall(newKey, rec.Values, user, ua, lt)}
	if rec.User != "" {
		calls = append(calls, s.indexRemoveCall(rec.User, oldKey))
	}
	if user != "" {
		calls = append(calls, s.indexAddCall(user, newKey, lt))
	}
	out := pipeline(ctx, s.r, calls...)
	for _, r := range out {
		if err := r.Error(); err != nil {
			return false, fail("Renew", err)
		}
	}
	if user != "" {
		return true, s.afterIndexAdd(ctx, "Renew", out[len(out)-1], user, newKey)
	}
	return true, nil
}

// Destroy implements [session.Store.Destroy]: one script deletes the hash
// and returns its user, then the key leaves the user's index.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := s.check("Destroy"); err != nil {
		return err
	}
	res := scriptDestroy.run(ctx, s.r, []string{s.sessionKey(key)})
	arr, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil
		}
		return fail("Destroy", err)
	}
	if user, _ := arr[0].ToString(); user != "" {
		if err := pipeline(ctx, s.r, s.indexRemoveCall(user, key))[0].Error(); err != nil {
			return fail("Destroy", err)
		}
	}
	return nil
}

// Incr implements [session.Store.Incr] with HINCRBY inside a script that
// first checks the session is live, so it is atomic and never brings a
// session back. The field must hold a decimal integer (as the JSON of an
// int64 is); anything else, or a result past the int64 range, gives an
// error wrapping session.ErrNotInteger and leaves the field as it was.
func (s *Store) Incr(ctx context.Context, key, field string, n int64, lt session.Lifetime) (int64, bool, error) {
	if err := s.check("Incr"); err != nil {
		return 0, false, err
	}
	res := scriptIncr.run(ctx, s.r, []string{s.sessionKey(key)}, s.args(lt).idle, valuePrefix+field, strconv.FormatInt(n, 10))
	arr, err := res.ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return 0, false, nil
		}
		return 0, false, fail("Incr", err)
	}
	if len(arr) != 2 {
		return 0, false, fail("Incr", fmt.Errorf("unexpected reply of %d elements", len(arr)))
	}
	if ok, _ := arr[0].AsInt64(); ok == 0 {
		msg, _ := arr[1].ToString()
		return 0, true, fmt.Errorf("redisstore: Incr: %s: %w", msg, session.ErrNotInteger)
	}
	v, err := arr[1].AsInt64()
	if err != nil {
		return 0, false, fail("Incr", err)
	}
	return v, true, nil
}

// CompareAndSwap implements [session.Store.CompareAndSwap] in one script
// that checks the session is live and compares the stored bytes exactly.
// The idle deadline slides whether or not the swap happens.
func (s *Store) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lt session.Lifetime) (bool, bool, error) {
	if err := s.check("CompareAndSwap"); err != nil {
		return false, false, err
	}
	hasOld := "0"
	if old != nil {
		hasOld = "1"
	}
	res := scriptCAS.run(ctx, s.r, []string{s.sessionKey(key)}, s.args(lt).idle, valuePrefix+field, hasOld,
		string(old), string(new))
	v, err := res.AsInt64()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return false, false, nil
		}
		return false, false, fail("CompareAndSwap", err)
	}
	return v == 1, true, nil
}
