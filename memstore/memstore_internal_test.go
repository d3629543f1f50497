package memstore

import (
	"context"
	"errors"
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

var lt = session.Lifetime{Idle: time.Minute, Absolute: time.Hour}

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
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if err := s.Create(ctx, k, session.Change{User: "u"}, lt); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, "long", session.Change{}, session.Lifetime{Idle: 2 * time.Hour, Absolute: 3 * time.Hour}); err != nil {
		t.Fatal(err)
	}
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
	if !errors.Is(err, ErrClosed) || !errors.Is(err, session.ErrStoreUnavailable) {
		t.Fatalf("Load after Close: err = %v, want ErrClosed wrapping ErrStoreUnavailable", err)
	}
	if err.Error() != "memstore: closed" {
		t.Errorf("error text = %q", err)
	}
}

func TestContextDone(t *testing.T) {
	s := newStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Create(ctx, "k", session.Change{}, lt)
	if !errors.Is(err, session.ErrStoreUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrStoreUnavailable and context.Canceled", err)
	}
}

func TestMaxSessionsPerUser(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{MaxSessionsPerUser: 2, Now: c.Now})
	ctx := context.Background()
	create := func(key, user string) {
		t.Helper()
		if err := s.Create(ctx, key, session.Change{User: user}, lt); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	keys := func(user string) map[string]bool {
		t.Helper()
		list, err := s.UserSessions(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, us := range list {
			m[us.Key] = true
		}
		return m
	}
	create("a1", "alice")
	create("a2", "alice")
	create("b1", "bob")
	create("a3", "alice") // evicts a1, the oldest
	if got := keys("alice"); len(got) != 2 || !got["a2"] || !got["a3"] {
		t.Fatalf("alice's sessions = %v, want a2 and a3", got)
	}
	if _, found, _ := s.Load(ctx, "a1", lt); found {
		t.Error("evicted session a1 still loads")
	}
	// Renewing a2 makes it the newest; binding an anonymous session then
	// evicts a3, now the oldest.
	if ok, err := s.Renew(ctx, "a2", "a2'", session.Change{User: "alice"}, lt); !ok || err != nil {
		t.Fatalf("Renew = %v, %v", ok, err)
	}
	c.Advance(time.Second)
	create("anon", "")
	if ok, err := s.Update(ctx, "anon", session.Change{SetUser: true, User: "alice"}, lt); !ok || err != nil {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if got := keys("alice"); len(got) != 2 || !got["a2'"] || !got["anon"] {
		t.Fatalf("alice's sessions = %v, want a2' and anon", got)
	}
	if got := keys("bob"); len(got) != 1 {
		t.Errorf("bob's sessions = %v, want b1 untouched", got)
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
			v, err := parseInt([]byte(tt.in))
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
	s.Create(ctx, "k", session.Change{Set: map[string][]byte{"n": []byte("9223372036854775807")}}, lt)
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
	in := []byte(`"x"`)
	s.Create(ctx, "k", session.Change{Set: map[string][]byte{"a": in}}, lt)
	in[1] = 'y' // the caller's slice is not kept
	rec, _, _ := s.Load(ctx, "k", lt)
	rec.Values["a"][1] = 'z'
	rec.Values["b"] = []byte("1")
	rec, _, _ = s.Load(ctx, "k", lt)
	if len(rec.Values) != 1 || string(rec.Values["a"]) != `"x"` {
		t.Fatalf("Values = %q, want a=\"x\" only", rec.Values)
	}
}

func TestExpiryFakeClock(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{Now: c.Now})
	ctx := context.Background()
	lt := session.Lifetime{Idle: 10 * time.Minute, Absolute: 30 * time.Minute}
	s.Create(ctx, "k", session.Change{}, lt)
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

// TestIndexInStep runs random operations on a few keys and users and checks
// after each that the user index matches the entries.
func TestIndexInStep(t *testing.T) {
	c := newClock()
	s := newStore(t, Options{MaxSessionsPerUser: 3, Now: c.Now})
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	users := []string{"", "u0", "u1", "u2"}
	short := session.Lifetime{Idle: 3 * time.Second, Absolute: 10 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	for i := range 5000 {
		key, user := pick(keys), pick(users)
		ch := session.Change{Set: map[string][]byte{"a": []byte("1")}, SetUser: rng.IntN(2) == 0, User: user}
		var err error
		switch op := rng.IntN(9); op {
		case 0, 1:
			err = s.Create(ctx, key, ch, short)
		case 2:
			_, err = s.Update(ctx, key, ch, short)
		case 3:
			_, err = s.Renew(ctx, key, pick(keys), ch, short)
		case 4:
			err = s.Destroy(ctx, key)
		case 5:
			_, err = s.DestroyUser(ctx, user)
		case 6:
			_, err = s.UserSessions(ctx, user)
		case 7:
			_, _, err = s.Load(ctx, key, short)
		case 8:
			s.deleteExpired()
		}
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Duration(rng.IntN(1000)) * time.Millisecond)
		checkIndex(t, s)
		s.mu.Lock()
		live := map[string]int{}
		for _, e := range s.entries {
			if e.user != "" && e.liveAt(c.Now()) {
				live[e.user]++
			}
		}
		s.mu.Unlock()
		for u, n := range live {
			if n > 3 {
				t.Errorf("user %s has %d live sessions, more than MaxSessionsPerUser 3", u, n)
			}
		}
		if t.Failed() {
			t.Fatalf("after operation %d", i)
		}
	}
}
