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
//			Peer:  func(t *testing.T, s session.Store) session.Store { return s },
//			Break: func(t *testing.T, s session.Store) { s.(*memstore.Store).Close() },
//		})
//	}
//
// The suite checks the core contract of every store, and the contract of
// each optional interface, [session.Counter], [session.UserIndex] and
// [session.Checker], that the stores of Harness.New implement; the subtests of an interface a store
// does not implement are skipped with a message.
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
// window is one second. Save, Incr and CompareAndSwap must always slide.
// Times in records must be accurate to within [Slack].
//
// The limits of [session.Limits] are checked at their exact boundary for
// every write (creation, update, renewal, Incr, CompareAndSwap): a result
// at the limit is written, one byte or one field more is refused with an
// error wrapping session.ErrTooLarge and writes nothing. The ParallelLimits
// subtest sends 1,000 concurrent writes of 16 KiB to one session, through
// two instances of the store when Harness.Peer gives a second one, and
// checks that the limits held and no write that fitted was refused.
//
// The RevokeRacingRenewals subtest races a revocation (Destroy, and
// DestroyUser when the store implements session.UserIndex) against a
// session renewed in a loop, 200 times each, and checks that no key of
// the session is live once the revocation returned: a revocation follows
// a session to the key a renewal moved it to.
//
// The Model subtest makes a random sequence of calls on a few sessions
// and checks each answer, and every session after it, against a model of
// the contract; a failure reports the seed and the last calls.
//
// Where the contract leaves room, the suite holds a store to the reading
// the [session.Manager] relies on: Incr and CompareAndSwap slide the idle
// deadline like Save; a Save with BindUser and an empty User unbinds the
// session; a renewal keeps the session's user unless BindUser is set, and
// records the Write's UserAgent; Clear applies before Del, and Del before
// Set; Incr of a field that holds no integer answers with an error
// wrapping session.ErrNotInteger and leaves the field alone; a
// CompareAndSwap whose comparison fails changes nothing, and may answer
// ErrTooLarge or no error when its new value would not fit (the suite
// accepts both); a dead session is dead for every method, none of which brings it back or writes to its
// user index. Errors other than ErrTooLarge and ErrNotInteger are the
// store's own (the Manager wraps them in session.ErrStoreUnavailable): the
// suite checks only that a call that cannot answer returns one.
package sessiontest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"
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

	// Peer returns a second instance of the store s over the same backend,
	// as a second process would have (for Redis, another client of the
	// same server), and arranges with t.Cleanup to release it; a store
	// that lives in one process returns s. The ParallelLimits subtest
	// writes through both. Nil sends every write through s, with a
	// message.
	Peer func(t *testing.T, s session.Store) session.Store

	// Break makes s unable to answer: every later call must fail, at the
	// latest when its context is done (the suite gives each call a few
	// seconds). Closing the store, stopping or pausing (SIGSTOP) its
	// server all qualify. The Break subtest runs alone, after every other
	// subtest has ended, so it may take down a backend that New shares.
	// Nil skips that subtest with a message.
	Break func(t *testing.T, s session.Store)
}

// Run runs the conformance suite against the stores that h makes, as
// subtests of t. It fails t when a store breaks the contract of
// session.Store or of an optional interface it implements. Run must be
// called from a test's own goroutine.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("sessiontest: Harness.New is nil")
	}
	t.Run("Contract", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				s := h.New(t)
				needs(t, s, c.needs)
				c.run(t, s)
			})
		}
	})
	t.Run("ParallelLimits", func(t *testing.T) { testParallelLimits(t, h) })
	t.Run("RevokeRacingRenewals", func(t *testing.T) { testRevokeRacingRenewals(t, h) })
	t.Run("Break", func(t *testing.T) {
		if h.Break == nil {
			t.Skip("sessiontest: Harness.Break is nil: the unavailable-store subtest is skipped")
		}
		testBreak(t, h)
	})
}

// need names the optional interfaces a subtest needs.
type need uint8

const (
	needCounter need = 1 << iota
	needUserIndex
	needChecker
)

// needs skips t unless s implements what n names.
func needs(t *testing.T, s session.Store, n need) {
	t.Helper()
	if _, ok := s.(session.Counter); n&needCounter != 0 && !ok {
		t.Skip("the store does not implement session.Counter")
	}
	if _, ok := s.(session.UserIndex); n&needUserIndex != 0 && !ok {
		t.Skip("the store does not implement session.UserIndex")
	}
	if _, ok := s.(session.Checker); n&needChecker != 0 && !ok {
		t.Skip("the store does not implement session.Checker")
	}
}

