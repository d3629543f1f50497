package sessiontest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// callTimeout bounds each call of the Break subtest, for stores whose
// backend hangs rather than refuses.
const callTimeout = 3 * time.Second

// calls runs every method of s, and of the optional interfaces it
// implements, on key with ctx and returns each one's error, by method
// name.
func calls(ctx context.Context, s session.Store, key, user string) map[string]error {
	set := values("a", "2")
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	run := func(name string, f func() error) {
		wg.Go(func() {
			err := f()
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	run("Load", func() error { _, _, err := s.Load(ctx, key, long); return err })
	run("Save (create)", func() error {
		_, err := s.Save(ctx, session.Write{Create: true, Key: newKey(), Set: set, User: user, Limits: long})
		return err
	})
	run("Save (update)", func() error {
		_, err := s.Save(ctx, session.Write{Key: key, Set: set, Limits: long})
		return err
	})
	run("Save (renew)", func() error {
		_, err := s.Save(ctx, session.Write{Key: newKey(), From: key, Set: set, Limits: long})
		return err
	})
	run("Destroy", func() error { return s.Destroy(ctx, key) })
	if c, ok := s.(session.Counter); ok {
		run("Incr", func() error { _, _, err := c.Incr(ctx, key, "n", 1, long); return err })
		run("CompareAndSwap", func() error { _, _, err := c.CompareAndSwap(ctx, key, "c", nil, []byte("1"), long); return err })
	}
	if ix, ok := s.(session.UserIndex); ok {
		run("UserSessions", func() error { _, err := ix.UserSessions(ctx, user); return err })
		run("DestroyUser", func() error { _, err := ix.DestroyUser(ctx, user, ""); return err })
	}
	if c, ok := s.(session.Checker); ok {
		run("Live", func() error { _, err := c.Live(ctx, []string{key}); return err })
	}
	wg.Wait()
	return errs
}

// failed checks that err reports a store that could not answer: not nil,
// and not one of the errors that refuse one call.
func failed(t *testing.T, method string, err error) {
	t.Helper()
	if err == nil || errors.Is(err, session.ErrTooLarge) || errors.Is(err, session.ErrNotInteger) {
		t.Errorf("%s: err = %v, want the store's error", method, err)
	}
}

// testContextDone checks that every method fails when its context is
// done, canceled or past its deadline.
func testContextDone(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user})
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for name, ctx := range map[string]context.Context{"canceled": canceled, "past deadline": expired} {
		for method, err := range calls(ctx, s, key, user) {
			failed(t, method+" with a "+name+" context", err)
		}
	}
}

// testBreak checks that every method of a store that cannot answer
// fails.
func testBreak(t *testing.T, h Harness) {
	s := h.New(t)
	user, key := newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user})
	h.Break(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	for method, err := range calls(ctx, s, key, user) {
		failed(t, method+" on a broken store", err)
	}
}
