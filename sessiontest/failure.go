package sessiontest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// callTimeout bounds each call of the Break subtest, for stores whose
// backend hangs rather than refuses.
const callTimeout = 3 * time.Second

// calls runs every method of s on key with ctx and returns each one's
// error, by method name.
func calls(ctx context.Context, s session.Store, key, user string) map[string]error {
	ch := session.Change{Set: values("a", "2"), User: user}
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
	run("Create", func() error { return s.Create(ctx, newKey(), ch, long) })
	run("Update", func() error { _, err := s.Update(ctx, key, ch, long); return err })
	run("Renew", func() error { _, err := s.Renew(ctx, key, newKey(), ch, long); return err })
	run("Destroy", func() error { return s.Destroy(ctx, key) })
	run("Incr", func() error { _, _, err := s.Incr(ctx, key, "n", 1, long); return err })
	run("CompareAndSwap", func() error { _, _, err := s.CompareAndSwap(ctx, key, "c", nil, []byte("1"), long); return err })
	run("UserSessions", func() error { _, err := s.UserSessions(ctx, user); return err })
	run("DestroyUser", func() error { _, err := s.DestroyUser(ctx, user); return err })
	wg.Wait()
	return errs
}

// testContextDone checks that every method fails with
// ErrStoreUnavailable when its context is done, canceled or past its
// deadline.
func testContextDone(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	create(t, s, key, session.Change{Set: values("a", "1"), User: user}, long)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for name, ctx := range map[string]context.Context{"canceled": canceled, "past deadline": expired} {
		for method, err := range calls(ctx, s, key, user) {
			unavailable(t, method+" with a "+name+" context", err)
		}
	}
}

// testBreak checks that every method of a store that cannot answer fails
// with ErrStoreUnavailable.
func testBreak(t *testing.T, h Harness) {
	s := h.New(t)
	user, key := newUser(), newKey()
	create(t, s, key, session.Change{Set: values("a", "1"), User: user}, long)
	h.Break(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	for method, err := range calls(ctx, s, key, user) {
		unavailable(t, method+" on a broken store", err)
	}
}
