package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

var long = session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour}

// newKey returns a random key shaped like the session package's.
func newKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func vals(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// pairs turns an HGETALL reply into a map.
func pairs(r redistest.Reply) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(r.Elems); i += 2 {
		m[r.Elems[i].Str] = r.Elems[i+1].Str
	}
	return m
}

// metaOf reads the metadata of the session hash rk.
func metaOf(t testing.TB, srv *redistest.Server, rk string) redislayout.Meta {
	t.Helper()
	r := srv.DoOK(t, "HGET", rk, redislayout.MetaField)
	md, err := redislayout.ParseMeta(r.Str)
	if err != nil {
		t.Fatalf("metadata of %s: %v", rk, err)
	}
	return md
}

func TestLayout(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	// Every Load slides (no throttle), to see the slide right after Create.
	s := newStore(t, srv.URL(), Options{Prefix: "app:", TouchThrottle: -1})
	ctx := t.Context()
	key := newKey()
	lt := session.Limits{Idle: time.Minute, Absolute: 10 * time.Second}
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", `"x"`, "n", "1"), User: "ann", UserAgent: "test/1"}, lt); err != nil {
		t.Fatal(err)
	}
	rk := "app:{" + key + "}"
	h := pairs(srv.DoOK(t, "HGETALL", rk))
	if len(h) != 3 || h["a"] != `"x"` || h["n"] != "1" {
		t.Errorf("hash = %v, want the metadata and the values a and n under their own names", h)
	}
	md := metaOf(t, srv, rk)
	if md.User != "ann" || md.UserAgent != "test/1" || md.Size != len(`a"x"n1`) || md.Count != 2 || md.Remember {
		t.Errorf("metadata = %+v", md)
	}
	if md.Absolute-md.Created != 10000 || md.Idle != md.Absolute || md.Seen != md.Created {
		t.Errorf("metadata %+v: want absolute = created+10s, idle capped at absolute, seen = created", md)
	}
	// The key's TTL is never past the absolute deadline, though the idle
	// timeout is longer.
	if ttl := srv.DoOK(t, "PTTL", rk).Int; ttl <= 0 || ttl > 10000 {
		t.Errorf("PTTL = %d, want in (0, 10000]", ttl)
	}
	members := srv.DoOK(t, "ZRANGE", "app:user:{ann}", "0", "-1").Strings()
	if !slices.Equal(members, []string{key}) {
		t.Errorf("user index = %v, want [%s]", members, key)
	}
	// The index outlives the absolute deadline by pruneGrace.
	if ttl := srv.DoOK(t, "PTTL", "app:user:{ann}").Int; ttl <= 10000 || ttl > 10000+pruneGrace.Milliseconds() {
		t.Errorf("index PTTL = %d, want in (10000, %d]", ttl, 10000+pruneGrace.Milliseconds())
	}

	// Load slides the idle deadline and the key's expiry with it.
	lt = session.Limits{Idle: 5 * time.Second, Absolute: 10 * time.Second}
	if _, ok, err := s.Load(ctx, key, lt); err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	if ttl := srv.DoOK(t, "PTTL", rk).Int; ttl <= 0 || ttl > 5000 {
		t.Errorf("PTTL after Load with 5s idle = %d, want in (0, 5000]", ttl)
	}
	if md := metaOf(t, srv, rk); md.Idle-md.Seen != 5000 {
		t.Errorf("after the slide: %+v, want idle = seen + 5s", md)
	}
	// A renewal leaves a marker under the old key that points to the new
	// one; a destroy leaves one that refuses a late put. Both expire.
	k2 := newKey()
	if ok, err := s.trenew(ctx, key, k2, session.Write{}, lt); err != nil || !ok {
		t.Fatalf("renew: %v %v", ok, err)
	}
	if err := s.Destroy(ctx, k2); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{rk + "~": "m:" + k2, "app:{" + k2 + "}~": "r"}
	keys := srv.Keys(t)
	slices.Sort(keys)
	if len(keys) != 2 {
		t.Errorf("keys left after renew and destroy: %v, want the two markers", keys)
	}
	for k, v := range want {
		if got := srv.DoOK(t, "GET", k).Str; got != v {
			t.Errorf("marker %s = %q, want %q", k, got, v)
		}
		if ttl := srv.DoOK(t, "PTTL", k).Int; ttl <= 0 || ttl > markerTTL.Milliseconds() {
			t.Errorf("marker %s PTTL = %d, want in (0, %d]", k, ttl, markerTTL.Milliseconds())
		}
	}
}

