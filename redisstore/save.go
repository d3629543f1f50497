package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/session"
)

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// save returns the arguments of the save script (see lua/save.lua) for a
// write in mode ("c", "u" or "p") that sets set and deletes del.
func (a *limitArgs) save(mode string, w session.Write, bind bool, user, ua, created, deadline string, set map[string][]byte, del []string) []string {
	args := make([]string, 0, 14+2*len(set)+len(del))
	args = append(args, mode, a.idle, a.absolute, a.maxSize, a.maxFields, flag(w.Clear), flag(bind),
		user, ua, flag(w.Login), created, deadline, flag(w.Remember), strconv.Itoa(len(set)))
	for k, v := range set {
		// Copies: a call abandoned at its deadline may still be written
		// after we return, when the caller may reuse its buffers.
		args = append(args, valuePrefix+k, string(v))
	}
	for _, k := range del {
		args = append(args, valuePrefix+k)
	}
	return args
}

// saveReply is the reply of the save script.
type saveReply struct {
	code      int64
	user      string // the previous user of an update
	idle, now int64
}

// parseSave decodes a reply of the save script to a call sent at sent,
// and feeds the Redis time it carries to the clock estimate.
func (s *Store) parseSave(res rueidis.RedisResult, sent time.Time) (saveReply, error) {
	arr, err := res.ToArray()
	if err != nil {
		return saveReply{}, err
	}
	if len(arr) != 4 {
		return saveReply{}, fmt.Errorf("save script: unexpected reply of %d elements", len(arr))
	}
	var r saveReply
	r.code, _ = arr[0].AsInt64()
	r.user, _ = arr[1].ToString()
	r.idle, _ = arr[2].AsInt64()
	r.now, _ = arr[3].AsInt64()
	s.clock.observe(r.now, sent)
	return r, nil
}

// runSave runs the save script alone on the session at sk.
func (s *Store) runSave(ctx context.Context, sk string, args []string) (saveReply, error) {
	sent := time.Now()
	return s.parseSave(scriptSave.run(ctx, s.r, []string{sk}, args...), sent)
}

// indexAddCall is the script call that adds key to user's index.
func (s *Store) indexAddCall(user, key string, lim *limitArgs) call {
	return call{s: scriptIndexAdd, keys: []string{s.userKey(user)}, args: []string{key, lim.absolute}}
}

// indexRemoveCall is the command that removes keys from user's index.
func (s *Store) indexRemoveCall(user string, keys ...string) call {
	uk := s.userKey(user)
	return call{build: func(b rueidis.Builder) rueidis.Completed {
		return b.Zrem().Key(uk).Member(keys...).Build().ToRetryable()
	}}
}

// Save implements [session.Store.Save]. A creation or an update is one
// save script call (lua/save.lua), which checks the limits on the result
// and, for an update, that the session is live, before it writes
// anything. A renewal is two steps (see renew).
//
// The user index is written so that a session bound to a user is never
// outside the user's index once Save returned nil: a creation adds the
// index entry in the same round trip (a creation that fails is never
// seen: its token does not reach the client); an update that binds a user
// writes the entry first, then the session (two round trips). Entries
// left behind by a write that then failed are pruned later.
func (s *Store) Save(ctx context.Context, w session.Write) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if w.From != "" {
		return s.renew(ctx, w)
	}
	a := s.args(w.Limits)
	sk := s.sessionKey(w.Key)
	if w.Create {
		calls := []call{{s: scriptSave, keys: []string{sk},
			args: a.save("c", w, true, w.User, w.UserAgent, "", "", w.Set, nil)}}
		if w.User != "" {
			calls = append(calls, s.indexAddCall(w.User, w.Key, a))
		}
		sent := time.Now()
		res := pipeline(ctx, s.r, calls...)
		r, err := s.parseSave(res[0], sent)
		if err != nil {
			return false, opError("Save", err)
		}
		if r.code < 0 {
			return false, tooLarge("Save", r.code, w.Limits)
		}
		if len(res) > 1 {
			if err := res[1].Error(); err != nil {
				return false, opError("Save: user index", err)
			}
		}
		return true, nil
	}
	if w.BindUser && w.User != "" {
		if err := pipeline(ctx, s.r, s.indexAddCall(w.User, w.Key, a))[0].Error(); err != nil {
			return false, opError("Save: user index", err)
		}
	}
	r, err := s.runSave(ctx, sk, a.save("u", w, w.BindUser, w.User, "", "", "", w.Set, w.Del))
	if err != nil {
		return false, opError("Save", err)
	}
	switch {
	case r.code < 0:
		return false, tooLarge("Save", r.code, w.Limits)
	case r.code == 0:
		return false, nil
	}
	if w.BindUser && r.user != "" && r.user != w.User {
		// Housekeeping: a stale entry is harmless (UserSessions and
		// DestroyUser check the session's user) and pruned later.
		_ = pipeline(ctx, s.r, s.indexRemoveCall(r.user, w.Key))
	}
	return true, nil
}

