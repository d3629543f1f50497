package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

// cached configures a store with the client-side cache on, under the
// client name name (to find its connections in CLIENT LIST).
func cached(name string) Options {
	return Options{ClientCache: true, Client: rueidis.ClientOption{ClientName: name}}
}

// TestClientCacheSeesUpdates: instance B reads (and caches) a session,
// instance A changes it, and B's very next request sees the change, round
// after round, and the other way round; a logout on A is seen by B's next
// request, and a late write on B brings nothing back.
//
// Between A's answer and B's request the test waits for one PING to Redis
// (settle): Redis writes B's invalidation in the same event-loop pass as
// A's answer, but just after it, so a request that follows A's answer by
// less than that pass (microseconds; no network between them) could
// overtake it. A real next request comes through the network and nginx;
// what this test proves is that B answers from the cache only after it has
// applied every invalidation that reached it (see watch.go): without that,
// B's reader goroutine still had the invalidation unread in about one
// round out of eight here.
func TestClientCacheSeesUpdates(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	seesUpdates(t, srv.URL(), 200, func() { srv.DoOK(t, "PING") }, srv.Keys,
		func(k string) string { return srv.DoOK(t, "HGET", k, "_u").Str }, srv.ResetStats, srv.CommandStats)
}

// TestClientCacheClusterSeesUpdates is TestClientCacheSeesUpdates on a
// 3-master Cluster: each node invalidates the keys of its slots.
func TestClientCacheClusterSeesUpdates(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	url := "redis-cluster://" + strings.Join(cs.Addrs(), ",")
	seesUpdates(t, url, 50, func() {
		for _, n := range cs.Nodes {
			n.DoOK(t, "PING")
		}
	}, cs.Keys, func(k string) string { return cs.NodeFor(t, k).DoOK(t, "HGET", k, "_u").Str },
		cs.ResetStats, cs.CommandStats)
}

// seesUpdates runs TestClientCacheSeesUpdates against the Redis at url:
// settle waits for a round trip to every server, keys lists the keys,
// user reads the user of a session key, reset and stats reset and read
// INFO commandstats (summed over the servers).
func seesUpdates(t *testing.T, url string, rounds int, settle func(), keys func(testing.TB) []string, user func(string) string,
	reset func(testing.TB), stats func(testing.TB) map[string]int64) {
	a := newInstanceWith(t, url, 5*time.Second, nil, cached("instance-a"))
	b := newInstanceWith(t, url, 5*time.Second, nil, cached("instance-b"))
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(a.h, "POST", put("x", "start")), 200, "first write")
	want := "start"
	for i := range rounds {
		// Twice, so that the second read is served by B's cache.
		for range 2 {
			if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B"); got != want {
				t.Fatalf("round %d: B read x = %q before the update, want %q", i, got, want)
			}
		}
		want = "v" + strconv.Itoa(i)
		must(t, c.do(a.h, "POST", put("x", want)), 200, "write on A")
		settle()
		if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B"); got != want {
			t.Fatalf("round %d: B's next request read x = %q after A wrote %q", i, got, want)
		}
		// And the other way round: B writes, A (also caching) sees it.
		must(t, c.do(a.h, "GET", "/get?k=y"), 200, "read on A")
		must(t, c.do(b.h, "POST", put("y", want)), 200, "write on B")
		settle()
		if got := must(t, c.do(a.h, "GET", "/get?k=y"), 200, "read on A"); got != want {
			t.Fatalf("round %d: A's next request read y = %q after B wrote %q", i, got, want)
		}
	}

	// B's reads of the unchanged session cost Redis nothing, once a
	// second has passed since the client closed a connection (the Cluster
	// client closes its seed connections at start; see watch.go).
	err := testenv.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		must(t, c.do(b.h, "GET", "/whoami"), 200, "read on B")
		reset(t)
		must(t, c.do(b.h, "GET", "/whoami"), 200, "read on B")
		if st := stats(t); own(st) != 0 {
			return fmt.Errorf("a cached read on B ran %v", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reset(t)
	for range 20 {
		must(t, c.do(b.h, "GET", "/whoami"), 200, "read on B")
	}
	checkCached(t, "20 reads on B", 20, stats(t))

	// Logout on A: B's next request is anonymous, and a late write on B
	// does not bring the session back (it starts a new, anonymous one).
	old := c.with()
	if got := must(t, old.do(b.h, "GET", "/whoami"), 200, "whoami on B"); got != "ann" {
		t.Fatalf("whoami on B = %q, want ann", got)
	}
	must(t, c.do(a.h, "POST", "/logout"), 200, "logout on A")
	settle()
	if got := must(t, old.with().do(b.h, "GET", "/whoami"), 200, "whoami on B after logout"); got != "" {
		t.Fatalf("B still sees user %q after the logout on A", got)
	}
	must(t, old.with().do(b.h, "POST", put("late", "1")), 200, "late write on B")
	for _, k := range keys(t) {
		if strings.HasPrefix(k, "stickless:user:") {
			continue
		}
		if u := user(k); u != "" {
			t.Errorf("session %s of user %q live after the logout", k, u)
		}
	}
}

// TestClientCacheNoRoundTrip: once B has read a session, B's further reads
// of it, unchanged, send Redis no command at all.
func TestClientCacheNoRoundTrip(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	a := newInstanceWith(t, srv.URL(), 5*time.Second, nil, cached("instance-a"))
	b := newInstanceWith(t, srv.URL(), 5*time.Second, nil, cached("instance-b"))
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(b.h, "GET", "/whoami"), 200, "first read on B")
	srv.ResetStats(t)
	const reads = 100
	for range reads {
		if got := must(t, c.do(b.h, "GET", "/whoami"), 200, "read on B"); got != "ann" {
			t.Fatalf("whoami = %q, want ann", got)
		}
	}
	checkCached(t, "reads on B", reads, srv.CommandStats(t))
	// Without the cache, each read is one HGETALL.
	plain := newInstance(t, srv.URL(), 5*time.Second, nil)
	srv.ResetStats(t)
	for range reads {
		must(t, c.do(plain.h, "GET", "/whoami"), 200, "read without cache")
	}
	if stats := srv.CommandStats(t); stats["hgetall"] != reads || stats["evalsha"] != 0 {
		t.Errorf("%d uncached reads ran %v, want %d HGETALL", reads, stats, reads)
	}
}

