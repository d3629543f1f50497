package main

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op is an operation of a test history; times in milliseconds.
func op(call, ret int64, in opIn, out opOut) porcupine.Operation {
	if ret != never {
		ret *= 1000
	}
	return porcupine.Operation{Input: in, Output: out, Call: call * 1000, Return: ret}
}

var (
	login    = opIn{kind: opLogin}
	read     = opIn{kind: opRead}
	alive    = opIn{kind: opAlive}
	logout   = opIn{kind: opLogout}
	revoke   = opIn{kind: opRevoke}
	ok       = opOut{}
	loggedIn = opOut{alive: true} // the browser got its token
	noReply  = opOut{unknown: true}
	isLive   = opOut{alive: true}
	isDead   = opOut{}
)

func incr(key string) opIn       { return opIn{kind: opIncr, key: key, by: 1} }
func put(key, value string) opIn { return opIn{kind: opPut, key: key, value: value} }
func value(v int64) opOut        { return opOut{alive: true, value: v} }
func values(kv ...string) opOut  { return opOut{alive: true, values: pairs(kv)} }
func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestModel: the model accepts histories that one store holding every
// session could give, and rejects each anomaly that the soak's invariants
// look for, and others that they miss.
func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"a session's life", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, put("w0", "7"), isLive),
			op(6, 7, incr("c0"), value(2)), op(8, 9, read, values("c0", "2", "w0", "7")),
			op(10, 11, alive, isLive), op(12, 13, logout, ok), op(14, 15, alive, isDead),
			op(16, 17, read, isDead), op(18, 19, incr("c0"), isDead), op(20, 21, put("w0", "8"), isDead),
		}, true},
		{"an increment without an answer, applied", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, never, incr("c0"), noReply), op(4, 5, read, values("c0", "1")),
		}, true},
		{"an increment without an answer, never applied", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, never, incr("c0"), noReply), op(4, 5, read, values()),
			op(6, 7, incr("c0"), value(1)), op(8, 9, read, values("c0", "1")),
		}, true},
		{"an increment without an answer, applied after a later read", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, never, incr("c0"), noReply), op(4, 5, read, values()),
			op(6, 7, read, values("c0", "1")),
		}, true},
		{"a logout without an answer, applied later", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, never, logout, noReply), op(4, 5, read, values()),
			op(6, 7, incr("c0"), isDead),
		}, true},
		{"a read concurrent with an increment sees it", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 5, incr("c0"), value(1)), op(3, 4, read, values("c0", "1")),
		}, true},
		{"a read concurrent with an increment does not see it", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 5, incr("c0"), value(1)), op(3, 4, read, values()),
		}, true},
		{"a login on a live session keeps its values", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, login, loggedIn), op(6, 7, read, values("c0", "1")),
		}, true},
		{"a login after the end starts empty", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, logout, ok),
			op(6, 7, login, loggedIn), op(8, 9, read, values()),
		}, true},
		{"a login without an answer moves the session away", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, never, login, noReply),
			op(6, 7, read, isDead),
		}, true},
		{"revoked from the other browser", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, alive, isLive), op(4, 5, revoke, ok), op(6, 7, alive, isDead),
			op(8, 9, login, loggedIn), op(10, 11, read, values()),
		}, true},

		{"an acknowledged increment lost", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, read, values()),
		}, false},
		{"an increment that does not write (answers the same value twice)", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, incr("c0"), value(1)),
		}, false},
		{"a key older than its last acknowledged write", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, put("w0", "1"), isLive), op(4, 5, put("w0", "2"), isLive),
			op(6, 7, read, values("w0", "1")),
		}, false},
		{"a session vanished unasked", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, read, isDead),
		}, false},
		{"a write refused for want of a session that lives", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, put("w0", "1"), isDead),
		}, false},
		{"served after its logout", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, logout, ok), op(4, 5, alive, isLive),
		}, false},
		{"served after its revoke", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, revoke, ok), op(4, 5, read, values()),
		}, false},
		{"a value read once, then gone (no invariant sees it: the increment got no answer)", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, never, incr("c0"), noReply), op(4, 5, read, values("c0", "1")),
			op(6, 7, read, values()),
		}, false},
		{"a renewal that drops the values", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, login, loggedIn), op(6, 7, read, values()),
		}, false},
		{"a dead session's values", []porcupine.Operation{
			op(0, 1, login, loggedIn), op(2, 3, logout, ok), op(4, 5, read, opOut{values: pairs([]string{"c0", "1"})}),
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := closed(tc.ops)
			if got := porcupine.CheckOperations(sessionModel, ops); got != tc.want {
				t.Errorf("linearizable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStaleness: a read that sees an overwritten value is explained by a
// staleness a little larger than the time from the overwrite's answer to
// the read, and so by a cache window at least as large; by a stated window
// that it overlaps; and not by a window elsewhere.
func TestStaleness(t *testing.T) {
	ops := closed([]porcupine.Operation{
		op(0, 1, login, loggedIn), op(2, 3, put("w0", "1"), isLive), op(4, 5, put("w0", "2"), isLive),
		op(8, 9, read, values("w0", "1")), op(10, 11, read, values("w0", "2")),
	})
	if got := leastStaleness(ops, time.Now().Add(time.Second)); got != 5*time.Millisecond {
		t.Errorf("least staleness = %v, want 5ms (the read was sent 3 ms after the overwrite's answer)", got)
	}
	lost := closed([]porcupine.Operation{
		op(0, 1, login, loggedIn), op(2, 3, incr("c0"), value(1)), op(4, 5, read, values()), op(10000, 10001, read, values()),
	})
	if got := leastStaleness(lost, time.Now().Add(time.Second)); got != noStaleness {
		t.Errorf("least staleness of a loss = %v, want -1 (not explained)", got)
	}
	for _, tc := range []struct {
		window time.Duration
		want   bool
	}{{10 * time.Millisecond, true}, {2 * time.Millisecond, false}} {
		v := checkPartition(&partition{name: "p", ops: ops}, checkConfig{timeout: time.Second, stale: true, cacheWindow: tc.window})
		if v.byCache != tc.want {
			t.Errorf("with a cache window of %v: within it = %v, want %v (least staleness %v)", tc.window, v.byCache, tc.want, v.stale)
		}
	}
	for _, tc := range []struct {
		name string
		w    span
		want bool
	}{
		{"window over the stale read", span{from: 7500, to: 8500}, true},
		{"window before the overwrite", span{from: 0, to: 1500}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relaxed, hit := relaxWindows(ops, []span{tc.w})
			got := hit && porcupine.CheckOperations(sessionModel, relaxed)
			if got != tc.want {
				t.Errorf("explained = %v, want %v", got, tc.want)
			}
		})
	}
}
