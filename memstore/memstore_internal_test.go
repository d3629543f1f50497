package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// clock is a fake clock for Options.Now, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var lt = session.Limits{Idle: time.Minute, Absolute: time.Hour}

// create stores a new session under key with w's values and user, and
// limits lim.
func create(t *testing.T, s *Store, key string, w session.Write, lim session.Limits) {
	t.Helper()
	w.Create, w.Key, w.Limits = true, key, lim
	if _, err := s.Save(context.Background(), w); err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
}

func newStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	return s
}

// entryCount returns how many entries s holds, expired or not.
func entryCount(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func TestJanitorDeletesExpired(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{CleanupInterval: 5 * time.Millisecond, Now: c.Now})
	for _, k := range []string{"a", "b"} {
		create(t, s, k, session.Write{User: "u"}, lt)
	}
	create(t, s, "long", session.Write{}, session.Limits{Idle: 2 * time.Hour, Absolute: 3 * time.Hour})
	c.Advance(2 * time.Minute) // a and b are idle past their deadline
	deadline := time.Now().Add(10 * time.Second)
	for entryCount(s) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1", entryCount(s))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	_, longOK := s.entries["long"]
	users := len(s.users)
	s.mu.Unlock()
	if !longOK {
		t.Error("janitor deleted the live entry")
	}
	if users != 0 {
		t.Errorf("user index keeps %d users after their sessions expired, want 0", users)
	}
}

func TestCloseStopsJanitor(t *testing.T) {
	s := New(Options{CleanupInterval: time.Millisecond})
	if !waitJanitor(true) {
		t.Fatal("no janitor goroutine after New")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the janitor did")
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	// Other tests' stores run in parallel only if they call t.Parallel,
	// which none in this package does, so no janitor must remain.
	if !waitJanitor(false) {
		t.Error("a janitor goroutine is still running after Close")
	}
}

// waitJanitor waits up to 10 s for a janitor goroutine to be running (or
// not), and reports whether it came to that.
func waitJanitor(running bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if janitorRunning() == running {
			return true
		}
	}
	return false
}

func janitorRunning() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Contains(string(buf), "memstore.(*Store).janitor")
}

func TestClosed(t *testing.T) {
	s := New(Options{})
	s.Close()
	ctx := context.Background()
	_, _, err := s.Load(ctx, "k", lt)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: err = %v, want ErrClosed", err)
	}
	if err.Error() != "memstore: closed" {
		t.Errorf("error text = %q", err)
	}
}

func TestContextDone(t *testing.T) {
	s := newStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Save(ctx, session.Write{Create: true, Key: "k", Limits: lt})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"-7", -7, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{`"1"`, 0, false},
		{" 1", 0, false},
		{"true", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := parseInt(tt.in)
			if tt.ok != (err == nil) || v != tt.want {
				t.Fatalf("parseInt(%q) = %d, %v; want %d, ok=%v", tt.in, v, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, session.ErrNotInteger) {
				t.Fatalf("error %v does not wrap ErrNotInteger", err)
			}
		})
	}
}

func TestIncrOverflow(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	create(t, s, "k", session.Write{Set: map[string]string{"n": "9223372036854775807"}}, lt)
	_, found, err := s.Incr(ctx, "k", "n", 1, lt)
	if !found || !errors.Is(err, session.ErrNotInteger) {
		t.Fatalf("Incr past MaxInt64 = found %v, err %v; want an ErrNotInteger", found, err)
	}
	rec, _, _ := s.Load(ctx, "k", lt)
	if string(rec.Values["n"]) != "9223372036854775807" {
		t.Errorf("field changed to %s", rec.Values["n"])
	}
}

func TestLoadReturnsCopies(t *testing.T) {
	s := newStore(t, Options{})
	ctx := context.Background()
	create(t, s, "k", session.Write{Set: map[string]string{"a": `"x"`}}, lt)
	rec, _, _ := s.Load(ctx, "k", lt)
	rec.Values["a"] = `"z"`
	rec.Values["b"] = "1"
	rec, _, _ = s.Load(ctx, "k", lt)
	if len(rec.Values) != 1 || string(rec.Values["a"]) != `"x"` {
		t.Fatalf("Values = %q, want a=\"x\" only", rec.Values)
	}
}

func TestExpiryFakeClock(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{Now: c.Now})
	ctx := context.Background()
	lt := session.Limits{Idle: 10 * time.Minute, Absolute: 30 * time.Minute}
	create(t, s, "k", session.Write{}, lt)
	for range 5 { // 25 minutes of activity, every 5 minutes
		c.Advance(5 * time.Minute)
		if _, found, _ := s.Load(ctx, "k", lt); !found {
			t.Fatal("session died while in use before its absolute deadline")
		}
	}
	rec, _, _ := s.Load(ctx, "k", lt)
	if want := c.Now().Add(5 * time.Minute); !rec.Expires.Equal(want) {
		t.Errorf("Expires = %v, want the absolute deadline %v", rec.Expires, want)
	}
	c.Advance(5 * time.Minute)
	if _, found, _ := s.Load(ctx, "k", lt); found {
		t.Fatal("session alive at its absolute deadline")
	}
	if n := entryCount(s); n != 0 {
		t.Errorf("expired entry kept after Load: %d entries", n)
	}
}

