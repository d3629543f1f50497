package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/session"
)

// A user's sessions are indexed in a sorted set at Prefix+"user:{"+user+"}"
// (its own slot), scored by the time each joined (Redis clock, ms). The
// index lives at least as long as its newest session can (index_add.lua
// extends its TTL). Entries of sessions that expired, were destroyed or
// were bound to another user since are pruned lazily by UserSessions and
// DestroyUser, once they are pruneGrace old.

// pruneGrace is how long an index entry whose session cannot be found is
// kept anyway: in Cluster the index and the session live on different
// nodes, so the entry of a session being created may land first.
const pruneGrace = time.Minute

// member is one entry of a user's index, with its session's metadata when
// the session is live and bound to the user.
type member struct {
	key  string
	live bool
	rec  session.Record
}

// members reads user's index and the metadata of each session in it (one
// ZRANGE, then one pipeline of HMGETs: Redis's expiry keeps dead sessions
// out, as for Load).
func (s *Store) members(ctx context.Context, user string) ([]member, error) {
	keys, err := s.r.Do(ctx, s.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		sk := s.sessionKey(k)
		calls[i] = call{build: func(b rueidis.Builder) rueidis.Completed {
			return b.Hmget().Key(sk).Field(fieldCreated, fieldAbsolute, fieldIdle, fieldSeen, fieldUser, fieldUserAgent, fieldRemember).Build()
		}}
	}
	out := make([]member, len(keys))
	for i, r := range pipeline(ctx, s.r, calls...) {
		out[i].key = keys[i]
		m, err := r.ToArray()
		if err != nil {
			return nil, err
		}
		rec, ok := parseMeta(m)
		// No clock check: the HMGET came from the master, which never
		// returns a key past its expiry (the idle deadline).
		out[i].live = ok && rec.User == user
		out[i].rec = rec
	}
	return out, nil
}

// parseMeta decodes the HMGET of members: created, absolute, idle, seen,
// user, user agent, remember (absent fields come back nil).
func parseMeta(m []rueidis.RedisMessage) (session.Record, bool) {
	if len(m) != 7 || m[1].IsNil() || m[2].IsNil() {
		return session.Record{}, false
	}
	num := func(i int) int64 {
		n, _ := m[i].AsInt64()
		return n
	}
	md := meta{created: num(0), absolute: num(1), idle: num(2), seen: num(3)}
	user, _ := m[4].ToString()
	ua, _ := m[5].ToString()
	r, _ := m[6].ToString()
	return session.Record{
		User:      user,
		UserAgent: ua,
		Remember:  r == "1",
		Created:   time.UnixMilli(md.created),
		LastSeen:  time.UnixMilli(md.seen),
		Expires:   time.UnixMilli(min(md.idle, md.absolute)),
	}, true
}

// pruneCall is the script call that removes the dead keys from user's
// index, but only those added more than pruneGrace ago.
func (s *Store) pruneCall(user string, dead []string) call {
	args := make([]string, 0, 1+len(dead))
	args = append(args, ms(pruneGrace))
	args = append(args, dead...)
	return call{s: scriptPrune, keys: []string{s.userKey(user)}, args: args}
}

// UserSessions implements [session.UserIndex.UserSessions]: it reads the
// user's index (a sorted set) and the metadata of every session in it in
// one pipeline, so it costs two round trips, plus one when it prunes
// entries whose session expired, was destroyed or is bound to another
// user now. Values are left out of the records. The list is in index
// order (oldest first).
func (s *Store) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ms, err := s.members(ctx, user)
	if err != nil {
		return nil, opError("UserSessions", err)
	}
	var list []session.UserSession
	var dead []string
	for _, m := range ms {
		if m.live {
			list = append(list, session.UserSession{Key: m.key, Record: m.rec})
		} else {
			dead = append(dead, m.key)
		}
	}
	if len(dead) > 0 {
		// Pruning is housekeeping: the list is right without it, and a
		// failure here shows again at the next call.
		_ = pipeline(ctx, s.r, s.pruneCall(user, dead))
	}
	return list, nil
}

// DestroyUser implements [session.UserIndex.DestroyUser]: it reads the
// user's index, deletes in one pipeline every session in it that is still
// bound to the user (with Options.WaitReplicas, each deletion followed by
// a WAIT on its connection), then removes those entries: three round
// trips. The session under keep is left alone. A session whose creation is
// in flight while DestroyUser runs may survive it.
func (s *Store) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	all, err := s.r.Do(ctx, s.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return 0, opError("DestroyUser", err)
	}
	keys := all[:0]
	for _, k := range all {
		if k != keep {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	var calls []call
	for _, k := range keys {
		sk := s.sessionKey(k)
		calls = append(calls, s.wait.after(call{s: scriptDestroy, keys: []string{sk}, args: []string{user}}, sk)...)
	}
	step := 1
	if s.wait.n > 0 {
		step = 2
	}
	res := pipeline(ctx, s.r, calls...)
	n := 0
	var gone, dead []string
	for i, k := range keys {
		arr, err := res[i*step].ToArray()
		if err != nil {
			return n, opError("DestroyUser", err)
		}
		switch code, _ := arr[0].AsInt64(); code {
		case 0:
			dead = append(dead, k)
		case 1:
			n++
			gone = append(gone, k)
		default:
			gone = append(gone, k)
		}
	}
	if err := s.wait.check(res); err != nil {
		return n, opError("DestroyUser", err)
	}
	var after []call
	if len(gone) > 0 {
		after = append(after, s.indexRemoveCall(user, gone...))
	}
	if len(dead) > 0 {
		after = append(after, s.pruneCall(user, dead))
	}
	for _, r := range pipeline(ctx, s.r, after...) {
		if err := r.Error(); err != nil {
			return n, opError("DestroyUser", err)
		}
	}
	return n, nil
}

// Live implements [session.Checker]: one EXISTS per key, in one pipeline
// (in Cluster, one per node), which slides nothing. Redis's own expiry
// of the keys makes a key that exists a live session.
func (s *Store) Live(ctx context.Context, keys []string) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		sk := s.sessionKey(k)
		calls[i] = call{build: func(b rueidis.Builder) rueidis.Completed { return b.Exists().Key(sk).Build() }}
	}
	out := make([]bool, len(keys))
	for i, r := range pipeline(ctx, s.r, calls...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, opError("Live", err)
		}
		out[i] = n == 1
	}
	return out, nil
}
