package redisstore

import (
	"context"
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

// indexAddCall is the script call that adds key to user's index.
func (s *Store) indexAddCall(user, key string, a *limitArgs) call {
	return call{s: scriptIndexAdd, keys: []string{s.userKey(user)},
		args: []string{key, a.absolute, strconv.FormatInt(s.clock.now(), 10)}}
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
// The user index is written so that a session bound to a user is never
// outside the user's index once Save returned nil: a creation adds the
// index entry in the same round trip (a creation that fails is never
// seen: its token does not reach the client); an update that binds a user
// writes the entry first, then the session (two round trips). Entries
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
			args: createArgs(a, w.User, w.UserAgent, w.Remember, "", "", "", "", w.Set)}}
		if w.User != "" {
			calls = append(calls, s.indexAddCall(w.User, w.Key, a))
		}
		sent := time.Now()
		res := pipeline(ctx, cn.r, calls...)
		r, err := parseReply(res[0], 3)
		if err != nil {
			return false, opError("Save", err)
		}
		if r.code() < 0 {
			return false, tooLarge("Save", r.code(), w.Limits)
		}
		s.clock.observe(r.int(2), sent)
		if len(res) > 1 {
			if err := res[1].Error(); err != nil {
				return false, opError("Save: user index", err)
			}
		}
		return true, nil
	}
	if w.BindUser && w.User != "" {
		if err := pipeline(ctx, cn.r, s.indexAddCall(w.User, w.Key, a))[0].Error(); err != nil {
			return false, opError("Save: user index", err)
		}
	}
	sent := time.Now()
	r, err := parseReply(scriptUpdate.run(ctx, cn.r, []string{s.sessionKey(w.Key)},
		s.updateArgs(a, w, strconv.FormatInt(s.clock.now(), 10))...), 4)
	if err != nil {
		return false, opError("Save", err)
	}
	switch code := r.code(); {
	case code < 0:
		return false, tooLarge("Save", code, w.Limits)
	case code == 0:
		return false, nil
	}
	s.clock.observe(r.int(3), sent)
	if prev := r.str(1); w.BindUser && prev != "" && prev != w.User {
		// Housekeeping: a stale entry is harmless (UserSessions and
		// DestroyUser check the session's user) and pruned later.
		_ = pipeline(ctx, cn.r, s.indexRemoveCall(prev, w.Key))
	}
	return true, nil
}

// renew is Save of a renewal. The old key dies for reads and writes, and
// its marker points to the new key for a minute (markerTTL), so that a
// revocation of the old key that races the renewal follows it and ends
// the session under its new key too.
//
// Where every key is on one server (standalone, Sentinel) the renewal is
// one script (lua/renew.lua), which moves the session and its index entry
// at once. In Cluster the old and the new key are in different slots: one
// round trip takes the old session (lua/take.lua: checked against the
// limits first, so a renewal too large keeps the old session) and adds
// the new key to the user's index, a second puts the session under the
// new key (lua/create.lua) and removes the old key from the index. A
// revocation that finds the new key in the index, or follows the marker,
// before the put leaves a marker there that the put refuses; should Redis
// fail between the two round trips, the session is lost (the user logs in
// again). With Options.WaitReplicas, a WAIT follows the script that kills
// the old key, on the same connection.
//
// w.User names the session's user as the caller knows it (the user
// bound, with BindUser): the script finds the index it must change from
// it, and when the session turns out bound to another user, the call is
// made again with that user's index.
func (s *Store) renew(ctx context.Context, cn *conn, a *limitArgs, w session.Write) (bool, error) {
	if cn.cluster {
		return s.renewApart(ctx, cn, a, w)
	}
	was := w.User
	for range 2 {
		args := make([]string, 0, 16+2*len(w.Set)+len(w.Del))
		args = append(args, a.idle, a.absolute, a.maxSize, a.maxFields, flag(w.Clear), flag(w.BindUser), w.User,
			w.UserAgent, flag(w.Login), flag(w.Remember), "", ms(markerTTL), w.From, w.Key, s.prefix)
		args = change(args, w.Set, w.Del)
		c := call{s: scriptRenew, args: args, keys: []string{s.sessionKey(w.From), s.markerKey(w.From),
			s.sessionKey(w.Key), s.userKey(was), s.userKey(w.User)}}
		sent := time.Now()
		res := s.withWait(ctx, cn, c)
		r, err := parseReply(res[0], 4)
		if err != nil {
			return false, opError("Save: renew", err)
		}
		switch code := r.code(); {
		case code == -5:
			was = r.str(1)
			if !w.BindUser {
				w.User = was
			}
			continue
		case code < 0:
			return false, tooLarge("Save: renew", code, w.Limits)
		case code == 0:
			return false, nil
		}
		s.clock.observe(r.int(3), sent)
		if err := s.wait.check(res); err != nil {
			return false, opError("Save: renew", err)
		}
		return true, nil
	}
	return false, opError("Save: renew", errUserMoved)
}