// checkIndex checks that the user index and the entries agree exactly.
func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.entries {
		if _, ok := s.users[e.user][key]; e.user != "" && !ok {
			t.Fatalf("entry %s of user %q missing from the index", key, e.user)
		}
	}
	for user, keys := range s.users {
		if len(keys) == 0 {
			t.Fatalf("empty index set kept for user %q", user)
		}
		for key := range keys {
			if e := s.entries[key]; e == nil || e.user != user {
				t.Fatalf("index of %q lists %s, which is not its session", user, key)
			}
		}
	}
}

// checkEntries checks that each entry's size is the sum of its fields and
// that it is within lim.
func checkEntries(t *testing.T, s *Store, lim session.Limits) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.entries {
		var u session.Usage
		for k, v := range e.values {
			u = u.Change(k, "", false, v, true)
		}
		if u != e.use {
			t.Fatalf("entry %s: usage %+v kept, %+v in its values", key, e.use, u)
		}
		if !u.Within(lim) {
			t.Fatalf("entry %s: %+v, past the limits %+v", key, u, lim)
		}
	}
}

// TestIndexInStep runs random operations on a few keys and users and checks
// after each that the user index matches the entries, that every entry
// keeps its size right and within the limits, and that the store holds no
// more than MaxSessions entries.
func TestIndexInStep(t *testing.T) {
	const maxSessions = 6
	c := newClock()
	s := newStore(t, Options{MaxSessions: maxSessions, Now: c.Now})
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	users := []string{"", "u0", "u1", "u2"}
	fields := []string{"a", "b", "c", "d", "e"}
	vals := []string{"1", "22", `"abcdef"`, `"0123456789"`}
	lim := session.Limits{Idle: 10 * time.Second, Absolute: 30 * time.Second, MaxSize: 30, MaxFields: 3}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	counts := map[string]int{}
	for i := range 20000 {
		key, user := pick(keys), pick(users)
		w := session.Write{
			Key: key, Clear: rng.IntN(8) == 0, Set: map[string]string{}, BindUser: rng.IntN(2) == 0,
			User: user, UserAgent: "ua", Login: rng.IntN(4) == 0, Limits: lim,
		}
		for range rng.IntN(3) {
			w.Set[pick(fields)] = pick(vals)
		}
		for range rng.IntN(3) {
			w.Del = append(w.Del, pick(fields))
		}
		var err error
		op := rng.IntN(11)
		switch op {
		case 0, 1:
			w.Create = true
			_, err = s.Save(ctx, w)
		case 2, 3:
			_, err = s.Save(ctx, w)
		case 4:
			w.From = pick(keys)
			_, err = s.Save(ctx, w)
		case 5:
			err = s.Destroy(ctx, key)
		case 6:
			_, err = s.DestroyUser(ctx, user, pick(keys))
		case 7:
			_, err = s.UserSessions(ctx, user)
		case 8:
			_, _, err = s.Load(ctx, key, lim)
		case 9:
			if rng.IntN(2) == 0 {
				_, _, err = s.Incr(ctx, key, pick(fields), int64(rng.IntN(2000)-1000), lim)
			} else {
				_, _, err = s.CompareAndSwap(ctx, key, pick(fields), nil, []byte(pick(vals)), lim)
			}
		case 10:
			s.deleteExpired()
		}
		switch {
		case errors.Is(err, session.ErrTooLarge):
			counts["too large"]++
		case errors.Is(err, ErrFull):
			counts["full"]++
		case errors.Is(err, session.ErrNotInteger):
			counts["not an integer"]++
		case err != nil:
			t.Fatalf("operation %d (%d): %v", i, op, err)
		}
		c.Advance(time.Duration(rng.IntN(300)) * time.Millisecond)
		checkIndex(t, s)
		checkEntries(t, s, lim)
		if n := entryCount(s); n > maxSessions {
			t.Fatalf("after operation %d: %d entries, more than MaxSessions %d", i, n, maxSessions)
		}
	}
	// The random walk must have met each refusal, or it tests little.
	for _, what := range []string{"too large", "full", "not an integer"} {
		if counts[what] == 0 {
			t.Errorf("no operation was refused as %s", what)
		}
	}
	t.Logf("refusals: %v", counts)
}

func TestMaxSessionsDefault(t *testing.T) {
	s := newStore(t, Options{})
	if s.opts.MaxSessions != DefaultMaxSessions {
		t.Fatalf("MaxSessions = %d, want %d", s.opts.MaxSessions, DefaultMaxSessions)
	}
	s = newStore(t, Options{MaxSessions: -1})
	for i := range 10 {
		create(t, s, fmt.Sprint("k", i), session.Write{}, lt)
	}
	if n := entryCount(s); n != 10 {
		t.Fatalf("unbounded store holds %d entries, want 10", n)
	}
}

