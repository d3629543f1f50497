package redisstore

import (
	"cmp"
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/session"
)

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// change appends a write's values to args as the scripts take them: the
// number of pairs, the name/value pairs, then the names to delete.
func change(args []string, set map[string]string, del []string) []string {
	args = append(args, strconv.Itoa(len(set)))
	for k, v := range set {
		args = append(args, k, v)
	}
	return append(args, del...)
}

// updateArgs are the arguments of the update script (lua/update.lua) for
// w; est is the estimate of the Redis clock, "" to slide whatever it is.
// Every argument costs the script its conversion: what most writes do not
// need is packed into one.
func (s *Store) updateArgs(a *limitArgs, w session.Write, est string) []string {
	mode := ""
	if w.Clear || w.BindUser || w.Login {
		var f []byte
		for _, x := range []struct {
			on bool
			c  byte
		}{{w.Clear, 'c'}, {w.BindUser, 'b'}, {w.Login, 'l'}} {
			if x.on {
				f = append(f, x.c)
			}
		}
		mode = string(f) + "," + a.absolute + "," + w.User
	}
	args := make([]string, 0, 7+2*len(w.Set)+len(w.Del))
	args = append(args, a.idle, a.maxSize, a.maxFields, est, a.throttle, mode)
	return change(args, w.Set, w.Del)
}

// createArgs are the arguments of the create script (lua/create.lua).
// A put (the second half of a renewal in Cluster) keeps the login time
// and absolute deadline created and deadline, and names the Redis time of
// its take; a creation leaves the three "".
func createArgs(a *limitArgs, user, ua string, remember bool, wrap, created, deadline, took string, set map[string]string) []string {
	args := make([]string, 0, 13+2*len(set))
	args = append(args, a.idle, a.absolute, a.maxSize, a.maxFields, user, ua, flag(remember), wrap,
		created, deadline, took, ms(takeGrace))
	return change(args, set, nil)
}

// indexAddCall adds key to user's index, which outlives the absolute
// deadline by pruneGrace (in Cluster, set a round trip after the entry).
func (s *Store) indexAddCall(user, key string, a *limitArgs) call {
	return call{s: scriptIndexAdd, keys: []string{s.userKey(user)}, args: []string{key, ms(a.lim.Absolute + pruneGrace), strconv.FormatInt(s.clock.now(), 10)}}
}

// indexRemoveCall is the command that removes keys from user's index.
func (s *Store) indexRemoveCall(user string, keys ...string) call {
	uk := s.userKey(user)
	return call{build: func(b rueidis.Builder) rueidis.Completed {
		return b.Zrem().Key(uk).Member(keys...).Build().ToRetryable()
	}}
}

// Save implements [session.Store.Save]: a creation, an update, or a
// renewal (see renew), each one script call that checks the limits on the
// result, and for an update or renewal that the session is live, before
// it writes anything.
//
// A session bound to a user is in the user's index once Save returned
// nil: a creation adds the entry in the same round trip (a creation that
// fails is never seen: its token does not reach the client); an update
// that binds a user writes the entry first (two round trips). Entries
// left behind by a write that then failed are pruned later.
func (s *Store) Save(ctx context.Context, w session.Write) (bool, error) {
	cn, err := s.use()
	if err != nil {
		return false, err
	}
	a := s.args(w.Limits)
	defer s.wrote(w.Key, w.From)
	switch {
	case w.From != "":
		return s.renew(ctx, cn, a, w)
	case w.Create:
		calls := []call{{s: scriptCreate, keys: []string{s.sessionKey(w.Key), s.markerKey(w.Key)},
			args: createArgs(a, w.User, w.UserAgent, w.Remember, w.Wrap, "", "", "", w.Set)}}
		if w.User != "" {
			calls = append(calls, s.indexAddCall(w.User, w.Key, a))
		}
		sent := time.Now()
		res := pipeline(ctx, cn.r, calls...)
		if err := firstErr(res[1:]); err != nil {
			return false, opError("Save: user index", err)
		}
		return s.outcome("Save", res[0], 3, 2, sent, w.Limits)
	}
	if w.BindUser && w.User != "" {
		if err := firstErr(pipeline(ctx, cn.r, s.indexAddCall(w.User, w.Key, a))); err != nil {
			return false, opError("Save: user index", err)
		}
	}
	sent := time.Now()
	res := scriptUpdate.run(ctx, cn.r, []string{s.sessionKey(w.Key)}, s.updateArgs(a, w, strconv.FormatInt(s.clock.now(), 10))...)
	r, applied, err := s.reply("Save", res, 4, 3, sent, w.Limits)
	if applied && w.BindUser && r.str(1) != "" && r.str(1) != w.User {
		// Housekeeping: a stale entry is harmless (UserSessions and
		// DestroyUser check the session's user) and pruned later.
		_ = pipeline(ctx, cn.r, s.indexRemoveCall(r.str(1), w.Key))
	}
	return applied, err
}

// reply reads the reply of a write script, of at least n elements:
// applied for a positive code, the Redis time at index now fed to the
// clock estimate; not applied for 0; ErrTooLarge for -1 and -2.
func (s *Store) reply(op string, res rueidis.RedisResult, n, now int, sent time.Time, lim session.Limits) (reply, bool, error) {
	r, err := parseReply(res, n)
	switch {
	case err != nil:
		return nil, false, opError(op, err)
	case r.code() < 0:
		return r, false, tooLarge(op, r.code(), lim)
	case r.code() == 0:
		return r, false, nil
	}
	s.clock.observe(r.int(now), sent)
	return r, true, nil
}

func (s *Store) outcome(op string, res rueidis.RedisResult, n, now int, sent time.Time, lim session.Limits) (bool, error) {
	_, applied, err := s.reply(op, res, n, now, sent, lim)
	return applied, err
}

