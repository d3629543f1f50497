package redisstore

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/internal/redistest"
)

// sessionKeys returns the Redis keys of sessions (not of user indexes or
// markers) among keys.
func sessionKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if redislayout.IsSessionKey(DefaultPrefix, k) {
			out = append(out, k)
		}
	}
	return out
}

// TestClusterThroughManager runs two instances on a 3-master Cluster:
// concurrent writes of different keys, a renewal that moves the session
// to another slot (and node), a read that costs one EVALSHA, a logout
// that leaves no key on any node.
func TestClusterThroughManager(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	url := cs.URL()
	a := newInstance(t, url, 2*time.Second, nil)
	b := newInstance(t, url, 2*time.Second, nil)
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	first := sessionKeys(cs.Keys(t))

	const rounds = 100
	for i := range rounds {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, in := range []*instance{a, b} {
			wg.Go(func() {
				codes[j] = c.with().do(in.h, "POST", put(fmt.Sprintf("%c%d", 'a'+j, i), "x")).StatusCode
			})
		}
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("round %d: statuses %v", i, codes)
		}
	}
	must(t, c.do(b.h, "POST", "/login?u=ann"), 200, "renew")
	renewed := sessionKeys(cs.Keys(t))
	if len(first) != 1 || len(renewed) != 1 || first[0] == renewed[0] {
		t.Fatalf("session keys before and after renewal: %v, %v", first, renewed)
	}
	t.Logf("renewal moved the session from node %s to node %s; the user index is on node %s",
		cs.NodeFor(t, first[0]).Addr, cs.NodeFor(t, renewed[0]).Addr, cs.NodeFor(t, "stickless:user:{ann}").Addr)
	for i := range rounds {
		if got := body(c.do(a.h, "GET", fmt.Sprintf("/get?k=b%d", i))); got != "x" {
			t.Fatalf("key b%d after renewal = %q", i, got)
		}
	}

	cs.ResetStats(t)
	must(t, c.do(a.h, "GET", "/whoami"), 200, "read")
	stats := cs.CommandStats(t)
	t.Logf("one read on Cluster: commandstats over all nodes %v", stats)
	if own(stats) != 1 || stats["hgetall"] != 1 {
		t.Errorf("a read on Cluster ran %v, want one HGETALL", stats)
	}

	list, err := a.m.Sessions(t.Context(), "ann")
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions of ann: %v %v", list, err)
	}
	must(t, c.do(b.h, "POST", "/logout"), 200, "logout")
	for _, k := range cs.Keys(t) {
		// What remains is the markers of the renewal and the logout,
		// which expire.
		if !strings.HasSuffix(k, "}~") || cs.NodeFor(t, k).DoOK(t, "PTTL", k).Int <= 0 {
			t.Errorf("key left after logout: %s", k)
		}
	}
}

// TestSentinelFailover: a session made on the master is read and written
// after a manual failover and after the master is killed, through the
// same store; while no master answers, requests get 503, not a hang.
func TestSentinelFailover(t *testing.T) {
	ss := redistest.Sentinel(t)
	url := ss.URL()
	const timeout = time.Second
	in := newInstance(t, url, timeout, nil)
	c := &client{}
	must(t, c.do(in.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(in.h, "POST", put("cart", "1")), 200, "write")
	ss.Master.DoOK(t, "WAIT", "1", "5000")

	ss.Failover(t)
	t.Logf("manual failover: recovered after %d tries", recovered(t, in, c, "ann"))
	writeOnMaster(t, ss, in, c, "2")

	ss.Master.DoOK(t, "WAIT", "1", "5000")
	ss.Master.Kill(t)
	start := time.Now()
	res := c.with().do(in.h, "GET", "/whoami")
	took := time.Since(start)
	t.Logf("read with the master killed: %d in %v", res.StatusCode, took)
	if res.StatusCode != http.StatusServiceUnavailable && res.StatusCode != 200 {
		t.Errorf("read with the master killed answered %d", res.StatusCode)
	}
	if took > 10*timeout {
		t.Errorf("read with the master killed took %v: a hang", took)
	}
	ss.WaitPromoted(t)
	t.Logf("automatic failover after a kill: recovered after %d tries, %v after the kill",
		recovered(t, in, c, "ann"), time.Since(start))
	writeOnMaster(t, ss, in, c, "3")
}

// writeOnMaster writes cart=v through in, retrying a bounded time while
// the store still talks to a demoted master, and checks that the value
// reads back and that the master holds a new ciphertext of it.
func writeOnMaster(t *testing.T, ss *redistest.SentinelSet, in *instance, c *client, v string) {
	t.Helper()
	stored := func() string {
		keys := sessionKeys(ss.Master.Keys(t))
		if len(keys) != 1 {
			t.Fatalf("session keys on the master %s: %v", ss.Master.Addr, keys)
		}
		return ss.Master.DoOK(t, "HGET", keys[0], "cart").Str
	}
	before := stored()
	var last int
	for range 100 {
		if last = c.do(in.h, "POST", put("cart", v)).StatusCode; last == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != 200 {
		t.Fatalf("write after failover: status %d", last)
	}
	if got := body(c.do(in.h, "GET", "/get?k=cart")); got != v {
		t.Errorf("cart = %q, want %q", got, v)
	}
	// A nonce and a tag around the JSON string.
	if got := stored(); got == before || len(got) != len(`"`+v+`"`)+28 {
		t.Errorf("cart on the master = %q (before the write %q), want a new ciphertext of %q", got, before, v)
	}
}