// renewApart is renew in Cluster: take, then put.
func (s *Store) renewApart(ctx context.Context, cn *conn, a *limitArgs, w session.Write) (bool, error) {
	var r reply
	for try := 0; ; try++ {
		args := make([]string, 0, 8+2*len(w.Set)+len(w.Del))
		args = append(args, a.maxSize, a.maxFields, flag(w.Clear), flag(w.BindUser), w.User, w.Key, ms(markerTTL))
		args = change(args, w.Set, w.Del)
		take := call{s: scriptTake, keys: []string{s.sessionKey(w.From), s.markerKey(w.From)}, args: args}
		// The new key joins the index before the old key can die: a
		// revocation reading the index meanwhile finds one or the other.
		var idx []call
		if w.User != "" {
			idx = append(idx, s.indexAddCall(w.User, w.Key, a))
		}
		var res []rueidis.RedisResult
		if s.wait.n > 0 {
			for _, r := range pipeline(ctx, cn.r, idx...) {
				if err := r.Error(); err != nil {
					return false, opError("Save: renew: user index", err)
				}
			}
			res = s.withWait(ctx, cn, take)
		} else {
			res = pipeline(ctx, cn.r, append([]call{take}, idx...)...)
			if len(idx) > 0 {
				if err := res[1].Error(); err != nil {
					return false, opError("Save: renew: user index", err)
				}
			}
		}
		var err error
		if r, err = parseReply(res[0], 1); err != nil {
			return false, opError("Save: renew", err)
		}
		switch code := r.code(); {
		case code == -5 && try == 0 && !w.BindUser:
			w.User = r.str(1)
			continue
		case code == -5:
			return false, opError("Save: renew", errUserMoved)
		case code < 0:
			return false, tooLarge("Save: renew", code, w.Limits)
		case code == 0:
			return false, nil
		}
		if err := s.wait.check(res); err != nil {
			return false, opError("Save: renew", err)
		}
		break
	}
	if len(r) < 3 {
		return false, opError("Save: renew", errShape)
	}
	md, err := redislayout.ParseMeta(r.str(2))
	if err != nil {
		return false, opError("Save: renew", err)
	}
	// The values: the taken ones with the change applied.
	values := make(map[string]string, (len(r)-3)/2+len(w.Set))
	if !w.Clear {
		for j := 3; j+1 < len(r); j += 2 {
			values[r.str(j)] = r.str(j + 1)
		}
	}
	for _, k := range w.Del {
		delete(values, k)
	}
	for k, v := range w.Set {
		values[k] = v
	}
	user := md.User
	if w.BindUser {
		user = w.User
	}
	created, deadline := strconv.FormatInt(md.Created, 10), strconv.FormatInt(md.Absolute, 10)
	if w.Login {
		created, deadline = "", ""
	}
	out := []call{{s: scriptCreate, keys: []string{s.sessionKey(w.Key), s.markerKey(w.Key)},
		args: createArgs(a, user, w.UserAgent, w.Remember, "", created, deadline, strconv.FormatInt(r.int(1), 10), values)}}
	if md.User != "" {
		out = append(out, s.indexRemoveCall(md.User, w.From))
	}
	sent := time.Now()
	res := pipeline(ctx, cn.r, out...)
	p, err := parseReply(res[0], 3)
	if err != nil {
		return false, opError("Save: renew", err)
	}
	switch code := p.code(); {
	case code < 0:
		return false, tooLarge("Save: renew", code, w.Limits)
	case code == 0:
		return false, nil // revoked meanwhile, or past its absolute deadline
	}
	s.clock.observe(p.int(2), sent)
	return true, nil
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
	ends, err := s.revoke(ctx, cn, []string{key}, "")
	if err != nil {
		return opError("Destroy", err)
	}
	for _, e := range ends {
		s.wrote(e.key)
	}
	var calls []call
	for _, e := range ends {
		if e.user != "" {
			calls = append(calls, s.indexRemoveCall(e.user, e.key))
		}
	}
	for _, r := range pipeline(ctx, cn.r, calls...) {
		if err := r.Error(); err != nil {
			return opError("Destroy: user index", err)
		}
	}
	return nil
}
