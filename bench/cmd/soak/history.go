package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// history records every session operation of the virtual users for the
// linearizability check (check.go): its input, its output, and when it was
// sent and answered, on this process's monotonic clock. It is split into
// partitions, one per browser session: from a login with an empty cookie
// jar to the acknowledged logout that empties it again (a login with a
// cookie in the jar renews a session that still lives, values kept, so it
// stays in the same partition).
type history struct {
	start time.Time // the origin of the timestamps (monotonic)
	mu    sync.Mutex
	parts []*partition
}

// partition is the history of one browser session.
type partition struct {
	name string // user, browser and the session's number: "vu042-a3"
	ops  []porcupine.Operation
}

// never is the return time of an operation that got no answer: it may take
// effect at any time after its call.
const never = math.MaxInt64

// Client numbers of the operations in a partition, shown as the rows of the
// visualization.
const (
	ownBrowser   = iota // the browser of the session
	otherBrowser        // the user's other browser (revoke)
	cookieCopy          // a copy of the cookie, after a logout or revoke
)

func newHistory() *history { return &history{start: time.Now()} }

// at returns t on the history's clock, in microseconds.
func (h *history) at(t time.Time) int64 { return int64(t.Sub(h.start) / time.Microsecond) }

// track is one browser of a virtual user as the history sees it. Each is
// used by its user's goroutine only; a nil track records nothing (the
// prober's users).
type track struct {
	h    *history
	name string
	n    int        // the browser's sessions so far
	cur  *partition // the current session; nil before the first login
}

func (h *history) track(name string) *track {
	if h == nil {
		return nil
	}
	return &track{h: h, name: name}
}

// add records an operation in p.
func (t *track) add(p *partition, client int, in opIn, out opOut, r answer) {
	ret := t.h.at(r.at)
	if out.unknown {
		ret = never
	}
	meta := "no answer"
	if r.code != 0 {
		meta = fmt.Sprintf("HTTP %d from %s", r.code, r.instance)
	}
	p.ops = append(p.ops, porcupine.Operation{ClientId: client, Input: in, Output: out,
		Call: t.h.at(r.call), Return: ret, Metadata: meta})
}

// outcome sorts the answer to a request that may change the session:
// done (the answer wanted), unknown (no answer or 5xx: it may have been
// applied or not), or neither (a 4xx such as nginx's 429: not applied).
func outcome(r answer, got bool, want int) (done, unknown bool) {
	switch {
	case !got || r.code >= 500:
		return false, true
	case r.code == want:
		return true, false
	}
	return false, false
}

// login records a login; before and after are the browser's cookies
// around it.
func (t *track) login(before, after string, r answer, got bool) {
	if t == nil {
		return
	}
	done, unknown := outcome(r, got, http.StatusSeeOther)
	if after != before && after != "" {
		done, unknown = true, false // a new token came: the browser holds a session
	}
	if !done && !unknown {
		return
	}
	if before == "" || t.cur == nil {
		if !done {
			return // nothing in the jar, nothing got: this browser holds nothing
		}
		t.n++
		t.cur = &partition{name: fmt.Sprintf("%s%d", t.name, t.n)}
		t.h.mu.Lock()
		t.h.parts = append(t.h.parts, t.cur)
		t.h.mu.Unlock()
	}
	// alive: the browser got the session's token (the answer wanted).
	t.add(t.cur, ownBrowser, opIn{kind: opLogin}, opOut{unknown: unknown, alive: done}, r)
}

// current returns the partition of the browser's session, nil when there is
// none to record into.
func (t *track) current() *partition {
	if t == nil {
		return nil
	}
	return t.cur
}

// read records GET /api/session; only an answered read tells something.
func (t *track) read(r answer, got bool) {
	p := t.current()
	if p == nil || !got || r.code != http.StatusOK {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) != nil {
		return
	}
	out := opOut{values: map[string]string{}}
	for k, v := range m {
		switch k {
		case "user_name":
			out.alive = true
		case "login_time":
		default:
			out.values[k] = string(v)
		}
	}
	t.add(p, ownBrowser, opIn{kind: opRead}, out, r)
}

// put records POST /api/session {key: value}; its answer holds the
// session's values, with the user's name unless the session had ended.
func (t *track) put(key, value string, r answer, got bool) {
	p := t.current()
	if p == nil {
		return
	}
	done, unknown := outcome(r, got, http.StatusOK)
	var out opOut
	switch {
	case done:
		var m map[string]json.RawMessage
		if json.Unmarshal(r.body, &m) != nil {
			return
		}
		_, out.alive = m["user_name"]
	case unknown:
		out.unknown = true
	case r.code != http.StatusUnauthorized:
		return
	}
	t.add(p, ownBrowser, opIn{kind: opPut, key: key, value: value}, out, r)
}

// incr records POST /api/incr.
func (t *track) incr(key string, by int64, r answer, got bool) {
	p := t.current()
	if p == nil {
		return
	}
	done, unknown := outcome(r, got, http.StatusOK)
	var out opOut
	switch {
	case done:
		var v struct{ Value int64 }
		if json.Unmarshal(r.body, &v) != nil {
			return
		}
		out.alive, out.value = true, v.Value
	case unknown:
		out.unknown = true
	case r.code != http.StatusUnauthorized:
		return
	}
	t.add(p, ownBrowser, opIn{kind: opIncr, key: key, by: by}, out, r)
}

// alive records an answer that tells only whether the session lives: a
// 200 (or the 404 of a revoke) that needed the login, or a 401.
func (t *track) alive(r answer, got bool) {
	p := t.current()
	if p == nil || !got {
		return
	}
	switch r.code {
	case http.StatusOK, http.StatusNotFound, http.StatusUnauthorized:
		t.add(p, ownBrowser, opIn{kind: opAlive}, opOut{alive: r.code != http.StatusUnauthorized || oldLogin(r)}, r)
	}
}

// oldLogin reports whether r is the 401 of a route that needs a recent
// login, to a session that lives but whose login is older (whatsup's
// -reauth-after, 15 min by default).
func oldLogin(r answer) bool {
	return r.code == http.StatusUnauthorized && strings.Contains(string(r.body), "recent login required")
}

// logout records POST /logout and returns the partition of the session it
// ended, for the check with a copy of the cookie that follows.
func (t *track) logout(r answer, got bool) *partition {
	p := t.current()
	if p == nil {
		return nil
	}
	if done, unknown := outcome(r, got, http.StatusSeeOther); done || unknown {
		t.add(p, ownBrowser, opIn{kind: opLogout}, opOut{unknown: unknown}, r)
	}
	return p
}

// revoke records, in this browser's session, its revocation from the
// other browser: 200 revoked it, 404 found no such live session.
func (t *track) revoke(r answer, got bool) {
	p := t.current()
	if p == nil {
		return
	}
	done, unknown := outcome(r, got, http.StatusOK)
	switch {
	case done || unknown:
		t.add(p, otherBrowser, opIn{kind: opRevoke}, opOut{unknown: unknown}, r)
	case r.code == http.StatusNotFound:
		t.add(p, otherBrowser, opIn{kind: opAlive}, opOut{alive: false}, r)
	}
}

// served records whoami with a copy of the cookie of p's session.
func (t *track) served(p *partition, r answer, served bool) {
	if t != nil && p != nil {
		t.add(p, cookieCopy, opIn{kind: opAlive}, opOut{alive: served}, r)
	}
}

// partitions returns the recorded partitions.
func (h *history) partitions() []*partition {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.parts
}