// killClients closes, from the server's side, every connection whose
// client name is name, as a network failure or a Redis restart would, and
// returns how many there were.
func killClients(t *testing.T, srv *redistest.Server, name string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(srv.DoOK(t, "CLIENT", "LIST").Str, "\n") {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			srv.DoOK(t, "CLIENT", "KILL", "ID", id)
			n++
		}
	}
	return n
}

// TestClientCacheReconnect: invalidations sent while B's connections are
// down are lost, so B must drop its cache with them: A writes while B is
// cut off, and B's next request sees the write.
func TestClientCacheReconnect(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	a := newInstanceWith(t, srv.URL(), 5*time.Second, nil, cached("instance-a"))
	b := newInstanceWith(t, srv.URL(), 5*time.Second, nil, cached("instance-b"))
	c := &client{}
	must(t, c.do(a.h, "POST", put("x", "start")), 200, "first write")
	want := "start"
	for i := range 20 {
		for range 2 {
			if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B"); got != want {
				t.Fatalf("round %d: B read x = %q, want %q", i, got, want)
			}
		}
		if n := killClients(t, srv, "instance-b"); n == 0 {
			t.Fatal("no connection of instance B to kill")
		}
		want = "v" + strconv.Itoa(i)
		must(t, c.do(a.h, "POST", put("x", want)), 200, "write on A")
		srv.DoOK(t, "PING") // see TestClientCacheSeesUpdates
		if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B after reconnect"); got != want {
			t.Fatalf("round %d: B read x = %q after its connection was killed and A wrote %q", i, got, want)
		}
	}
}

// TestClientCacheOptions: options that cannot work with the cache panic
// in New.
func TestClientCacheOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"DisableCache", Options{ClientCache: true, Client: rueidis.ClientOption{DisableCache: true, InitAddress: []string{"127.0.0.1:1"}}}},
		{"no throttle", Options{ClientCache: true, TouchThrottle: -1, Client: rueidis.ClientOption{InitAddress: []string{"127.0.0.1:1"}}}},
		{"RESP2", Options{ClientCache: true, Client: rueidis.ClientOption{AlwaysRESP2: true, InitAddress: []string{"127.0.0.1:1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "redisstore: ") {
					t.Errorf("New did not panic with a redisstore: message: %v", r)
				}
			}()
			New(t.Context(), tc.opts)
		})
	}
}

