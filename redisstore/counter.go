package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stickless/stickless/session"
)

// Incr implements [session.Counter.Incr]: HINCRBY in a script
// (lua/incr.lua) that checks the session is live first, and undoes the
// increment past the limits. A field that holds no decimal integer, or a
// result past int64, gives session.ErrNotInteger and is left as it was.
func (s *Store) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	cn, err := s.use()
	if err != nil {
		return 0, false, err
	}
	a := s.args(lim)
	defer s.wrote(key)
	sent := time.Now()
	r, err := parseReply(scriptIncr.run(ctx, cn.r, []string{s.sessionKey(key)}, a.idle, field,
		strconv.FormatInt(n, 10), a.maxSize, a.maxFields, strconv.FormatInt(s.clock.now(), 10), a.throttle), 3)
	if err != nil {
		return 0, false, opError("Incr", err)
	}
	switch r.code() {
	case 0:
		return 0, false, nil
	case -1, -2:
		return 0, true, tooLarge("Incr", r.code(), lim)
	case -3:
		return 0, true, fmt.Errorf("redisstore: Incr: %s: %w", r.str(1), session.ErrNotInteger)
	}
	s.clock.observe(r.int(2), sent)
	v, err := strconv.ParseInt(r.str(1), 10, 64)
	if err != nil {
		return 0, true, opError("Incr", err)
	}
	return v, true, nil
}

// CompareAndSwap implements [session.Counter.CompareAndSwap] in one script
// (lua/cas.lua) that checks the session is live, compares the stored bytes
// exactly and checks the limits before it swaps.
func (s *Store) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	cn, err := s.use()
	if err != nil {
		return false, false, err
	}
	a := s.args(lim)
	defer s.wrote(key)
	sent := time.Now()
	r, applied, err := s.reply("CompareAndSwap", scriptCAS.run(ctx, cn.r, []string{s.sessionKey(key)}, a.idle, field,
		flag(old != nil), string(old), string(new), a.maxSize, a.maxFields, strconv.FormatInt(s.clock.now(), 10), a.throttle), 2, 1, sent, lim)
	return applied && r.code() == 1, applied || errors.Is(err, session.ErrTooLarge), err
}
