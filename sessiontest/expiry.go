package sessiontest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// The timing subtests assert one-sidedly. "Alive" is asserted only when the
// call ended well within the session's window, measured from the start of
// the call that last slid it; "dead" only when the call started well past
// the latest deadline the session could have. When a slow machine makes a
// check impossible, the subtest is skipped with a message.

// testIdleExpiry checks that a session unused for longer than its idle
// timeout is dead for every method, and leaves its user's index. Each
// method meets a dead session of its own first.
func testIdleExpiry(t *testing.T, s session.Store) {
	lt := session.Limits{Idle: 400 * time.Millisecond, Absolute: time.Hour}
	user, keep := newUser(), newKey()
	create(t, s, keep, session.Write{User: user})
	keys := make([]string, len(goneCalls))
	start := time.Now()
	for i := range keys {
		keys[i] = newKey()
		create(t, s, keys[i], session.Write{Set: values("a", "1"), User: user, Limits: lt})
	}
	time.Sleep(lt.Idle / 4)
	for _, key := range keys {
		_, found := loadLim(t, s, key, lt)
		end := time.Now()
		if !found {
			if end.Before(start.Add(lt.Idle - Slack)) {
				t.Fatalf("session dead %v after its creation began, within its idle timeout of %v", end.Sub(start), lt.Idle)
			}
			t.Skipf("machine too slow: a Load ended %v after Create began, past the idle timeout of %v", end.Sub(start), lt.Idle)
		}
	}
	sleepUntil(time.Now().Add(3 * lt.Idle))
	for i, key := range keys {
		mustBeGoneFrom(t, s, key, i)
	}
	wantUserKeys(t, s, user, keep)
}

// A touch uses the session under key (the k-th time) and reports whether
// it was live, or an error if the store failed or misbehaved.
type touch func(ctx context.Context, s session.Store, key string, lt session.Limits, k int) (bool, error)

// touches are the methods that must slide the idle deadline; needs names
// the optional interface a method belongs to.
var touches = []struct {
	name  string
	needs need
	touch touch
}{
	{"Load", 0, func(ctx context.Context, s session.Store, key string, lt session.Limits, _ int) (bool, error) {
		_, found, err := s.Load(ctx, key, lt)
		return found, err
	}},
	{"Save", 0, func(ctx context.Context, s session.Store, key string, lt session.Limits, k int) (bool, error) {
		return s.Save(ctx, session.Write{Key: key, Set: map[string]string{"k": strconv.Itoa(k)}, Limits: lt})
	}},
	{"Incr", needCounter, func(ctx context.Context, s session.Store, key string, lt session.Limits, k int) (bool, error) {
		v, found, err := s.(session.Counter).Incr(ctx, key, "n", 1, lt)
		if err == nil && found && v != int64(k+1) {
			err = fmt.Errorf("increment #%d of Incr gave %d, want %d", k+1, v, k+1)
		}
		return found, err
	}},
	{"CompareAndSwap", needCounter, func(ctx context.Context, s session.Store, key string, lt session.Limits, k int) (bool, error) {
		var old []byte
		if k > 0 {
			old = strconv.AppendInt(nil, int64(k-1), 10)
		}
		swapped, found, err := s.(session.Counter).CompareAndSwap(ctx, key, "c", old, []byte(strconv.Itoa(k)), lt)
		if err == nil && found && !swapped {
			err = fmt.Errorf("CompareAndSwap #%d did not swap", k+1)
		}
		return found, err
	}},
}

// testIdleSliding checks that each of Load, Save, Incr and CompareAndSwap
// (when the store implements session.Counter) slides the idle deadline: used every 300 ms, a session
// with an idle timeout of 1 s outlives it by far. The methods run at once,
// each on its own session, to keep the subtest short.
func testIdleSliding(t *testing.T, s session.Store) {
	skips := make([]string, len(touches))
	errs := make([]error, len(touches))
	var wg sync.WaitGroup
	for i, tc := range touches {
		if _, ok := s.(session.Counter); tc.needs&needCounter != 0 && !ok {
			skips[i] = "the store does not implement session.Counter"
			continue
		}
		wg.Go(func() { skips[i], errs[i] = slide(t.Context(), s, tc.touch) })
	}
	wg.Wait()
	skipped := 0
	for i, tc := range touches {
		if errs[i] != nil {
			t.Errorf("sliding with %s: %v", tc.name, errs[i])
		}
		if skips[i] != "" {
			t.Logf("sliding with %s not checked: %s", tc.name, skips[i])
			skipped++
		}
	}
	if skipped == len(touches) {
		t.Skip("machine too slow to check any sliding")
	}
}

