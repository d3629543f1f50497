package redisstore

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/session"
)

// expiryMargin is how far past a session's deadline, by this machine's
// estimate of the Redis clock, Load stops trusting a reply that still
// holds the session, and asks Redis instead (through the slide, which
// checks the session by the Redis clock). Redis's own expiry is what
// enforces the deadlines: a key past its PEXPIREAT is never returned by
// the master. The check is a second line, cheap since Load parses those
// fields anyway, against a reply that can be stale: a client-side cache
// entry whose invalidation was lost on a connection cut without a FIN
// (served until rueidis's keepalive notices, about 10 s), or a read
// answered by a copy of the data rather than the master. Asking Redis
// rather than deciding here means that a step of this machine's clock
// costs a round trip, never a live session; the margin covers the error
// of the estimate (a round trip, plus drift since the last script reply)
// so that normal reads do not pay it.
const expiryMargin = time.Second

// redisClock estimates the Redis clock from this machine's: every script
// that writes a session replies with the Redis time, and the offset is
// kept from the latest reply (in Cluster, of whichever node answered; the
// nodes' clocks are normally within milliseconds). The estimate only
// decides when Load asks Redis for a slide, and when it stops trusting a
// stale reply (expiryMargin): never whether Redis serves a session.
type redisClock struct {
	offset atomic.Int64 // Redis ms minus local ms
}

// observe records that Redis read its clock as redisMS while a call sent
// at sent was in flight (the midpoint estimate).
func (c *redisClock) observe(redisMS int64, sent time.Time) {
	if redisMS <= 0 {
		return
	}
	local := sent.UnixMilli() + time.Since(sent).Milliseconds()/2
	c.offset.Store(redisMS - local)
}

// now is the estimated Redis time, Unix ms.
func (c *redisClock) now() int64 { return time.Now().UnixMilli() + c.offset.Load() }

// Load implements [session.Store.Load]. A read that needs no slide is one
// plain HGETALL: Redis's expiry of the key (its PEXPIREAT is the idle
// deadline, never past the absolute one) already keeps expired and
// destroyed sessions out of the reply. When the last slide is at least the
// touch throttle old (by the estimated Redis clock: see redisClock), or
// the reply looks stale (see expiryMargin), a second call slides the idle
// deadline through the save script, which checks, by the Redis clock,
// that the session is live. With
// Options.ClientCache the HGETALL is served from the client-side cache
// when the session has not changed (see readCached).
func (s *Store) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	if err := s.check(); err != nil {
		return session.Record{}, false, err
	}
	sk := s.sessionKey(key)
	var res rueidis.RedisResult
	shared := false
	if s.cache {
		res, shared = s.readCached(ctx, sk, lim)
	} else {
		res = s.r.Do(ctx, s.r.B().Hgetall().Key(sk).Build())
	}
	h, err := res.AsStrMap()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return session.Record{}, false, nil
		}
		return session.Record{}, false, opError("Load", err)
	}
	rec, md, ok := parseHash(h, true, shared)
	if !ok {
		return session.Record{}, false, nil
	}
	now, margin := s.clock.now(), expiryMargin.Milliseconds()
	// Ask Redis when the reply looks stale, or when the estimate of the
	// Redis clock is plainly wrong (before the last slide, which Redis
	// timed): the slide's reply corrects the estimate, so that a clock
	// that stepped back does not delay slides until the session dies.
	stale := now >= min(md.absolute, md.idle)+margin || now < md.seen-margin
	a := s.args(lim)
	if !stale && now-md.seen < a.throttleMS {
		return rec, true, nil
	}
	r, err := s.runSave(ctx, sk, a.slide)
	if err != nil {
		if !stale && isOOM(err) {
			// Redis is at maxmemory and refuses every write: the read
			// goes on without its slide (the session keeps the idle
			// deadline it has), so that logged-in users keep reading
			// while new sessions and writes get 503.
			return rec, true, nil
		}
		return session.Record{}, false, opError("Load", err)
	}
	if r.code != 1 {
		return session.Record{}, false, nil
	}
	rec.LastSeen = time.UnixMilli(r.now)
	rec.Expires = time.UnixMilli(min(r.idle, md.absolute))
	return rec, true, nil
}