// TestLayoutAgreement: metadata that Go encodes (internal/redislayout) is
// read by the Lua scripts and written back by them unchanged but for what
// the write changes, for users, user agents and wrapped keys with the
// layout's separators and binary bytes in them.
func TestLayoutAgreement(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{TouchThrottle: -1}) // every call slides: the scripts decode it all
	ctx := t.Context()
	now := time.Now().UnixMilli()
	want := redislayout.Meta{Size: len("a") + len(`"x"`), Count: 1, Seen: now - 1000, Created: now - 5000,
		Absolute: now + 3_600_000, Idle: now + 60_000, Remember: true,
		User: "ann,1,2:3", Wrap: "\x00,1,\xff\n", UserAgent: "Mozilla/5.0 (X11; Linux), 1,2,3"}
	key := newKey()
	rk := "stickless:{" + key + "}"
	srv.DoOK(t, "HSET", rk, redislayout.MetaField, want.String(), "a", `"x"`)
	srv.DoOK(t, "PEXPIRE", rk, "60000")
	rec, ok, err := s.Load(ctx, key, long)
	if err != nil || !ok || rec.User != want.User || rec.UserAgent != want.UserAgent || !rec.Remember || rec.Values["a"] != `"x"` {
		t.Fatalf("Load of Go-encoded metadata = %+v %v %v", rec, ok, err)
	}
	if ok, err := s.tupdate(ctx, key, session.Write{Set: vals("bb", "22")}, long); err != nil || !ok {
		t.Fatalf("update: %v %v", ok, err)
	}
	got := metaOf(t, srv, rk)
	want.Size, want.Count, want.Seen, want.Idle = want.Size+len("bb22"), 2, got.Seen, got.Idle
	if got != want {
		t.Errorf("metadata after a slide and a write by the scripts:\n got %+v\nwant %+v", got, want)
	}
	if got.Seen < now || got.Idle != min(got.Seen+long.Idle.Milliseconds(), want.Absolute) {
		t.Errorf("the slide: seen %d, idle %d", got.Seen, got.Idle)
	}
}

func TestTouchThrottle(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{TouchThrottle: time.Minute})
	ctx := t.Context()
	key := newKey()
	lt := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour}
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, lt); err != nil {
		t.Fatal(err)
	}
	rk := "stickless:{" + key + "}"
	before := metaOf(t, srv, rk).Idle
	srv.ResetStats(t)
	for range 3 {
		if _, ok, err := s.Load(ctx, key, lt); err != nil || !ok {
			t.Fatalf("Load: %v %v", ok, err)
		}
	}
	if after := metaOf(t, srv, rk).Idle; after != before {
		t.Errorf("idle deadline moved from %d to %d within the throttle", before, after)
	}
	stats := srv.CommandStats(t)
	if stats["hset"] != 0 || stats["pexpireat"] != 0 {
		t.Errorf("Loads within the throttle wrote: %v", stats)
	}
	// An update within the throttle writes its change, and slides
	// nothing.
	if ok, err := s.tupdate(ctx, key, session.Write{Set: vals("b", "2")}, lt); err != nil || !ok {
		t.Fatalf("Update: %v %v", ok, err)
	}
	if stats := srv.CommandStats(t); stats["pexpireat"] != 0 || stats["time"] != 0 || stats["hset"] != 1 {
		t.Errorf("Update within the throttle: %v, want one HSET and no slide", stats)
	}
	// The throttle is capped at a quarter of the idle timeout: with a 1 s
	// idle timeout, a Load 300 ms after the last slide slides again.
	short := session.Limits{Idle: time.Second, Absolute: time.Hour}
	if ok, err := s.tupdate(ctx, key, session.Write{}, short); err != nil || !ok {
		t.Fatalf("Update: %v %v", ok, err)
	}
	slid := metaOf(t, srv, rk).Seen
	time.Sleep(300 * time.Millisecond)
	if _, ok, err := s.Load(ctx, key, short); err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	if now := metaOf(t, srv, rk).Seen; now == slid {
		t.Errorf("Load past a quarter of the idle window did not slide (last slide still %d)", slid)
	}
}

