package redisstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/session"
)

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
// ZRANGE, then one pipeline of read-only script calls).
func (s *Store) members(ctx context.Context, user string) ([]member, error) {
	uk := s.userKey(user)
	keys, err := s.r.Do(ctx, s.r.B().Zrange().Key(uk).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		calls[i] = call{s: scriptMeta, keys: []string{s.sessionKey(k)}}
	}
	out := make([]member, len(keys))
	for i, r := range pipeline(ctx, s.r, calls...) {
		out[i].key = keys[i]
		m, err := r.ToArray()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rec, ok := parseMeta(m)
		out[i].live = ok && rec.User == user
		out[i].rec = rec
	}
	return out, nil
}

// parseMeta decodes the reply of the meta script: created, absolute,
// idle, seen, user, user agent (absent fields come back nil or false).
func parseMeta(m []rueidis.RedisMessage) (session.Record, bool) {
	if len(m) != 6 {
		return session.Record{}, false
	}
	str := func(i int) string {
		v, _ := m[i].ToString()
		return v
	}
	num := func(i int) int64 {
		n, _ := strconv.ParseInt(str(i), 10, 64)
		return n
	}
	rec := session.Record{
		User:      str(4),
		UserAgent: str(5),
		Created:   time.UnixMilli(num(0)),
		LastSeen:  time.UnixMilli(num(3)),
		Expires:   time.UnixMilli(min(num(1), num(2))),
	}
	return rec, true
}

// pruneCall is the script call that removes the dead keys from user's
// index, but only those added more than pruneGrace ago.
func (s *Store) pruneCall(user string, dead []string) call {
	args := make([]string, 0, 1+len(dead))
	args = append(args, ms(pruneGrace))
	args = append(args, dead...)
	return call{s: scriptPrune, keys: []string{s.userKey(user)}, args: args}
}

// UserSessions implements [session.Store.UserSessions]: it reads the
// user's index (a sorted set) and the metadata of every session in it in
// one pipeline, so it costs two round trips, plus one when it prunes
// entries whose session expired, was destroyed or is bound to another
// user now. Values are left out of the records. The list is in index
// order (oldest first).
func (s *Store) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	if err := s.check("UserSessions"); err != nil {
		return nil, err
	}
	ms, err := s.members(ctx, user)
	if err != nil {
		return nil, fail("UserSessions", err)
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

// destroyCalls are the script calls that delete the sessions under keys
// that are still bound to user.
func (s *Store) destroyCalls(user string, keys []string) []call {
	calls := make([]call, len(keys))
	for i, k := range keys {
		calls[i] = call{s: scriptDestroy, keys: []string{s.sessionKey(k)}, args: []string{user}}
	}
	return calls
}

// destroyKeys deletes the sessions under keys that are bound to user and
// removes them from its index; dead lists index entries to prune. It
// returns how many live sessions it destroyed.
func (s *Store) destroyKeys(ctx context.Context, user string, keys, dead []string) (int, error) {
	n := 0
	var gone []string
	if len(keys) > 0 {
		for i, r := range pipeline(ctx, s.r, s.destroyCalls(user, keys)...) {
			arr, err := r.ToArray()
			if rueidis.IsRedisNil(err) {
				dead = append(dead, keys[i])
				continue
			}
			if err != nil {
				return n, err
			}
			gone = append(gone, keys[i])
			if len(arr) == 2 {
				if live, _ := arr[1].AsInt64(); live == 1 {
					n++
				}
			}
		}
	}
	var calls []call
	if len(gone) > 0 {
		calls = append(calls, s.indexRemoveCall(user, gone...))
	}
	if len(dead) > 0 {
		calls = append(calls, s.pruneCall(user, dead))
	}
	for _, r := range pipeline(ctx, s.r, calls...) {
		if err := r.Error(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DestroyUser implements [session.Store.DestroyUser]: it reads the
// user's index, deletes in one pipeline every session in it that is still
// bound to the user, and removes those entries (three round trips). A
// session whose creation is in flight while DestroyUser runs may survive
// it.
func (s *Store) DestroyUser(ctx context.Context, user string) (int, error) {
	if err := s.check("DestroyUser"); err != nil {
		return 0, err
	}
	uk := s.userKey(user)
	keys, err := s.r.Do(ctx, s.r.B().Zrange().Key(uk).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return 0, fail("DestroyUser", err)
	}
	n, err := s.destroyKeys(ctx, user, keys, nil)
	if err != nil {
		return n, fail("DestroyUser", err)
	}
	return n, nil
}

// evict destroys the oldest live sessions of user other than keep until
// the user has at most MaxSessionsPerUser, and prunes dead entries.
func (s *Store) evict(ctx context.Context, user, keep string) error {
	ms, err := s.members(ctx, user)
	if err != nil {
		return err
	}
	var others []member
	var dead []string
	for _, m := range ms {
		switch {
		case m.key == keep:
		case m.live:
			others = append(others, m)
		default:
			dead = append(dead, m.key)
		}
	}
	excess := len(others) + 1 - s.max
	var victims []string
	if excess > 0 {
		slices.SortFunc(others, func(a, b member) int {
			return cmp.Or(a.rec.Created.Compare(b.rec.Created), cmp.Compare(a.key, b.key))
		})
		for _, m := range others[:excess] {
			victims = append(victims, m.key)
		}
	}
	_, err = s.destroyKeys(ctx, user, victims, dead)
	return err
}