// TestClientCacheSlides: a session read only through the cache, every 300
// ms with an idle timeout of 1 s, stays alive well past its idle timeout
// (its reads slide it through the script once the throttle allows).
func TestClientCacheSlides(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), cached("slide"))
	ctx := t.Context()
	key := newKey()
	lt := session.Limits{Idle: time.Second, Absolute: time.Hour}
	start := time.Now()
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, lt); err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < 3*time.Second {
		time.Sleep(300 * time.Millisecond)
		t0 := time.Now()
		_, ok, err := s.Load(ctx, key, lt)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if time.Since(t0) > 600*time.Millisecond {
				t.Skip("machine too slow: a Load took more than the gap it was meant to have")
			}
			t.Fatalf("session died %v after Create, read every 300 ms with an idle timeout of 1 s", time.Since(start))
		}
	}
}

// TestClientCacheSentinelFailover: B has a session cached from the master
// when Sentinel fails over; once A's write after the failover has reached
// the replica, B's next request sees it, whether B still talks to
// the old master (now a replica, which invalidates what its clients read
// when the write is replicated to it) or has moved to the new one (a new
// connection, with a new, empty cache).
func TestClientCacheSentinelFailover(t *testing.T) {
	ss := redistest.Sentinel(t)
	url := "redis-sentinel://" + strings.Join(ss.SentinelAddrs(), ",") + "/" + ss.MasterName
	a := newInstanceWith(t, url, 2*time.Second, nil, cached("instance-a"))
	b := newInstanceWith(t, url, 2*time.Second, nil, cached("instance-b"))
	c := &client{}
	must(t, c.do(a.h, "POST", put("x", "before")), 200, "first write")
	for range 2 {
		if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B"); got != "before" {
			t.Fatalf("B read x = %q, want before", got)
		}
	}
	ss.Master.ResetStats(t)
	for range 20 {
		must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B")
	}
	checkCached(t, "20 reads on B (master)", 20, ss.Master.CommandStats(t))
	ss.Failover(t)
	// A's client moves to the new master by itself; until it has, its
	// writes fail (503) or are refused by the old master.
	err := testenv.Eventually(20*time.Second, 100*time.Millisecond, func() error {
		if res := c.do(a.h, "POST", put("x", "after")); res.StatusCode != 200 {
			return fmt.Errorf("write on A after the failover: status %d", res.StatusCode)
		}
		// The replica (the old master) has applied the write, and so
		// sent its invalidations, once it answers the new value.
		for _, k := range sessionKeys(ss.Master.Keys(t)) {
			if r, err := ss.Replica.Call(redistest.DoTimeout, "HGET", k, "v:x"); err != nil || r.Str != `"after"` {
				return fmt.Errorf("the replica has x = %v (%v)", r, err)
			}
		}
		ss.Replica.DoOK(t, "PING") // and written them out (see TestClientCacheSeesUpdates)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := must(t, c.do(b.h, "GET", "/get?k=x"), 200, "read on B after the failover"); got != "after" {
		t.Fatalf("B read x = %q after the failover and A's write, want after", got)
	}
}

// cacheRounds checks two stores with the client-side cache on, a and b, on
// srv: b's repeated reads of an unchanged session send no command, and
// b's next Load after each Update on a (and a PING to srv, see
// TestClientCacheSeesUpdates) returns the update.
func cacheRounds(t *testing.T, srv *redistest.Server, a, b *Store) {
	t.Helper()
	ctx := t.Context()
	key := newKey()
	if err := a.tcreate(ctx, key, session.Write{Set: vals("n", "0")}, long); err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	misses := int64(0)
	for i := range rounds {
		b.Load(ctx, key, long)
		srv.ResetStats(t)
		rec, ok, err := b.Load(ctx, key, long)
		if err != nil || !ok {
			t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
		}
		if stats := srv.CommandStats(t); own(stats) != 0 {
			t.Logf("round %d: the cached Load fell back to Redis: %v", i, stats)
			misses++
		}
		if got, want := string(rec.Values["n"]), strconv.Itoa(i); got != want {
			t.Fatalf("round %d: b read n = %s, want %s", i, got, want)
		}
		if ok, err := a.tupdate(ctx, key, session.Write{Set: vals("n", strconv.Itoa(i+1))}, long); err != nil || !ok {
			t.Fatalf("round %d: Update on a: %v %v", i, ok, err)
		}
		srv.DoOK(t, "PING")
		rec, ok, err = b.Load(ctx, key, long)
		if err != nil || !ok {
			t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
		}
		if got, want := string(rec.Values["n"]), strconv.Itoa(i+1); got != want {
			t.Fatalf("round %d: b read n = %s right after a wrote %s", i, got, want)
		}
	}
	if misses > rounds/10 {
		t.Fatalf("%d of %d cached Loads went to Redis, want at most %d", misses, rounds, rounds/10)
	}
}