// TestTouchThrottleDefault: by default a Load within IdleTimeout/20 of the
// last slide writes nothing, and one after it slides; a negative
// TouchThrottle makes every Load slide.
func TestTouchThrottleDefault(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	lt := session.Limits{Idle: 2 * time.Second, Absolute: time.Hour} // default throttle 100 ms
	for _, tc := range []struct {
		name     string
		throttle time.Duration
		writes   bool // whether Loads right after a write slide
	}{
		{"default", 0, false},
		{"off", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, srv.URL(), Options{TouchThrottle: tc.throttle})
			ctx := t.Context()
			key := newKey()
			if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, lt); err != nil {
				t.Fatal(err)
			}
			rk := "stickless:{" + key + "}"
			srv.ResetStats(t)
			for range 3 {
				if _, ok, err := s.Load(ctx, key, lt); err != nil || !ok {
					t.Fatalf("Load: %v %v", ok, err)
				}
			}
			stats := srv.CommandStats(t)
			if slid := stats["pexpireat"] > 0; slid != tc.writes {
				t.Errorf("Loads right after Create slid: %v, want %v (%v)", slid, tc.writes, stats)
			}
			// A Load is one HGETALL, and one slide script when a slide
			// is due.
			slides := int64(0)
			if tc.writes {
				slides = 3
			}
			if stats["evalsha"] != slides || stats["hgetall"] != 3 || stats["time"] != slides {
				t.Errorf("3 Loads ran %v, want 3 HGETALL and %d EVALSHA and TIME", stats, slides)
			}
			slid := metaOf(t, srv, rk).Seen
			time.Sleep(lt.Idle/DefaultTouchFraction + 50*time.Millisecond)
			if _, ok, err := s.Load(ctx, key, lt); err != nil || !ok {
				t.Fatalf("Load: %v %v", ok, err)
			}
			if now := metaOf(t, srv, rk).Seen; now == slid {
				t.Errorf("Load past IdleTimeout/%d did not slide", DefaultTouchFraction)
			}
		})
	}
}