// renew is Save of a renewal, without RENAME, which Cluster refuses
// across slots (the old and the new key are in different slots).
//
// First, the take script checks that the session with the change applied
// fits the limits and only then takes it whole and deletes it, atomically:
// from then on the old key is dead for reads and writes, and requests still
// carrying it find no session. A renewal that would not fit gets
// ErrTooLarge and leaves the old session as it was. With
// Options.WaitReplicas, a WAIT follows on the same connection.
//
// Then one pipeline puts the new session (the save script in put mode:
// the taken values with the change, the login time and absolute deadline
// kept unless w.Login) with its user's index entry, and removes the old
// key's entry. Should Redis fail between the two round trips, the session
// is lost (the user logs in again); nothing is ever left readable under
// the old key.
func (s *Store) renew(ctx context.Context, w session.Write) (bool, error) {
	a := s.args(w.Limits)
	osk := s.sessionKey(w.From)
	targs := make([]string, 0, 4+2*len(w.Set)+len(w.Del))
	targs = append(targs, a.maxSize, a.maxFields, flag(w.Clear), strconv.Itoa(len(w.Set)))
	for k, v := range w.Set {
		targs = append(targs, valuePrefix+k, string(v))
	}
	for _, k := range w.Del {
		targs = append(targs, valuePrefix+k)
	}
	calls := s.wait.after(call{s: scriptTake, keys: []string{osk}, args: targs}, osk)
	res := pipeline(ctx, s.r, calls...)
	arr, err := res[0].ToArray()
	if err != nil {
		return false, opError("Save: renew", err)
	}
	code, _ := arr[0].AsInt64()
	switch {
	case code < 0:
		return false, tooLarge("Save: renew", code, w.Limits)
	case code == 0:
		return false, nil
	}
	if err := s.wait.check(res); err != nil {
		return false, opError("Save: renew", err)
	}
	// Merge the change into the taken values.
	values := make(map[string][]byte, len(arr)/2+len(w.Set))
	var oldUser, created, deadline string
	for j := 1; j+1 < len(arr); j += 2 {
		f, _ := arr[j].ToString()
		if len(f) >= len(valuePrefix) && f[:len(valuePrefix)] == valuePrefix {
			if !w.Clear {
				values[f[len(valuePrefix):]], _ = arr[j+1].AsBytes()
			}
			continue
		}
		v, _ := arr[j+1].ToString()
		switch f {
		case fieldUser:
			oldUser = v
		case fieldCreated:
			created = v
		case fieldAbsolute:
			deadline = v
		}
	}
	for _, k := range w.Del {
		delete(values, k)
	}
	for k, v := range w.Set {
		values[k] = v
	}
	user := oldUser
	if w.BindUser {
		user = w.User
	}
	// The renewal records its own user agent and Remember, as a creation.
	ua := w.UserAgent
	put := w
	put.Clear = false
	var out []call
	if user != "" {
		out = append(out, s.indexAddCall(user, w.Key, a))
	}
	out = append(out, call{s: scriptSave, keys: []string{s.sessionKey(w.Key)},
		args: a.save("p", put, true, user, ua, created, deadline, values, nil)})
	if oldUser != "" {
		out = append(out, s.indexRemoveCall(oldUser, w.From))
	}
	sent := time.Now()
	res = pipeline(ctx, s.r, out...)
	i := 0
	if user != "" {
		if err := res[0].Error(); err != nil {
			return false, opError("Save: renew: user index", err)
		}
		i = 1
	}
	r, err := s.parseSave(res[i], sent)
	if err != nil {
		return false, opError("Save: renew", err)
	}
	switch {
	case r.code < 0:
		return false, tooLarge("Save: renew", r.code, w.Limits)
	case r.code == 0:
		return false, nil // past its absolute deadline meanwhile
	}
	return true, nil
}

// Destroy implements [session.Store.Destroy]: the destroy script deletes
// the hash and returns its user (with Options.WaitReplicas, a WAIT
// follows on the same connection), then the key leaves the user's index.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := s.check(); err != nil {
		return err
	}
	sk := s.sessionKey(key)
	res := pipeline(ctx, s.r, s.wait.after(call{s: scriptDestroy, keys: []string{sk}}, sk)...)
	arr, err := res[0].ToArray()
	if err != nil {
		return opError("Destroy", err)
	}
	if code, _ := arr[0].AsInt64(); code == 0 {
		return nil
	}
	if err := s.wait.check(res); err != nil {
		return opError("Destroy", err)
	}
	if user, _ := arr[1].ToString(); user != "" {
		if err := pipeline(ctx, s.r, s.indexRemoveCall(user, key))[0].Error(); err != nil {
			return opError("Destroy: user index", err)
		}
	}
	return nil
}
