// Package sessiontest checks a [session.Store] against its contract, the way
// testing/slogtest checks a slog.Handler. Every store runs it unchanged:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, sessiontest.Harness{
//			New: func(t *testing.T) session.Store {
//				s := memstore.New(memstore.Options{})
//				t.Cleanup(func() { s.Close() })
//				return s
//			},
//			Break: func(t *testing.T, s session.Store) { s.(*memstore.Store).Close() },
//		})
//	}
//
// The suite uses random keys (43 base64url characters, like real ones) and
// random user names, so the stores that Harness.New returns may share one
// backend, such as one Redis server or cluster: no subtest needs an empty
// store, and none sees another's data.
//
// Most subtests run in parallel; the whole suite takes a few seconds, most
// of it spent waiting for short idle and absolute timeouts (a second or
// less). Timing checks are one-sided and robust to a slow machine: a
// session must be alive when it was used well within its window, and dead
// well past it; a check that the machine was too slow to make is skipped
// with a message, never failed.
//
// A store may skip sliding the idle deadline on Load while less than a
// quarter of the idle window has passed since the last slide (its touch
// throttle); a longer throttle fails the sliding subtests, whose idle
// window is one second. Update, Incr and CompareAndSwap must always slide.
// Times in records must be accurate to within [Slack].
//
// Where the contract leaves room, the suite holds a store to the reading
// the [session.Manager] relies on: Incr and CompareAndSwap slide the idle
// deadline like Update; Update with SetUser and an empty User unbinds the
// session; Renew keeps the session's user when ch.User is empty and
// SetUser is false; Incr of a field that holds no integer answers with an
// error wrapping session.ErrNotInteger but not ErrStoreUnavailable, and
// leaves the field alone; a dead session is dead for every method, none
// of which brings it back or writes to its user index.
package sessiontest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// Slack is how far the times a store records (Created, LastSeen, Expires)
// may stray from the test's own clock readings around the call, to allow
// for stores that keep milliseconds or read the clock of a server on the
// same machine.
const Slack = 50 * time.Millisecond

// Harness tells [Run] how to get stores to test.
type Harness struct {
	// New returns a store for one subtest and arranges with t.Cleanup to
	// release it. Stores it returns may share a backend (see the package
	// documentation). It must not be nil.
	New func(t *testing.T) session.Store

	// Break makes s unable to answer: every later call must fail with an
	// error wrapping session.ErrStoreUnavailable, at the latest when its
	// context is done (the suite gives each call a few seconds). Closing
	// the store, stopping or pausing (SIGSTOP) its server all qualify.
	// The Break subtest runs alone, after every other subtest has ended,
	// so it may take down a backend that New shares. Nil skips that
	// subtest with a message.
	Break func(t *testing.T, s session.Store)
}

// Run runs the conformance suite against the stores that h makes, as
// subtests of t. It fails t when a store breaks the contract of
// session.Store. Run must be called from a test's own goroutine.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("sessiontest: Harness.New is nil")
	}
	t.Run("Contract", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, h.New(t))
			})
		}
	})
	t.Run("Break", func(t *testing.T) {
		if h.Break == nil {
			t.Skip("sessiontest: Harness.Break is nil: the unavailable-store subtest is skipped")
		}
		testBreak(t, h)
	})
}

// cases are the subtests that run in parallel.
var cases = []struct {
	name string
	run  func(t *testing.T, s session.Store)
}{
	{"CreateLoad", testCreateLoad},
	{"CreateCopiesValues", testCreateCopiesValues},
	{"LoadReturnsCopies", testLoadReturnsCopies},
	{"LoadUnknown", testLoadUnknown},
	{"UpdateWritesOnlyItsDelta", testUpdateDelta},
	{"ConcurrentUpdates", testConcurrentUpdates},
	{"UpdateUnknown", testUpdateUnknown},
	{"UpdateDestroyed", testUpdateDestroyed},
	{"DestroyRacingUpdates", testDestroyRacingUpdates},
	{"Renew", testRenew},
	{"RenewKeepsUser", testRenewKeepsUser},
	{"RenewResetsAbsolute", testRenewResetsAbsolute},
	{"RenewUnknown", testRenewUnknown},
	{"RenewRacingUpdates", testRenewRacingUpdates},
	{"Destroy", testDestroy},
	{"IdleExpiry", testIdleExpiry},
	{"IdleSliding", testIdleSliding},
	{"AbsoluteExpiry", testAbsoluteExpiry},
	{"Incr", testIncr},
	{"IncrNotInteger", testIncrNotInteger},
	{"ConcurrentIncr", testConcurrentIncr},
	{"CompareAndSwap", testCompareAndSwap},
	{"ConcurrentCompareAndSwap", testConcurrentCAS},
	{"UserSessions", testUserSessions},
	{"UserIndexFollowsSetUser", testUserIndexFollowsSetUser},
	{"DestroyUser", testDestroyUser},
	{"ContextDone", testContextDone},
}

// long is a lifetime that no subtest outlives.
var long = session.Lifetime{Idle: time.Hour, Absolute: 2 * time.Hour}

// newKey returns a random store key shaped like the session package's.
func newKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUser returns a random user id.
func newUser() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "sessiontest-" + hex.EncodeToString(b)
}