func firstErr(res []rueidis.RedisResult) error {
	for _, r := range res {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// renew is Save of a renewal. The old key dies and its marker points to
// the new key for markerTTL, so that a revocation racing the renewal
// follows it (see revoke). Where every key is on one server the renewal
// is one script (lua/renew.lua), index included. In Cluster one round
// trip takes the old session (lua/take.lua, after the limit check) and
// adds the new key to the index, a second puts it under the new key
// (lua/create.lua), which a revocation's marker there refuses; should
// Redis fail in between, the user logs in again. With WaitReplicas a WAIT
// follows the script that kills the old key. w.User is the session's user
// as the caller knows it (the user bound, with BindUser): the scripts
// find the index to change from it, and answer -5 with the right user
// when it is not, to be called again.
func (s *Store) renew(ctx context.Context, cn *conn, a *limitArgs, w session.Write) (bool, error) {
	was := w.User
	for range 2 {
		var args []string
		var res []rueidis.RedisResult
		if cn.cluster {
			args = append(args, a.maxSize, a.maxFields, flag(w.Clear), flag(w.BindUser), w.User, w.Key, ms(markerTTL))
			take := call{s: scriptTake, keys: []string{s.sessionKey(w.From), s.markerKey(w.From)}, args: change(args, w.Set, w.Del)}
			// The new key joins the index before the old key can die: a
			// revocation reading the index meanwhile finds one or the other.
			var idx []call
			if w.User != "" {
				idx = append(idx, s.indexAddCall(w.User, w.Key, a))
			}
			if s.wait.n > 0 {
				if err := firstErr(pipeline(ctx, cn.r, idx...)); err != nil {
					return false, opError("Save: renew: user index", err)
				}
				res = s.withWait(ctx, cn, take)
			} else if res = pipeline(ctx, cn.r, append([]call{take}, idx...)...); firstErr(res[1:]) != nil {
				return false, opError("Save: renew: user index", firstErr(res[1:]))
			}
		} else {
			args = append(args, a.idle, a.absolute, a.maxSize, a.maxFields, flag(w.Clear), flag(w.BindUser), w.User,
				w.UserAgent, flag(w.Login), flag(w.Remember), w.Wrap, ms(markerTTL), w.From, w.Key, s.opts.Prefix)
			res = s.withWait(ctx, cn, call{s: scriptRenew, args: change(args, w.Set, w.Del), keys: []string{
				s.sessionKey(w.From), s.markerKey(w.From), s.sessionKey(w.Key), s.userKey(was), s.userKey(w.User)}})
		}
		sent := time.Now()
		if r, err := parseReply(res[0], 2); err == nil && r.code() == -5 {
			if was = r.str(1); !w.BindUser {
				w.User = was
			}
			continue
		}
		if err := s.wait.check(res); err != nil {
			return false, opError("Save: renew", err)
		}
		if !cn.cluster {
			return s.outcome("Save: renew", res[0], 4, 3, sent, w.Limits)
		}
		if applied, err := s.outcome("Save: renew", res[0], 1, 1, sent, w.Limits); !applied {
			return false, err
		}
		return s.put(ctx, cn, a, w, res[0])
	}
	return false, opError("Save: renew", errUserMoved)
}

// put is the second half of a renewal in Cluster: the session that take
// answered, with the change applied, under the new key.
func (s *Store) put(ctx context.Context, cn *conn, a *limitArgs, w session.Write, taken rueidis.RedisResult) (bool, error) {
	r, err := parseReply(taken, 3)
	md, perr := redislayout.ParseMeta(r.str(2))
	if err = cmp.Or(err, perr); err != nil {
		return false, opError("Save: renew", err)
	}
	values := make(map[string]string, (len(r)-3)/2+len(w.Set))
	for j := 3; j+1 < len(r) && !w.Clear; j += 2 {
		values[r.str(j)] = r.str(j + 1)
	}
	for _, k := range w.Del {
		delete(values, k)
	}
	maps.Copy(values, w.Set)
	user := md.User
	if w.BindUser {
		user = w.User
	}
	created, deadline := strconv.FormatInt(md.Created, 10), strconv.FormatInt(md.Absolute, 10)
	if w.Login {
		created, deadline = "", ""
	}
	calls := []call{{s: scriptCreate, keys: []string{s.sessionKey(w.Key), s.markerKey(w.Key)},
		args: createArgs(a, user, w.UserAgent, w.Remember, w.Wrap, created, deadline, strconv.FormatInt(r.int(1), 10), values)}}
	if md.User != "" {
		calls = append(calls, s.indexRemoveCall(md.User, w.From))
	}
	sent := time.Now()
	// Not applied: revoked meanwhile, or past its absolute deadline.
	return s.outcome("Save: renew", pipeline(ctx, cn.r, calls...)[0], 3, 2, sent, w.Limits)
}

// Destroy implements [session.Store.Destroy]: the destroy script deletes
// the session (with Options.WaitReplicas, a WAIT follows on the same
// connection), following it to its new key when a renewal moved it; then
// the key leaves the user's index.
func (s *Store) Destroy(ctx context.Context, key string) error {
	cn, err := s.use()
	if err != nil {
		return err
	}
	gone, _, err := s.revoke(ctx, cn, []string{key}, "", "")
	if err != nil {
		return opError("Destroy", err)
	}
	var calls []call
	for k, user := range gone {
		if user != "" {
			calls = append(calls, s.indexRemoveCall(user, k))
		}
	}
	if err := firstErr(pipeline(ctx, cn.r, calls...)); err != nil {
		return opError("Destroy: user index", err)
	}
	return nil
}
