package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/session"
)

// A user's index is a sorted set of the keys of the user's sessions,
// scored by when each joined. Dead entries are pruned lazily once
// pruneGrace old: in Cluster an entry may land before its session.
const pruneGrace = time.Minute

// maxHops bounds how many renewals a revocation follows in Cluster, one
// round trip each (a renewal there takes two, so the revocation gains).
const maxHops = 64

var (
	errUserMoved = errors.New("the session's user changed during the call")
	errShape     = errors.New("unexpected reply")
)

// revoke destroys the sessions at keys (only those bound to user, unless
// ""), following every key that a renewal moved, but for keep, and
// returns the keys of the live sessions it destroyed, with their users,
// and the keys where it found nothing. With WaitReplicas, the first wait that fell short is the
// error, once every deletion is made.
func (s *Store) revoke(ctx context.Context, cn *conn, keys []string, user, keep string) (gone map[string]string, dead []string, err error) {
	follow := s.opts.Prefix // standalone and Sentinel: the script follows
	if cn.cluster {
		follow = ""
	}
	gone = map[string]string{}
	seen := map[string]bool{}
	for hop := 0; len(keys) > 0; hop++ {
		if hop == maxHops {
			return gone, dead, fmt.Errorf("more than %d renewals to follow", maxHops)
		}
		calls := make([]call, len(keys))
		for i, k := range keys {
			calls[i] = call{s: scriptDestroy, keys: []string{s.sessionKey(k), s.markerKey(k)}, args: []string{ms(markerTTL), user, follow, keep}}
		}
		var res []rueidis.RedisResult
		if s.wait.n == 0 {
			res = pipeline(ctx, cn.r, calls...)
		}
		for _, c := range calls[len(res):] { // each with its WAIT
			r := s.withWait(ctx, cn, c)
			if werr := s.wait.check(r); werr != nil && err == nil {
				err = werr
			}
			res = append(res, r[0])
		}
		var next []string
		for i, k := range keys {
			seen[k] = true
			s.wrote(k)
			r, perr := parseReply(res[i], 2)
			switch {
			case perr != nil:
				return gone, dead, perr
			case r.code() == 1:
				gone[k] = r.str(1)
			case r.code() == 2 && r.str(1) != keep && !seen[r.str(1)]:
				next = append(next, r.str(1))
				fallthrough
			default:
				dead = append(dead, k) // nothing there (for a grace, see pruneCall)
			}
		}
		keys = next
	}
	return gone, dead, err
}

// members reads user's index and the metadata of each session in it (one
// ZRANGE, then one pipeline of HGETs): the live sessions bound to the
// user, and the keys of the others.
func (s *Store) members(ctx context.Context, cn *conn, user string) (list []session.UserSession, dead []string, err error) {
	keys, err := cn.r.Do(ctx, cn.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil || len(keys) == 0 {
		return nil, nil, err
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		sk := s.sessionKey(k)
		calls[i] = call{build: func(b rueidis.Builder) rueidis.Completed {
			return b.Hget().Key(sk).Field(redislayout.MetaField).Build()
		}}
	}
	for i, r := range pipeline(ctx, cn.r, calls...) {
		v, err := r.ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return nil, nil, err
		}
		md, perr := redislayout.ParseMeta(v)
		if err != nil || perr != nil || md.User != user {
			dead = append(dead, keys[i])
			continue
		}
		list = append(list, session.UserSession{Key: keys[i], Record: session.Record{User: md.User, UserAgent: md.UserAgent,
			Remember: md.Remember, Created: time.UnixMilli(md.Created), LastSeen: time.UnixMilli(md.Seen), Expires: time.UnixMilli(md.Idle)}})
	}
	return list, dead, nil
}

// pruneCall is the script call that removes the dead keys from user's
// index, but only those added more than pruneGrace ago.
func (s *Store) pruneCall(user string, dead []string) call {
	return call{s: scriptPrune, keys: []string{s.userKey(user)}, args: append([]string{ms(pruneGrace)}, dead...)}
}

// UserSessions implements [session.UserIndex.UserSessions]: two round
// trips (the index, then the metadata of its sessions), plus one when it
// prunes the index. Values are left out of the records; the list is in
// index order (oldest first).
func (s *Store) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	cn, err := s.use()
	if err != nil {
		return nil, err
	}
	list, dead, err := s.members(ctx, cn, user)
	if err != nil {
		return nil, opError("UserSessions", err)
	}
	if len(dead) > 0 {
		// Housekeeping: the list is right without it, and a failure here
		// shows again at the next call.
		_ = pipeline(ctx, cn.r, s.pruneCall(user, dead))
	}
	return list, nil
}

// DestroyUser implements [session.UserIndex.DestroyUser]: it reads the
// user's index, destroys every session in it still bound to the user in
// one pipeline, following those that a renewal moved meanwhile, then
// removes their entries: three round trips (one more in Cluster for each
// renewal it follows). Every session of the user that was live or being
// renewed when it began is dead when it returns, except keep; one created
// meanwhile may survive.
func (s *Store) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	cn, err := s.use()
	if err != nil {
		return 0, err
	}
	keys, err := cn.r.Do(ctx, cn.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return 0, opError("DestroyUser", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == keep })
	if len(keys) == 0 {
		return 0, nil
	}
	gone, dead, err := s.revoke(ctx, cn, keys, user, keep)
	if err != nil {
		return len(gone), opError("DestroyUser", err)
	}
	var after []call
	if len(gone) > 0 {
		after = append(after, s.indexRemoveCall(user, slices.Collect(maps.Keys(gone))...))
	}
	if len(dead) > 0 {
		after = append(after, s.pruneCall(user, dead))
	}
	for _, r := range pipeline(ctx, cn.r, after...) {
		if err := r.Error(); err != nil {
			return len(gone), opError("DestroyUser", err)
		}
	}
	return len(gone), nil
}

// Live implements [session.Checker]: one EXISTS per key, in one pipeline
// (in Cluster, one per node), which slides nothing: a key that exists is
// a live session, since its expiry is its deadline.
func (s *Store) Live(ctx context.Context, keys []string) ([]bool, error) {
	cn, err := s.use()
	if err != nil {
		return nil, err
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		sk := s.sessionKey(k)
		calls[i] = call{build: func(b rueidis.Builder) rueidis.Completed { return b.Exists().Key(sk).Build() }}
	}
	out := make([]bool, len(keys))
	for i, r := range pipeline(ctx, cn.r, calls...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, opError("Live", err)
		}
		out[i] = n == 1
	}
	return out, nil
}
