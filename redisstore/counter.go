package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/stickless/stickless/session"
)

// Incr implements [session.Counter.Incr] with HINCRBY inside a script
// (lua/incr.lua) that first checks the session is live, so it is atomic
// and never brings a session back, and undoes the increment when the
// result would pass the limits (only a new field or a longer number can).
// The field must hold a decimal integer (as the JSON of an int64 is);
// anything else, or a result past the int64 range, gives an error
// wrapping session.ErrNotInteger and leaves the field as it was.
func (s *Store) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	if err := s.check(); err != nil {
		return 0, false, err
	}
	a := s.args(lim)
	res := scriptIncr.run(ctx, s.r, []string{s.sessionKey(key)}, a.idle, valuePrefix+field, strconv.FormatInt(n, 10), a.maxSize, a.maxFields)
	arr, err := res.ToArray()
	if err != nil {
		return 0, false, opError("Incr", err)
	}
	if len(arr) != 2 {
		return 0, false, opError("Incr", fmt.Errorf("unexpected reply of %d elements", len(arr)))
	}
	code, _ := arr[0].AsInt64()
	msg, _ := arr[1].ToString()
	switch code {
	case 0:
		return 0, false, nil
	case -1, -2:
		return 0, true, tooLarge("Incr", code, lim)
	case -3:
		return 0, true, fmt.Errorf("redisstore: Incr: %s: %w", msg, session.ErrNotInteger)
	}
	v, err := strconv.ParseInt(msg, 10, 64)
	if err != nil {
		return 0, true, opError("Incr", err)
	}
	return v, true, nil
}

// CompareAndSwap implements [session.Counter.CompareAndSwap] in one script
// (lua/cas.lua) that checks the session is live, compares the stored bytes
// exactly and checks the limits before it swaps. The idle deadline slides
// whether or not the swap happens.
func (s *Store) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	if err := s.check(); err != nil {
		return false, false, err
	}
	a := s.args(lim)
	res := scriptCAS.run(ctx, s.r, []string{s.sessionKey(key)}, a.idle, valuePrefix+field, flag(old != nil),
		string(old), string(new), a.maxSize, a.maxFields)
	code, err := res.AsInt64()
	if err != nil {
		return false, false, opError("CompareAndSwap", err)
	}
	switch code {
	case 0:
		return false, false, nil
	case -1, -2:
		return false, true, tooLarge("CompareAndSwap", code, lim)
	}
	return code == 1, true, nil
}