// TestMaxSessions checks the behaviour at the bound: a creation is refused
// with ErrFull and writes nothing, while the sessions held keep working;
// expired sessions make room.
func TestMaxSessions(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{MaxSessions: 3, Now: c.Now})
	ctx := context.Background()
	short := session.Limits{Idle: 10 * time.Second, Absolute: time.Hour}
	create(t, s, "a", session.Write{User: "alice"}, lt)
	create(t, s, "b", session.Write{}, lt)
	create(t, s, "c", session.Write{}, short)

	save := func(w session.Write) (bool, error) {
		t.Helper()
		w.Limits = lt
		return s.Save(ctx, w)
	}
	if _, err := save(session.Write{Create: true, Key: "d", User: "bob"}); !errors.Is(err, ErrFull) {
		t.Fatalf("creation past the bound: err = %v, want ErrFull", err)
	}
	if _, found, _ := s.Load(ctx, "d", lt); found {
		t.Fatal("a refused creation was stored")
	}
	if list, _ := s.UserSessions(ctx, "bob"); len(list) != 0 {
		t.Fatal("a refused creation was indexed")
	}
	// The sessions held keep working: updates, renewals, counters, a
	// creation over a key held, and destroys.
	for _, w := range []session.Write{
		{Key: "a", Set: map[string]string{"x": "1"}},
		{Key: "a2", From: "a", BindUser: true, User: "alice", Login: true},
		{Key: "b", Create: true, Set: map[string]string{"y": "2"}},
	} {
		if applied, err := save(w); !applied || err != nil {
			t.Fatalf("Save(%+v) at the bound = %v, %v; want true, nil", w, applied, err)
		}
	}
	if _, found, err := s.Incr(ctx, "b", "n", 1, lt); !found || err != nil {
		t.Fatalf("Incr at the bound: found %v, err %v", found, err)
	}
	if err := s.Destroy(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := save(session.Write{Create: true, Key: "d"}); err != nil {
		t.Fatalf("creation after a Destroy made room: %v", err)
	}

	// An expired session makes room, without waiting for the janitor.
	// The sweep at the bound runs at most once per sweepGap.
	if _, err := save(session.Write{Create: true, Key: "e"}); !errors.Is(err, ErrFull) {
		t.Fatalf("creation past the bound: err = %v, want ErrFull", err)
	}
	c.Advance(short.Idle) // c expires
	if _, err := save(session.Write{Create: true, Key: "e"}); err != nil {
		t.Fatalf("creation once a session expired: %v", err)
	}
	if n := entryCount(s); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
}

// TestMaxSessionsSweepGap checks that a full store sweeps expired sessions
// at most once per sweepGap, so that a flood of refused creations does not
// scan every session each time.
func TestMaxSessionsSweepGap(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{MaxSessions: 2, Now: c.Now})
	ctx := context.Background()
	create(t, s, "x", session.Write{}, session.Limits{Idle: sweepGap / 2, Absolute: time.Hour})
	create(t, s, "y", session.Write{}, lt)
	w := session.Write{Create: true, Key: "z", Limits: lt}
	if _, err := s.Save(ctx, w); !errors.Is(err, ErrFull) { // sweeps, in vain
		t.Fatalf("creation past the bound: err = %v, want ErrFull", err)
	}
	c.Advance(sweepGap * 3 / 4) // x expired, but the last sweep is recent
	if _, err := s.Save(ctx, w); !errors.Is(err, ErrFull) {
		t.Fatalf("creation within sweepGap of the last sweep: err = %v, want ErrFull", err)
	}
	c.Advance(sweepGap / 4)
	if _, err := s.Save(ctx, w); err != nil {
		t.Fatalf("creation a sweepGap after the last sweep: err = %v, want room made by x's expiry", err)
	}
}

// TestMaxSessionsLoginReserve checks that anonymous creations stop at nine
// tenths of MaxSessions, keeping the last tenth for logins.
func TestMaxSessionsLoginReserve(t *testing.T) {
	s := newStore(t, Options{MaxSessions: 20})
	ctx := context.Background()
	for i := range 18 {
		create(t, s, fmt.Sprint("anon", i), session.Write{}, lt)
	}
	if _, err := s.Save(ctx, session.Write{Create: true, Key: "anon18", Limits: lt}); !errors.Is(err, ErrFull) {
		t.Fatalf("anonymous creation past nine tenths: err = %v, want ErrFull", err)
	}
	create(t, s, "alice", session.Write{User: "alice"}, lt)
	create(t, s, "bob", session.Write{User: "bob"}, lt)
	if _, err := s.Save(ctx, session.Write{Create: true, Key: "carol", User: "carol", Limits: lt}); !errors.Is(err, ErrFull) {
		t.Fatalf("login past the bound: err = %v, want ErrFull", err)
	}
	if n := entryCount(s); n != 20 {
		t.Fatalf("%d entries, want 20", n)
	}
}