// values builds a Set map from field, JSON pairs.
func values(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func create(t *testing.T, s session.Store, key string, ch session.Change, lt session.Lifetime) {
	t.Helper()
	if err := s.Create(t.Context(), key, ch, lt); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

// load loads key with long and fails t on an error.
func load(t *testing.T, s session.Store, key string) (session.Record, bool) {
	t.Helper()
	return loadLT(t, s, key, long)
}

func loadLT(t *testing.T, s session.Store, key string, lt session.Lifetime) (session.Record, bool) {
	t.Helper()
	rec, found, err := s.Load(t.Context(), key, lt)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec, found
}

// mustLoad loads key and fails t if it is not found.
func mustLoad(t *testing.T, s session.Store, key string) session.Record {
	t.Helper()
	rec, found := load(t, s, key)
	if !found {
		t.Fatalf("Load(%s): not found, want a live session", short(key))
	}
	return rec
}

// mustBeGone checks that nothing is live under key any more, for any
// method, and that none of them brought it back.
func mustBeGone(t *testing.T, s session.Store, key string) {
	t.Helper()
	mustBeGoneFrom(t, s, key, 0)
}

// goneCalls are the methods mustBeGoneFrom tries, in turn.
var goneCalls = []string{"Update", "Incr", "CompareAndSwap", "Renew", "Load"}

// mustBeGoneFrom is mustBeGone with goneCalls[first] called first, so that
// each method in turn meets a session that died but may not have been
// deleted yet.
func mustBeGoneFrom(t *testing.T, s session.Store, key string, first int) {
	t.Helper()
	ctx := t.Context()
	renewed := newKey()
	for i := range goneCalls {
		switch name := goneCalls[(first+i)%len(goneCalls)]; name {
		case "Update":
			ch := session.Change{Set: values("resurrect", "1"), SetUser: true, User: newUser()}
			if applied, err := s.Update(ctx, key, ch, long); err != nil || applied {
				t.Errorf("Update(%s) = %v, %v; want false, nil", short(key), applied, err)
			}
		case "Incr":
			if _, found, err := s.Incr(ctx, key, "resurrect-n", 1, long); err != nil || found {
				t.Errorf("Incr(%s): found = %v, err = %v; want false, nil", short(key), found, err)
			}
		case "CompareAndSwap":
			if swapped, found, err := s.CompareAndSwap(ctx, key, "resurrect-c", nil, []byte("1"), long); err != nil || found || swapped {
				t.Errorf("CompareAndSwap(%s) = %v, %v, %v; want false, false, nil", short(key), swapped, found, err)
			}
		case "Renew":
			if applied, err := s.Renew(ctx, key, renewed, session.Change{Set: values("resurrect-r", "1")}, long); err != nil || applied {
				t.Errorf("Renew(%s) = %v, %v; want false, nil", short(key), applied, err)
			}
		case "Load":
			if _, found := load(t, s, key); found {
				t.Errorf("Load(%s): found, want not found", short(key))
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, k := range []string{key, renewed} {
		if _, found := load(t, s, k); found {
			t.Fatalf("Load(%s) after calls on a dead session: found, want not found", short(k))
		}
	}
}

// userKeys returns the keys that UserSessions lists for user, checking
// that every record names user.
func userKeys(t *testing.T, s session.Store, user string) []string {
	t.Helper()
	list, err := s.UserSessions(t.Context(), user)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	keys := make([]string, 0, len(list))
	for _, us := range list {
		if us.User != user {
			t.Errorf("UserSessions(%q) lists %s with User %q", user, short(us.Key), us.User)
		}
		keys = append(keys, us.Key)
	}
	slices.Sort(keys)
	if len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("UserSessions(%q) lists a key twice: %v", user, shorts(keys))
	}
	return keys
}

// wantUserKeys checks that UserSessions lists exactly keys for user.
func wantUserKeys(t *testing.T, s session.Store, user string, keys ...string) {
	t.Helper()
	got := userKeys(t, s, user)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		t.Errorf("UserSessions(%q) = %v, want %v", user, shorts(got), shorts(want))
	}
}

// wantValues checks that rec holds exactly want.
func wantValues(t *testing.T, rec session.Record, want map[string][]byte) {
	t.Helper()
	if !maps.EqualFunc(rec.Values, want, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("Values = %s, want %s", show(rec.Values), show(want))
	}
}

// within checks that got lies in [from-Slack, to+Slack].
func within(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Before(from.Add(-Slack)) || got.After(to.Add(Slack)) {
		t.Errorf("%s = %v, want between %v and %v", what, got, from, to)
	}
}

// unavailable checks that err wraps session.ErrStoreUnavailable.
func unavailable(t *testing.T, method string, err error) {
	t.Helper()
	if !errors.Is(err, session.ErrStoreUnavailable) {
		t.Errorf("%s: err = %v, want one wrapping session.ErrStoreUnavailable", method, err)
	}
}

func short(key string) string {
	if len(key) > 8 {
		return key[:8] + "…"
	}
	return key
}

func shorts(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = short(k)
	}
	return out
}

func show(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if len(v) > 40 {
			v = append(v[:37:37], "..."...)
		}
		out[k] = string(v)
	}
	return out
}
