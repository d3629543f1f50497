package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/session"
)

// expiryMargin is how far past a session's deadline, by the estimate of
// the Redis clock, Load stops trusting a reply that holds the session and
// asks Redis (a slide, which only a live session passes): against a stale
// cache entry, or a reply of a copy of the data rather than the master.
const expiryMargin = time.Second

// redisClock estimates the Redis clock from this machine's, with the TIME
// read at connect and the time every script that reads the clock
// replies. It decides when a slide is due, never whether a session lives.
type redisClock struct {
	offset atomic.Int64 // Redis ms minus local ms
}

// observe records that Redis read its clock as redisMS during a call sent
// at sent (the midpoint estimate).
func (c *redisClock) observe(redisMS int64, sent time.Time) {
	if redisMS > 0 {
		c.offset.Store(redisMS - sent.UnixMilli() - time.Since(sent).Milliseconds()/2)
	}
}

func (c *redisClock) now() int64 { return time.Now().UnixMilli() + c.offset.Load() }

// Load implements [session.Store.Load]: one HGETALL (the key's expiry
// keeps dead sessions out), then a slide through the update script when
// the last is at least the touch throttle old or the reply looks stale.
// With Options.ClientCache the HGETALL is the client-side cache's, unless
// this process wrote the session within the last second (see recent).
func (s *Store) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	cn, err := s.use()
	if err != nil {
		return session.Record{}, false, err
	}
	sk := s.sessionKey(key)
	var res rueidis.RedisResult
	if s.opts.ClientCache && !s.recent.has(key) {
		res = cn.r.DoCache(ctx, cn.r.B().Hgetall().Key(sk).Cache(), max(lim.Idle, time.Millisecond))
	} else {
		res = cn.r.Do(ctx, cn.r.B().Hgetall().Key(sk).Build())
	}
	if s.opts.ClientCache && s.opts.OnCacheRead != nil {
		s.opts.OnCacheRead(res.IsCacheHit())
	}
	h, err := res.AsStrMap()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return session.Record{}, false, nil
		}
		return session.Record{}, false, opError("Load", err)
	}
	rec, md, ok := s.parse(h)
	if !ok {
		return session.Record{}, false, nil
	}
	a := s.args(lim)
	now, margin := s.clock.now(), expiryMargin.Milliseconds()
	// Ask Redis when the reply looks stale, or when the estimate of the
	// Redis clock is plainly wrong (before the last slide, which Redis
	// timed): the slide's reply corrects the estimate.
	stale := now >= md.Idle+margin || now < md.Seen-margin
	if !stale && now-md.Seen < a.throttleMS {
		return rec, true, nil
	}
	sent := time.Now()
	r, err := parseReply(scriptUpdate.run(ctx, cn.r, []string{sk}, s.updateArgs(a, session.Write{}, "")...), 5)
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
	s.wrote(key)
	if r.code() != 1 {
		return session.Record{}, false, nil
	}
	s.clock.observe(r.int(3), sent)
	rec.LastSeen = time.UnixMilli(r.int(2))
	rec.Expires = time.UnixMilli(r.int(4))
	return rec, true, nil
}

// parse decodes a session hash into a record whose Values are h itself,
// without the metadata; not ok for an empty hash, or one of a layout
// version this store cannot read (logged once).
func (s *Store) parse(h map[string]string) (rec session.Record, md redislayout.Meta, ok bool) {
	m, has := h[redislayout.MetaField]
	if !has {
		if len(h) > 0 {
			s.unknownLayout(errors.New("no metadata field: a session of the layout before versions"))
		}
		return rec, md, false
	}
	md, err := redislayout.ParseMeta(m)
	if err != nil {
		s.unknownLayout(err)
		return rec, md, false
	}
	delete(h, redislayout.MetaField)
	return session.Record{
		Values:    h,
		User:      md.User,
		UserAgent: md.UserAgent,
		Remember:  md.Remember,
		Wrap:      md.Wrap,
		Created:   time.UnixMilli(md.Created),
		LastSeen:  time.UnixMilli(md.Seen),
		Expires:   time.UnixMilli(md.Idle),
	}, md, true
}

// unknownLayout logs, once, a session of a layout this store cannot read.
func (s *Store) unknownLayout(err error) {
	s.oldOnce.Do(func() {
		s.opts.Logger.Warn("redisstore: a session stored in a layout this version cannot read is treated as missing (its user logs in again); logged once",
			"err", err)
	})
}

// isOOM reports whether err is Redis refusing a write at maxmemory.
func isOOM(err error) bool {
	var re *rueidis.RedisError
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM ")
}