// slide uses a new session with touch every 300 ms for 2.5 idle timeouts
// of 1 s. It returns why the check could not be made, or what went wrong.
func slide(ctx context.Context, s session.Store, touch touch) (skip string, err error) {
	lt := session.Limits{Idle: time.Second, Absolute: time.Hour}
	// gap exceeds the touch throttle a Load may have (a quarter of the
	// idle window), so that every touch slides.
	const gap = 300 * time.Millisecond
	key := newKey()
	prevStart := time.Now()
	if _, err := s.Save(ctx, session.Write{Create: true, Key: key, Limits: lt}); err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	createEnd := time.Now()
	shown := false // alive past the idle deadline given by Create
	for k := 0; time.Since(createEnd) < 5*lt.Idle/2; k++ {
		time.Sleep(gap)
		start := time.Now()
		alive, err := touch(ctx, s, key, lt, k)
		end := time.Now()
		if err != nil {
			return "", err
		}
		if !alive {
			if end.Before(prevStart.Add(lt.Idle - Slack)) {
				return "", fmt.Errorf("use #%d: session dead %v after the previous use began, within its idle timeout of %v", k+1, end.Sub(prevStart), lt.Idle)
			}
			return fmt.Sprintf("machine too slow: use #%d ended %v after the previous use began, past the idle timeout of %v", k+1, end.Sub(prevStart), lt.Idle), nil
		}
		if start.After(createEnd.Add(lt.Idle + Slack)) {
			shown = true
		}
		prevStart = start
	}
	if !shown {
		return "machine too slow: no use of the session came after its first idle deadline", nil
	}
	return "", nil
}

// testAbsoluteExpiry checks that a session in use dies at its absolute
// deadline.
func testAbsoluteExpiry(t *testing.T, s session.Store) {
	lt := session.Limits{Idle: 600 * time.Millisecond, Absolute: 1500 * time.Millisecond}
	const gap = 200 * time.Millisecond // above a quarter of lt.Idle
	user, key := newUser(), newKey()
	createStart := time.Now()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user, Limits: lt})
	createEnd := time.Now()
	extra := make([]string, len(goneCalls))
	for i := range extra {
		extra[i] = newKey()
		create(t, s, extra[i], session.Write{User: user, Limits: session.Limits{Idle: time.Hour, Absolute: lt.Absolute}})
	}
	extraEnd := time.Now()
	absolute := createEnd.Add(lt.Absolute + Slack) // no later deadline is possible
	prevStart := createStart
	pastIdle := false
	for k := 0; ; k++ {
		time.Sleep(gap)
		start := time.Now()
		rec, found := loadLim(t, s, key, lt)
		end := time.Now()
		if found {
			if start.After(absolute) {
				t.Fatalf("Load #%d: session alive %v after its creation ended, past its absolute timeout of %v", k+1, start.Sub(createEnd), lt.Absolute)
			}
			if rec.Expires.After(absolute) {
				t.Errorf("Load #%d: Expires = %v, past the absolute deadline %v", k+1, rec.Expires, absolute)
			}
			if start.After(createEnd.Add(lt.Idle + Slack)) {
				pastIdle = true
			}
			prevStart = start
			continue
		}
		if end.Before(createStart.Add(lt.Absolute-Slack)) && end.Before(prevStart.Add(lt.Idle-Slack)) {
			t.Fatalf("Load #%d: session dead %v after its creation began, within its lifetime", k+1, end.Sub(createStart))
		}
		if !start.After(createEnd.Add(lt.Absolute - Slack)) {
			t.Skipf("machine too slow: the session died of idleness (Load #%d ended %v after the previous began)", k+1, end.Sub(prevStart))
		}
		break
	}
	if !pastIdle {
		t.Skip("machine too slow: no use of the session came after its first idle deadline")
	}
	// Sessions never used after their creation die at the same absolute
	// deadline when their idle timeout is longer; each method meets one
	// of them first.
	sleepUntil(extraEnd.Add(lt.Absolute + Slack))
	for i, key := range extra {
		mustBeGoneFrom(t, s, key, i)
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
}

// sleepUntil sleeps until the clock reads t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