// TestUserIndex: a creation bound to a user and an update that binds one
// put the session in the user's index; a rebinding moves it; the list
// leaves out sessions that died.
func TestUserIndex(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	ctx := t.Context()
	var keys []string
	for i := range 3 {
		k := newKey()
		keys = append(keys, k)
		if err := s.tcreate(ctx, k, session.Write{Set: vals("i", strconv.Itoa(i)), User: "bob"}, long); err != nil {
			t.Fatal(err)
		}
	}
	anon := newKey()
	if err := s.tcreate(ctx, anon, session.Write{}, long); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.tupdate(ctx, anon, session.Write{BindUser: true, User: "bob"}, long); err != nil || !ok {
		t.Fatalf("Update: %v %v", ok, err)
	}
	keys = append(keys, anon)
	if err := s.Destroy(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	list, err := s.UserSessions(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, us := range list {
		got = append(got, us.Key)
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(keys[1:])); !slices.Equal(got, want) {
		t.Errorf("sessions of bob = %v, want %v", got, want)
	}
	// Rebinding to ann moves the entry.
	if ok, err := s.tupdate(ctx, anon, session.Write{BindUser: true, User: "ann"}, long); err != nil || !ok {
		t.Fatalf("Update: %v %v", ok, err)
	}
	if m := srv.DoOK(t, "ZRANGE", "stickless:user:{ann}", "0", "-1").Strings(); !slices.Equal(m, []string{anon}) {
		t.Errorf("index of ann = %v, want [%s]", m, anon)
	}
	if n := srv.DoOK(t, "ZCARD", "stickless:user:{bob}").Int; n != 2 {
		t.Errorf("index of bob holds %d entries, want 2", n)
	}
	if n, err := s.DestroyUser(ctx, "bob", ""); err != nil || n != 2 {
		t.Errorf("DestroyUser = %d, %v; want 2", n, err)
	}
	if _, ok, _ := s.Load(ctx, anon, long); !ok {
		t.Errorf("DestroyUser of bob destroyed ann's session")
	}
}

func TestScriptsReloaded(t *testing.T) {
	// After SCRIPT FLUSH (as after a restart), calls fall back to EVAL once.
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	ctx := t.Context()
	key := newKey()
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1"), User: "u"}, long); err != nil {
		t.Fatal(err)
	}
	srv.DoOK(t, "SCRIPT", "FLUSH")
	rec, ok, err := s.Load(ctx, key, long)
	if err != nil || !ok || string(rec.Values["a"]) != "1" {
		t.Fatalf("Load after SCRIPT FLUSH: %v %v %v", rec, ok, err)
	}
	srv.DoOK(t, "SCRIPT", "FLUSH")
	if n, err := s.DestroyUser(ctx, "u", ""); err != nil || n != 1 {
		t.Fatalf("DestroyUser after SCRIPT FLUSH: %d %v", n, err)
	}
}

func TestIncrErrors(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	ctx := t.Context()
	key := newKey()
	if err := s.tcreate(ctx, key, session.Write{Set: vals("s", `"x"`, "big", "9223372036854775807")}, long); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"s", "big"} {
		_, found, err := s.Incr(ctx, key, f, 1, long)
		if !found || !errors.Is(err, session.ErrNotInteger) {
			t.Errorf("Incr %s: found %v, err %v; want found and ErrNotInteger", f, found, err)
		}
	}
	if v := srv.DoOK(t, "HGET", "stickless:{"+key+"}", "big").Str; v != "9223372036854775807" {
		t.Errorf("overflowing Incr changed the field to %s", v)
	}
}

func TestClosed(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	s.Close()
	s.Close()
	_, _, err := s.Load(context.Background(), newKey(), long)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

// TestHungUnderLoad: against a hung Redis, calls keep returning at their
// deadline even after rueidis's per-connection queues are full of calls
// abandoned at theirs (queues of 256 here, to fill them fast), where
// rueidis alone would make them wait for ConnWriteTimeout (10 s).
func TestHungUnderLoad(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	opts := Options{}
	opts.Client.RingScaleEachConn = 8
	s := newStore(t, srv.URL(), opts)
	key := newKey()
	if err := s.tcreate(t.Context(), key, session.Write{}, long); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	defer srv.Resume(t)
	const (
		calls    = 3000
		parallel = 100
		timeout  = 200 * time.Millisecond
	)
	var mu sync.Mutex
	var slowest time.Duration
	failed := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	start := time.Now()
	for range calls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			t0 := time.Now()
			_, _, err := s.Load(ctx, key, long)
			d := time.Since(t0)
			mu.Lock()
			slowest = max(slowest, d)
			if err != nil {
				failed++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d Loads against a hung Redis in %v: %d failed, slowest %v (timeout %v)",
		calls, time.Since(start), failed, slowest, timeout)
	if failed != calls {
		t.Errorf("%d of %d calls did not fail", calls-failed, calls)
	}
	if slowest > 10*timeout {
		t.Errorf("slowest call took %v: a hang, not a timeout", slowest)
	}
	srv.Resume(t)
	if err := testenv.Eventually(15*time.Second, 50*time.Millisecond, func() error {
		_, _, err := s.Load(t.Context(), key, long)
		return err
	}); err != nil {
		t.Fatalf("no recovery after SIGCONT: %v", err)
	}
}

// TestClockSkew: this machine's clock, however wrong, decides only when
// Load asks Redis: a clock far ahead (every session looks past its
// deadline) or far behind (before the session's last slide) costs one
// round trip to Redis, which serves the live session and corrects the
// estimate; a destroyed session is never served whatever the clock.
func TestClockSkew(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	ctx := t.Context()
	lim := session.Limits{Idle: time.Minute, Absolute: time.Hour}
	key := newKey()
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, lim); err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{2 * time.Hour, -2 * time.Hour} {
		s.clock.offset.Store(-skew.Milliseconds()) // as if this clock were off by skew
		if _, ok, err := s.Load(ctx, key, lim); err != nil || !ok {
			t.Errorf("clock off by %v: Load of a live session: %v %v", skew, ok, err)
		}
	}
	s.clock.offset.Store(-time.Hour.Milliseconds())
	if _, ok, err := s.Load(ctx, key, lim); err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	if off := s.clock.offset.Load(); off < -1000 || off > 1000 {
		t.Errorf("clock offset after a reply from Redis = %d ms, want about 0 (same machine)", off)
	}
	if err := s.Destroy(ctx, key); err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{2 * time.Hour, -2 * time.Hour} {
		s.clock.offset.Store(-skew.Milliseconds())
		if _, ok, _ := s.Load(ctx, key, lim); ok {
			t.Errorf("clock off by %v: a destroyed session was served", skew)
		}
	}
}

