package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// load drives the virtual users through nginx.
type load struct {
	base  string
	rec   *recorder
	hist  *history // nil: record no history (the prober)
	tr    *http.Transport
	store *storage // nil: do not look into Redis

	clients atomic.Int64 // browsers made, for their loopback addresses
}

func newLoad(base string, rec *recorder, hist *history) *load {
	return &load{base: base, rec: rec, hist: hist, tr: &http.Transport{
		MaxIdleConns:        2000,
		MaxIdleConnsPerHost: 2000,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// client returns a new browser: its own cookie jar, no redirects
// followed, and its own loopback address (127.2.x.y), as every user has an
// address of their own: the per-address rate and connection limits of
// deploy/nginx.conf then see one user per address, not 300 users as one
// client.
func (l *load) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	n := l.clients.Add(1)
	ip := net.IPv4(127, 2, byte(n/250), byte(n%250+1))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	tr := l.tr.Clone()
	tr.DialContext = d.DialContext
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// answer is one response, read whole; code 0: none came.
type answer struct {
	code         int
	body         []byte
	call, at     time.Time // when the request was sent and the answer read
	method, path string
	instance     string
}

// do sends one request, records it, and returns its answer; ok is false
// when there was no answer.
func (l *load) do(c *http.Client, method, path, ctype, body string, hdr ...string) (answer, bool) {
	req, err := http.NewRequest(method, l.base+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := c.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(start)
	if err != nil {
		l.rec.add(sample{at: start, took: took, class: transportKind(err), write: method == "POST"})
		return answer{call: start, at: time.Now()}, false
	}
	class, ok := classify(resp)
	l.rec.add(sample{at: start, took: took, class: class, ok: ok, write: method == "POST"})
	inst := resp.Header.Get("X-Instance")
	return answer{code: resp.StatusCode, body: b, call: start, at: time.Now(), method: method, path: path + " (" + inst + ")", instance: inst}, true
}

// classify names an answer's class and whether the invariant allows it:
// 2xx, 3xx, 401, 429, or 503 with Retry-After.
func classify(resp *http.Response) (string, bool) {
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return "2xx", true
	case c >= 300 && c < 400:
		return "3xx", true
	case c == 401 || c == 429:
		return strconv.Itoa(c), true
	case c == 503 && resp.Header.Get("Retry-After") != "":
		return "503", true
	case c == 503:
		return "503 without Retry-After", false
	default:
		return "status " + strconv.Itoa(c), false
	}
}

// transportKind names a request that got no answer.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (EOF)"
	case errors.As(err, &ne) && ne.Timeout():
		return "client timeout (20 s)"
	}
	return "transport: " + err.Error()
}

// user is one virtual user: device a does the work, device b is its other
// session, which a revokes now and then.
type user struct {
	l    *load
	name string
	a, b *http.Client
	// The history of each browser's sessions (nil for the prober).
	ha, hb *track
	in     bool // a is logged in
	bIn    bool // b is logged in
	// What a's current session must hold, from acknowledged writes:
	counters map[string]acked // the highest value an increment returned
	writes   map[string]acked // the last sequence number written
	loginAt  time.Time
	seq      int64
	// unsure is set when a logout got no clear answer (503, timeout): it
	// may have been applied, so a later 401 is not a loss.
	unsure bool
}

// acked is a value and when it was acknowledged.
type acked struct {
	v  int64
	at time.Time
}

func (l *load) user(ctx context.Context, id int, interval time.Duration) {
	u := &user{l: l, name: fmt.Sprintf("vu%03d", id), a: l.client(), b: l.client()}
	u.ha, u.hb = l.hist.track(u.name+"-a"), l.hist.track(u.name+"-b")
	u.reset()
	// Spread the users' start over one interval.
	sleep(ctx, time.Duration(rand.Int64N(int64(interval)+1)))
	for ctx.Err() == nil {
		u.step()
		sleep(ctx, interval/2+time.Duration(rand.Int64N(int64(interval)+1)))
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (u *user) reset() {
	u.counters = make(map[string]acked)
	u.writes = make(map[string]acked)
}

// login logs c in as the user; it reports whether the login was
// acknowledged (303).
func (u *user) login(c *http.Client) bool {
	before := u.cookieHeader(c)
	r, ok := u.l.do(c, "POST", "/login", "application/x-www-form-urlencoded", url.Values{"name": {u.name}}.Encode())
	t := u.ha
	if c == u.b {
		t = u.hb
	}
	t.login(before, u.cookieHeader(c), r, ok)
	return ok && r.code == http.StatusSeeOther
}

// step does one action of the user.
func (u *user) step() {
	if !u.in {
		if u.in = u.login(u.a); u.in {
			u.reset()
			u.unsure = false
			u.loginAt = time.Now()
		}
		return
	}
	if !u.bIn {
		u.bIn = u.login(u.b)
		return
	}
	switch p := rand.IntN(100); {
	case p < 30:
		u.read()
	case p < 60:
		u.incr()
	case p < 80:
		u.write()
	case p < 92:
		u.list()
	case p < 96:
		u.logout()
	default:
		u.revoke()
	}
}

// gone handles a 401 on a's session, which nobody ended: a lost session.
func (u *user) gone(r answer) {
	if u.unsure {
		u.l.rec.note("logout answered 503 or not at all, yet applied")
		u.in = false
		return
	}
	kind := "session"
	if u.l.store != nil && u.l.store.stillStored(u.name, u.loginAt) {
		// Not lost: an instance read it as missing, and the user was
		// logged out while the session stays in Redis.
		kind = "session read as missing (still in Redis)"
	}
	u.l.rec.lost(loss{acked: u.loginAt, found: r.at, kind: kind, amount: 1,
		detail: fmt.Sprintf("%s: %s %s answered %d %s", u.name, r.method, r.path, r.code, strings.TrimSpace(string(r.body)))})
	u.in = false
}

func (u *user) read() {
	r, ok := u.l.do(u.a, "GET", "/api/session", "", "")
	u.ha.read(r, ok)
	if !ok || r.code != 200 {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) != nil {
		u.l.rec.note("unreadable GET /api/session")
		return
	}
	if _, ok := m["user_name"]; !ok {
		u.gone(r)
		return
	}
	check := func(kind string, want map[string]acked) {
		for k, a := range want {
			got, err := strconv.ParseInt(string(m[k]), 10, 64)
			if err != nil {
				got = 0
			}
			if got < a.v {
				u.l.rec.lost(loss{acked: a.at, found: r.at, kind: kind, amount: a.v - got})
				want[k] = acked{got, r.at} // count each loss once
			}
		}
	}
	check("increment", u.counters)
	check("write", u.writes)
}

func (u *user) incr() {
	k := "c" + strconv.Itoa(rand.IntN(3))
	r, ok := u.l.do(u.a, "POST", "/api/incr", "application/json", `{"key":"`+k+`"}`)
	u.ha.incr(k, 1, r, ok)
	if !ok {
		return
	}
	switch r.code {
	case 200:
		var v struct{ Value int64 }
		if json.Unmarshal(r.body, &v) != nil {
			return
		}
		if prev := u.counters[k]; v.Value <= prev.v {
			u.l.rec.lost(loss{acked: prev.at, found: r.at, kind: "increment", amount: prev.v - v.Value + 1})
		}
		u.counters[k] = acked{v.Value, r.at}
	case 401:
		u.gone(r)
	}
}

func (u *user) write() {
	k := "w" + strconv.Itoa(rand.IntN(3))
	u.seq++
	v := strconv.FormatInt(u.seq, 10)
	r, ok := u.l.do(u.a, "POST", "/api/session", "application/json", `{"`+k+`":`+v+`}`)
	u.ha.put(k, v, r, ok)
	if ok && r.code == 200 {
		u.writes[k] = acked{u.seq, r.at}
	}
}

type sessionList struct {
	Sessions []struct {
		Handle  string `json:"handle"`
		Current bool   `json:"current"`
	} `json:"sessions"`
}

func (u *user) list() (sessionList, bool) {
	var l sessionList
	r, ok := u.l.do(u.a, "GET", "/api/sessions", "", "")
	u.ha.alive(r, ok)
	if !ok {
		return l, false
	}
	if r.code == 401 {
		u.gone(r)
		return l, false
	}
	return l, r.code == 200 && json.Unmarshal(r.body, &l) == nil
}

// cookieHeader returns c's cookies for the site as a Cookie header value.
func (u *user) cookieHeader(c *http.Client) string {
	base, _ := url.Parse(u.l.base)
	var parts []string
	for _, ck := range c.Jar.Cookies(base) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// servedAs asks whoami with the cookie header alone (a copy of a browser
// that kept the old cookie) and reports whether the user is still served;
// ok is false when there was no clear answer. It records the answer in p,
// the partition of the session that cookie belonged to, of track t.
func (u *user) servedAs(cookie string, t *track, p *partition) (served, ok bool) {
	bare := &http.Client{Transport: u.l.tr, Timeout: 20 * time.Second}
	r, got := u.l.do(bare, "GET", "/api/whoami", "", "", "Cookie", cookie)
	if !got || r.code != 200 {
		return false, false
	}
	var w struct{ User *string }
	if json.Unmarshal(r.body, &w) != nil {
		return false, false
	}
	served = w.User != nil && *w.User == u.name
	t.served(p, r, served)
	return served, true
}

func (u *user) logout() {
	old := u.cookieHeader(u.a)
	r, ok := u.l.do(u.a, "POST", "/logout", "application/x-www-form-urlencoded", "")
	p := u.ha.logout(r, ok)
	if !ok || r.code != http.StatusSeeOther {
		u.unsure = true // not acknowledged: maybe applied, maybe not
		return
	}
	u.in = false
	if served, ok := u.servedAs(old, u.ha, p); ok && served {
		u.l.rec.staleServe(stale{acked: r.at, found: time.Now(), kind: "logout"})
	}
}

func (u *user) revoke() {
	// b's own list names b's session as current: revoke exactly that one
	// (a's list may hold other sessions of the user, such as one whose
	// login was applied but not acknowledged).
	r, ok := u.l.do(u.b, "GET", "/api/sessions", "", "")
	u.hb.alive(r, ok)
	if !ok || r.code == 401 {
		u.bIn = r.code != 401
		return
	}
	var l sessionList
	if r.code != 200 || json.Unmarshal(r.body, &l) != nil {
		return
	}
	id := ""
	for _, s := range l.Sessions {
		if s.Current {
			id = s.Handle
		}
	}
	if id == "" {
		return
	}
	bCookie := u.cookieHeader(u.b)
	r, ok = u.l.do(u.a, "POST", "/api/sessions/revoke", "application/json", `{"handle":"`+id+`"}`)
	u.ha.alive(r, ok)
	u.hb.revoke(r, ok)
	if !ok || r.code != 200 {
		if ok && r.code == 401 && !oldLogin(r) {
			u.gone(r)
		}
		return
	}
	u.bIn = false
	if served, ok := u.servedAs(bCookie, u.hb, u.hb.current()); ok && served {
		u.l.rec.staleServe(stale{acked: r.at, found: time.Now(), kind: "revoke"})
	}
}

// probeUsers is the number of the prober's users: with Cluster, their
// sessions fall on every shard (all three with 6 users, most of the time),
// so that a fault of one shard shows in the probes.
const probeUsers = 6

// probe is the prober: every 250 ms each of its users reads and increments
// its own session, and the round counts as a success only when every call
// did; the fault table's recovery times come from it.
func (l *load) probe(ctx context.Context) {
	quiet := &load{base: l.base, rec: newRecorder(), tr: l.tr} // not counted in the load's figures nor in the history
	var users []*user
	for i := range probeUsers {
		users = append(users, &user{l: quiet, name: fmt.Sprintf("prober%d", i), a: l.client()})
	}
	for ctx.Err() == nil {
		at := time.Now()
		all := true
		for _, u := range users {
			ok := u.in || u.login(u.a)
			u.in = ok
			if ok {
				r, got := u.l.do(u.a, "GET", "/api/session", "", "")
				ok = got && r.code == 200 && strings.Contains(string(r.body), "user_name")
			}
			if ok {
				r, got := u.l.do(u.a, "POST", "/api/incr", "application/json", `{"key":"p"}`)
				ok = got && r.code == 200
				if got && r.code == 401 {
					u.in = false
				}
			}
			all = all && ok
		}
		l.rec.probed(probe{at: at, ok: all})
		sleep(ctx, 250*time.Millisecond)
	}
}