// readCached is the HGETALL of Load through rueidis's client-side cache
// (RESP3 client tracking: rueidis sends CLIENT CACHING YES, HGETALL and
// PTTL in one MULTI on a miss, keeps the reply for at most the key's PTTL,
// and drops it when Redis pushes an invalidation of the key). shared
// reports that the reply is the cache's own (its values must be copied).
//
// Before the lookup, every invalidation that has reached this process is
// applied (see [watch]); when that cannot be made sure of, or a
// connection closed during the lookup (its cache may have missed
// invalidations), the read goes to Redis instead.
func (s *Store) readCached(ctx context.Context, sk string, lim session.Limits) (res rueidis.RedisResult, shared bool) {
	if err := ctx.Err(); err != nil {
		return rueidis.NewErrorResult(err), false // a cache hit would not notice
	}
	var closes int64
	if s.watch != nil {
		closes = s.watch.closes.Load()
		if !s.watch.settle(ctx) {
			s.cacheRead(false)
			return s.r.Do(ctx, s.r.B().Hgetall().Key(sk).Build()), false
		}
	}
	res = s.r.DoCache(ctx, s.r.B().Hgetall().Key(sk).Cache(), max(lim.Idle, time.Millisecond))
	if s.watch != nil && s.watch.closes.Load() != closes {
		s.cacheRead(false)
		return s.r.Do(ctx, s.r.B().Hgetall().Key(sk).Build()), false
	}
	s.cacheRead(res.IsCacheHit())
	return res, true
}

// meta are a session's times, Unix ms of the Redis clock.
type meta struct{ created, absolute, idle, seen int64 }

// parseHash decodes a session hash. ok is false when the deadlines are
// missing (no session, or not one of the store's). With values, the
// record gets the session's values: copies when copyValues (h is shared,
// as a client-side cache entry is), otherwise the bytes of h themselves
// (rueidis read each into memory of its own, which nothing else holds
// once h is dropped).
func parseHash(h map[string]string, values, copyValues bool) (rec session.Record, md meta, ok bool) {
	if values {
		rec.Values = make(map[string][]byte, max(len(h)-metaFields, 0))
	}
	hasA, hasI := false, false
	for f, v := range h {
		if len(f) >= len(valuePrefix) && f[:len(valuePrefix)] == valuePrefix {
			if values {
				if copyValues || v == "" {
					rec.Values[f[len(valuePrefix):]] = []byte(v)
				} else {
					// The string's own bytes, as rueidis's AsBytes gives
					// them: nothing else holds them once h is dropped.
					rec.Values[f[len(valuePrefix):]] = unsafe.Slice(unsafe.StringData(v), len(v))
				}
			}
			continue
		}
		switch f {
		case fieldCreated:
			md.created, _ = strconv.ParseInt(v, 10, 64)
		case fieldAbsolute:
			md.absolute, _ = strconv.ParseInt(v, 10, 64)
			hasA = true
		case fieldIdle:
			md.idle, _ = strconv.ParseInt(v, 10, 64)
			hasI = true
		case fieldSeen:
			md.seen, _ = strconv.ParseInt(v, 10, 64)
		case fieldUser:
			rec.User = v
		case fieldUserAgent:
			rec.UserAgent = v
		case fieldRemember:
			rec.Remember = v == "1"
		}
	}
	rec.Created = time.UnixMilli(md.created)
	rec.LastSeen = time.UnixMilli(md.seen)
	rec.Expires = time.UnixMilli(min(md.idle, md.absolute))
	return rec, md, hasA && hasI
}

// cacheRead reports one Load that asked the client-side cache.
func (s *Store) cacheRead(hit bool) {
	if s.onCache != nil {
		s.onCache(hit)
	}
}

// isOOM reports whether err is Redis refusing a write at maxmemory.
func isOOM(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "OOM ")
}