// TestReadAtMaxmemory: when Redis refuses writes at maxmemory, a read whose
// slide is due still serves the session (without the slide), while a new
// session is refused.
func TestReadAtMaxmemory(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{TouchThrottle: -1}) // slide on every read
	lim := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour}
	ctx := t.Context()
	if _, err := s.Save(ctx, session.Write{Create: true, Key: "full-redis", Set: vals("a", "1"), Limits: lim}); err != nil {
		t.Fatal(err)
	}
	srv.DoOK(t, "CONFIG", "SET", "maxmemory", "1")
	t.Cleanup(func() { srv.DoOK(t, "CONFIG", "SET", "maxmemory", "0") })
	rec, found, err := s.Load(ctx, "full-redis", lim)
	if err != nil || !found || string(rec.Values["a"]) != "1" {
		t.Fatalf("read at maxmemory: %v %v %v, want the session", rec, found, err)
	}
	if _, err := s.Save(ctx, session.Write{Create: true, Key: "new-at-maxmemory", Limits: lim, Set: vals("b", "2")}); err == nil {
		t.Error("a new session at maxmemory was stored")
	}
	// An increment refused at maxmemory is a failure of the store (503),
	// not a value that is not an integer (409).
	if _, _, err := s.Incr(ctx, "full-redis", "n", 1, lim); err == nil || errors.Is(err, session.ErrNotInteger) {
		t.Errorf("Incr at maxmemory: %v, want a store error", err)
	}
}

// TestDestroyUserSparesKeepBehindAStaleEntry: an index entry of a key that
// a renewal moved, left behind (as a Cluster renewal cut between its two
// round trips leaves it), leads a revocation to the session it moved to:
// DestroyUser follows it, except to the session it must keep.
func TestDestroyUserSparesKeepBehindAStaleEntry(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			var url string
			var do func(args ...string)
			if mode == "standalone" {
				srv := redistest.Standalone(t, redistest.Options{})
				url, do = srv.URL(), func(args ...string) { srv.DoOK(t, args...) }
			} else {
				cs := redistest.Cluster(t, 3)
				url, do = cs.URL(), func(args ...string) { cs.NodeFor(t, args[1]).DoOK(t, args...) }
			}
			s := newStore(t, url, Options{})
			ctx := t.Context()
			old, keep, other := newKey(), newKey(), newKey()
			for _, k := range []string{old, other} {
				if err := s.tcreate(ctx, k, session.Write{User: "kim"}, long); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := s.trenew(ctx, old, keep, session.Write{User: "kim"}, long); err != nil || !ok {
				t.Fatalf("renew: %v %v", ok, err)
			}
			do("ZADD", "stickless:user:{kim}", "1", old) // the stale entry
			if n, err := s.DestroyUser(ctx, "kim", keep); err != nil || n != 1 {
				t.Fatalf("DestroyUser(kim, keep) = %d, %v; want 1 (the other session)", n, err)
			}
			if _, ok, err := s.Load(ctx, keep, long); err != nil || !ok {
				t.Fatalf("the kept session, behind a stale entry of its old key: %v %v", ok, err)
			}
			if _, ok, _ := s.Load(ctx, other, long); ok {
				t.Fatal("the other session survived")
			}
		})
	}
}