// cases are the subtests that run in parallel.
var cases = []struct {
	name  string
	needs need
	run   func(t *testing.T, s session.Store)
}{
	{"CreateLoad", 0, testCreateLoad},
	{"LoadReturnsCopies", 0, testLoadReturnsCopies},
	{"LoadUnknown", 0, testLoadUnknown},
	{"UpdateWritesOnlyItsDelta", 0, testUpdateDelta},
	{"Clear", 0, testClear},
	{"BindUser", 0, testBindUser},
	{"ConcurrentUpdates", 0, testConcurrentUpdates},
	{"UpdateUnknown", 0, testUpdateUnknown},
	{"UpdateDestroyed", 0, testUpdateDestroyed},
	{"DestroyRacingUpdates", 0, testDestroyRacingUpdates},
	{"Renew", 0, testRenew},
	{"RenewKeepsUser", 0, testRenewKeepsUser},
	{"RenewLogin", 0, testRenewLogin},
	{"RenewKeepsAbsoluteDeadline", 0, testRenewKeepsAbsoluteDeadline},
	{"RenewUnknown", 0, testRenewUnknown},
	{"RenewWithCreate", 0, testRenewWithCreate},
	{"RenewRacingUpdates", 0, testRenewRacingUpdates},
	{"Destroy", 0, testDestroy},
	{"IdleExpiry", 0, testIdleExpiry},
	{"IdleSliding", 0, testIdleSliding},
	{"AbsoluteExpiry", 0, testAbsoluteExpiry},
	{"LimitsCreate", 0, testLimitsCreate},
	{"LimitsUpdate", 0, testLimitsUpdate},
	{"LimitsRenew", 0, testLimitsRenew},
	{"ContextDone", 0, testContextDone},
	{"Model", 0, testModel},
	{"Remember", 0, testRemember},
	{"Counter/Incr", needCounter, testIncr},
	{"Counter/IncrNotInteger", needCounter, testIncrNotInteger},
	{"Counter/ConcurrentIncr", needCounter, testConcurrentIncr},
	{"Counter/CompareAndSwap", needCounter, testCompareAndSwap},
	{"Counter/ConcurrentCompareAndSwap", needCounter, testConcurrentCAS},
	{"Counter/Limits", needCounter, testLimitsCounter},
	{"UserIndex/UserSessions", needUserIndex, testUserSessions},
	{"UserIndex/FollowsBindUser", needUserIndex, testUserIndexFollowsBindUser},
	{"UserIndex/LoginOfAnotherUser", needUserIndex, testLoginOfAnotherUser},
	{"UserIndex/DestroyUser", needUserIndex, testDestroyUser},
	{"UserIndex/DestroyUserKeep", needUserIndex, testDestroyUserKeep},
	{"Checker/Live", needChecker, testLive},
	{"Checker/LiveDoesNotSlide", needChecker, testLiveDoesNotSlide},
}

