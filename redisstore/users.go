package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/session"
)

// A user's sessions are indexed in a sorted set at Prefix+"user:{"+user+"}"
// (its own slot), scored by the time each joined (Redis clock, ms). The
// index lives at least as long as its newest session can. Entries of
// sessions that expired, were destroyed or were bound to another user
// since are pruned lazily by UserSessions and DestroyUser, once they are
// pruneGrace old.

// pruneGrace is how long an index entry whose session cannot be found is
// kept anyway: in Cluster the index and the session live on different
// nodes, so the entry of a session being created may land first.
const pruneGrace = time.Minute

// maxHops bounds how many renewals a revocation follows in Cluster, where
// it follows them one round trip at a time (a renewal there takes two).
const maxHops = 64

var (
	errUserMoved = errors.New("the session's user changed during the call")
	errShape     = errors.New("unexpected reply")
)

// end is one session a revocation reached: its key, and its user ("" when
// there was nothing to destroy there, or the session was another user's).
type end struct {
	key, user string
	live      bool // a live session was destroyed
}

// revoke destroys the sessions at keys (only those bound to user, unless
// user is ""), following every key that a renewal moved, and returns what
// it found at each key it reached. With Options.WaitReplicas, each
// deletion is followed by a WAIT.
func (s *Store) revoke(ctx context.Context, cn *conn, keys []string, user string) ([]end, error) {
	follow := s.prefix // standalone and Sentinel: the script follows
	if cn.cluster {
		follow = ""
	}
	var out []end
	var waitErr error
	seen := make(map[string]bool, len(keys))
	for hop := 0; len(keys) > 0; hop++ {
		if hop == maxHops {
			return out, fmt.Errorf("more than %d renewals to follow", maxHops)
		}
		res := make([]rueidis.RedisResult, len(keys))
		if s.wait.n > 0 {
			// Every deletion is made; the first wait that fell short is
			// the error.
			for i, k := range keys {
				r := s.withWait(ctx, cn, s.destroyCall(k, user, follow))
				if err := s.wait.check(r); err != nil && waitErr == nil {
					waitErr = err
				}
				res[i] = r[0]
			}
		} else {
			calls := make([]call, len(keys))
			for i, k := range keys {
				calls[i] = s.destroyCall(k, user, follow)
			}
			res = pipeline(ctx, cn.r, calls...)
		}
		var next []string
		for i, k := range keys {
			seen[k] = true
			r, err := parseReply(res[i], 2)
			if err != nil {
				return out, err
			}
			switch r.code() {
			case 1:
				out = append(out, end{key: k, user: r.str(1), live: true})
			case 2:
				if to := r.str(1); !seen[to] {
					next = append(next, to)
				}
				out = append(out, end{key: k})
			default:
				out = append(out, end{key: k})
			}
		}
		keys = next
	}
	return out, waitErr
}

func (s *Store) destroyCall(key, user, follow string) call {
	return call{s: scriptDestroy, keys: []string{s.sessionKey(key), s.markerKey(key)},
		args: []string{ms(markerTTL), user, follow}}
}

// member is one entry of a user's index, with its session's metadata when
// the session is live and bound to the user.
type member struct {
	key  string
	live bool
	rec  session.Record
}

// members reads user's index and the metadata of each session in it: one
// ZRANGE, then one pipeline of HGETs of the metadata field.
func (s *Store) members(ctx context.Context, cn *conn, user string) ([]member, error) {
	keys, err := cn.r.Do(ctx, cn.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	calls := make([]call, len(keys))
	for i, k := range keys {
		sk := s.sessionKey(k)
		calls[i] = call{build: func(b rueidis.Builder) rueidis.Completed {
			return b.Hget().Key(sk).Field(redislayout.MetaField).Build()
		}}
	}
	out := make([]member, len(keys))
	for i, r := range pipeline(ctx, cn.r, calls...) {
		out[i].key = keys[i]
		v, err := r.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		md, err := redislayout.ParseMeta(v)
		if err != nil {
			s.unknownLayout(err)
			continue
		}
		out[i].live = md.User == user
		out[i].rec = session.Record{User: md.User, UserAgent: md.UserAgent, Remember: md.Remember,
			Created: time.UnixMilli(md.Created), LastSeen: time.UnixMilli(md.Seen), Expires: time.UnixMilli(md.Idle)}
	}
	return out, nil
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
	cn, err := s.use()
	if err != nil {
		return nil, err
	}
	ms, err := s.members(ctx, cn, user)
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
		_ = pipeline(ctx, cn.r, s.pruneCall(user, dead))
	}
	return list, nil
}

// PruneUser removes from user's index the entries of sessions that
// expired, were destroyed or are bound to another user, once they are a
// minute old (younger ones may belong to a session being created), and
// returns how many it removed and how many entries it checked. It is
// what UserSessions does on the way; cmd/sessionctl prune calls it for
// every index.
func (s *Store) PruneUser(ctx context.Context, user string) (removed, checked int, err error) {
	cn, err := s.use()
	if err != nil {
		return 0, 0, err
	}
	ms, err := s.members(ctx, cn, user)
	if err != nil {
		return 0, 0, opError("PruneUser", err)
	}
	var dead []string
	for _, m := range ms {
		if !m.live {
			dead = append(dead, m.key)
		}
	}
	if len(dead) == 0 {
		return 0, len(ms), nil
	}
	n, err := pipeline(ctx, cn.r, s.pruneCall(user, dead))[0].AsInt64()
	if err != nil {
		return 0, len(ms), opError("PruneUser", err)
	}
	return int(n), len(ms), nil
}

// DestroyUser implements [session.UserIndex.DestroyUser]: it reads the
// user's index, destroys in one pipeline every session in it still bound
// to the user, following those that a renewal moved meanwhile (see
// renew), then removes those entries: three round trips, more in Cluster
// for each renewal it follows. Every session of the user that was live or
// being renewed when it began is dead when it returns; one created
// meanwhile may survive. The session under keep, if any, is spared.
func (s *Store) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	cn, err := s.use()
	if err != nil {
		return 0, err
	}
	keys, err := cn.r.Do(ctx, cn.r.B().Zrange().Key(s.userKey(user)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return 0, opError("DestroyUser", err)
	}
	if keep != "" {
		for i, k := range keys {
			if k == keep {
				keys = append(keys[:i], keys[i+1:]...)
				break
			}
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	ends, err := s.revoke(ctx, cn, keys, user)
	for _, e := range ends {
		s.wrote(e.key)
	}
	n := 0
	var gone, dead []string
	for _, e := range ends {
		if e.live {
			n++
			gone = append(gone, e.key)
		} else {
			dead = append(dead, e.key)
		}
	}
	if err != nil {
		return n, opError("DestroyUser", err)
	}
	var after []call
	if len(gone) > 0 {
		after = append(after, s.indexRemoveCall(user, gone...))
	}
	if len(dead) > 0 {
		after = append(after, s.pruneCall(user, dead))
	}
	for _, r := range pipeline(ctx, cn.r, after...) {
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