// checkCached fails when more than a tenth of n reads of an unchanged
// session reached Redis (stats: INFO commandstats over those reads). A
// cached read may go to Redis now and then on purpose: the store reads
// through Redis whenever it cannot be sure that every invalidation already
// on the wire was handled (a connection closing, bytes not yet read while
// the reader goroutine waits to be scheduled on a loaded machine), so
// "none at all" would be a timing assertion; "rare" is the behaviour.
func checkCached(t *testing.T, what string, n int, stats map[string]int64) {
	t.Helper()
	misses := stats["evalsha_ro"] + stats["eval_ro"] + stats["evalsha"] + stats["eval"]
	if other := own(stats) - misses; other > 8*misses {
		t.Errorf("%s: commands beyond the fallback reads: %v", what, stats)
	}
	if misses > int64(max(1, n/10)) {
		t.Errorf("%s: %d of %d cached reads went to Redis (%v), want at most a tenth", what, misses, n, stats)
	} else if misses > 0 {
		t.Logf("%s: %d of %d cached reads fell back to Redis", what, misses, n)
	}
}

// TestClientCacheNoScript: a Redis that lost its scripts (SCRIPT FLUSH, as
// after a restart) still answers reads, cached and not: the store loads the
// read-only script again, and the NOSCRIPT error that rueidis cached does
// not stay. A miss on a new session after the flush also works.
func TestClientCacheNoScript(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	scriptsFlushed(t, srv.URL(), func() { srv.DoOK(t, "SCRIPT", "FLUSH") }, srv.ResetStats, srv.CommandStats)
}

// TestClientCacheClusterNoScript is TestClientCacheNoScript on a Cluster,
// where the script must be loaded on the node of the key.
func TestClientCacheClusterNoScript(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	scriptsFlushed(t, "redis-cluster://"+strings.Join(cs.Addrs(), ","), func() {
		for _, n := range cs.Nodes {
			n.DoOK(t, "SCRIPT", "FLUSH")
		}
	}, cs.ResetStats, cs.CommandStats)
}

func scriptsFlushed(t *testing.T, url string, flush func(), reset func(testing.TB), stats func(testing.TB) map[string]int64) {
	s := newStore(t, url, cached("noscript"))
	ctx := t.Context()
	key := newKey()
	if err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, long); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(ctx, key, long); err != nil || !ok {
		t.Fatalf("Load: %v %v", ok, err)
	}
	flush()
	for range 3 {
		if rec, ok, err := s.Load(ctx, key, long); err != nil || !ok || string(rec.Values["a"]) != "1" {
			t.Fatalf("Load after SCRIPT FLUSH: %v %v %v", rec, ok, err)
		}
	}
	flush()
	other := newKey()
	if err := s.tcreate(ctx, other, session.Write{Set: vals("b", "2")}, long); err != nil {
		t.Fatal(err)
	}
	flush()
	for range 3 {
		if rec, ok, err := s.Load(ctx, other, long); err != nil || !ok || string(rec.Values["b"]) != "2" {
			t.Fatalf("Load of a new session after SCRIPT FLUSH: %v %v %v", rec, ok, err)
		}
	}
	// Once the script is back, reads are cached again (after the second
	// that follows a connection's close, see watch.go).
	err := testenv.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		reset(t)
		if _, ok, err := s.Load(ctx, other, long); err != nil || !ok {
			t.Fatalf("Load: %v %v", ok, err)
		}
		if st := stats(t); own(st) != 0 {
			return fmt.Errorf("a Load once the script is back ran %v, want nothing (cached)", st)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestClientCacheOnCacheRead: every Load that asks the cache is reported
// once, a first read as a miss and the reads of an unchanged session as
// hits (all but the rare read-through fallbacks, see checkCached).
func TestClientCacheOnCacheRead(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	var hits, misses atomic.Int64
	opts := cached("instance-a")
	opts.OnCacheRead = func(hit bool) {
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}
	a := newInstanceWith(t, srv.URL(), 5*time.Second, nil, opts)
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	hits.Store(0)
	misses.Store(0)
	const reads = 50
	for range reads {
		must(t, c.do(a.h, "GET", "/whoami"), 200, "read")
	}
	if h, m := hits.Load(), misses.Load(); h+m != reads || m < 1 || h < reads-1-reads/10 {
		t.Errorf("%d reads reported %d hits and %d misses, want one report each, a first miss, the rest mostly hits", reads, h, m)
	}
}