// long are limits that no subtest outlives, with no size limits.
var long = session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour}

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
func values(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// str returns a JSON string of n bytes, quotes included (n >= 2).
func str(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }

// withLimits returns w with the limits long when it has none.
func withLimits(w session.Write) session.Write {
	if w.Limits.Idle == 0 {
		w.Limits = long
	}
	return w
}

// create stores a new session under key with w's values, user and user
// agent (and w.Limits, or long), and fails t on an error.
func create(t *testing.T, s session.Store, key string, w session.Write) {
	t.Helper()
	w = withLimits(w)
	w.Create, w.Key, w.From = true, key, ""
	applied, err := s.Save(t.Context(), w)
	if err != nil {
		t.Fatalf("Save (create): %v", err)
	}
	if !applied {
		t.Fatal("Save (create) = false, want true")
	}
}

// update saves w as an update of key and returns whether it applied,
// failing t on an error.
func update(t *testing.T, s session.Store, key string, w session.Write) bool {
	t.Helper()
	w = withLimits(w)
	w.Create, w.Key, w.From = false, key, ""
	applied, err := s.Save(t.Context(), w)
	if err != nil {
		t.Fatalf("Save (update %+v): %v", w, err)
	}
	return applied
}

// mustUpdate is update that fails t unless w applied.
func mustUpdate(t *testing.T, s session.Store, key string, w session.Write) {
	t.Helper()
	if !update(t, s, key, w) {
		t.Fatalf("Save (update %+v) of a live session = false, want true", w)
	}
}

// renew saves w as a renewal of from to to and returns whether it
// applied, failing t on an error.
func renew(t *testing.T, s session.Store, from, to string, w session.Write) bool {
	t.Helper()
	w = withLimits(w)
	w.Create, w.Key, w.From = false, to, from
	applied, err := s.Save(t.Context(), w)
	if err != nil {
		t.Fatalf("Save (renew): %v", err)
	}
	return applied
}

// mustRenew is renew that fails t unless w applied.
func mustRenew(t *testing.T, s session.Store, from, to string, w session.Write) {
	t.Helper()
	if !renew(t, s, from, to, w) {
		t.Fatalf("Save (renew %s to %s) of a live session = false, want true", short(from), short(to))
	}
}

// load loads key with long and fails t on an error.
func load(t *testing.T, s session.Store, key string) (session.Record, bool) {
	t.Helper()
	return loadLim(t, s, key, long)
}

func loadLim(t *testing.T, s session.Store, key string, lim session.Limits) (session.Record, bool) {
	t.Helper()
	rec, found, err := s.Load(t.Context(), key, lim)
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
// deleted yet. The methods of an optional interface the store does not
// implement are left out.
func mustBeGoneFrom(t *testing.T, s session.Store, key string, first int) {
	t.Helper()
	ctx := t.Context()
	renewed, user := newKey(), newUser()
	c, _ := s.(session.Counter)
	for i := range goneCalls {
		switch name := goneCalls[(first+i)%len(goneCalls)]; name {
		case "Update":
			w := session.Write{Key: key, Set: values("resurrect", "1"), BindUser: true, User: user, Login: true, Limits: long}
			if applied, err := s.Save(ctx, w); err != nil || applied {
				t.Errorf("Save (update %s) = %v, %v; want false, nil", short(key), applied, err)
			}
		case "Incr":
			if c == nil {
				continue
			}
			if _, found, err := c.Incr(ctx, key, "resurrect-n", 1, long); err != nil || found {
				t.Errorf("Incr(%s): found = %v, err = %v; want false, nil", short(key), found, err)
			}
		case "CompareAndSwap":
			if c == nil {
				continue
			}
			if swapped, found, err := c.CompareAndSwap(ctx, key, "resurrect-c", nil, []byte("1"), long); err != nil || found || swapped {
				t.Errorf("CompareAndSwap(%s) = %v, %v, %v; want false, false, nil", short(key), swapped, found, err)
			}
		case "Renew":
			w := session.Write{Key: renewed, From: key, Set: values("resurrect-r", "1"), BindUser: true, User: user,
				UserAgent: "ua", Login: true, Limits: long}
			if applied, err := s.Save(ctx, w); err != nil || applied {
				t.Errorf("Save (renew %s) = %v, %v; want false, nil", short(key), applied, err)
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
	wantUserKeys(t, s, user)
}

// userKeys returns the keys that UserSessions lists for user, checking
// that every record names user. The store must implement UserIndex.
func userKeys(t *testing.T, s session.Store, user string) []string {
	t.Helper()
	list, err := s.(session.UserIndex).UserSessions(t.Context(), user)
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

// wantUserKeys checks that UserSessions lists exactly keys for user, if
// the store keeps a user index.
func wantUserKeys(t *testing.T, s session.Store, user string, keys ...string) {
	t.Helper()
	if _, ok := s.(session.UserIndex); !ok {
		return
	}
	got := userKeys(t, s, user)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		t.Errorf("UserSessions(%q) = %v, want %v", user, shorts(got), shorts(want))
	}
}

// wantValues checks that rec holds exactly want.
func wantValues(t *testing.T, rec session.Record, want map[string]string) {
	t.Helper()
	if !maps.Equal(rec.Values, want) {
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

// tooLarge checks that a write was refused for its limits.
func tooLarge(t *testing.T, what string, applied bool, err error) {
	t.Helper()
	if applied || !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("%s = %v, %v; want false and an error wrapping session.ErrTooLarge", what, applied, err)
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

func show(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		out[k] = v
	}
	return out
}
