package main

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// demo is one whatsup instance on an httptest server with the embedded
// store.
type demo struct {
	t        *testing.T
	srv      *httptest.Server
	store    *memstore.Store
	instance string // the X-Instance every answer carries; default test-1
}

func newDemo(t *testing.T) *demo {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true, StoreTimeout: 500 * time.Millisecond, ErrorFunc: errorAnswer})
	srv := httptest.NewServer(newApp(m, "test-1").handler())
	t.Cleanup(srv.Close)
	return &demo{t: t, srv: srv, store: st}
}

// client is one browser: a cookie jar that does not follow redirects.
func (d *demo) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	code int
	hdr  http.Header
	body string
}

func (d *demo) do(c *http.Client, method, path, ctype, body string, hdr ...string) reply {
	d.t.Helper()
	req, err := http.NewRequest(method, d.srv.URL+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := cmp.Or(d.instance, "test-1"); resp.Header.Get("X-Instance") != want {
		d.t.Errorf("%s %s: X-Instance = %q, want %s", method, path, resp.Header.Get("X-Instance"), want)
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		d.t.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (d *demo) login(c *http.Client, name string) reply {
	d.t.Helper()
	return d.do(c, "POST", "/login", "application/x-www-form-urlencoded", url.Values{"name": {name}}.Encode())
}

func (d *demo) whoami(c *http.Client) *string {
	d.t.Helper()
	r := d.do(c, "GET", "/api/whoami", "", "")
	var v struct {
		User     *string `json:"user"`
		Instance string  `json:"instance"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.code != 200 {
		d.t.Fatalf("whoami: %d %q: %v", r.code, r.body, err)
	}
	if v.Instance != "test-1" {
		d.t.Errorf("whoami instance = %q", v.Instance)
	}
	return v.User
}

func TestLoginFlow(t *testing.T) {
	d := newDemo(t)
	c := d.client()

	r := d.do(c, "GET", "/", "", "")
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/login?next=%2F" {
		t.Fatalf("anonymous GET /: %d Location %q, want 303 to /login?next=%%2F", r.code, r.hdr.Get("Location"))
	}
	r = d.do(c, "GET", "/login?next=/sessions", "", "")
	if r.code != 200 || !strings.Contains(r.body, `name="name"`) || !strings.Contains(r.body, `value="/sessions"`) {
		t.Fatalf("login form: %d %s", r.code, r.body)
	}
	if u := d.whoami(c); u != nil {
		t.Fatalf("whoami before login = %q", *u)
	}
	r = d.do(c, "POST", "/login", "application/x-www-form-urlencoded", "name=Alice+%3Cb%3E&next=%2Fsessions")
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/sessions" {
		t.Fatalf("login: %d Location %q", r.code, r.hdr.Get("Location"))
	}
	r = d.do(c, "GET", "/", "", "")
	if r.code != 200 || !strings.Contains(r.body, "What&#39;s up, Alice &lt;b&gt;?") && !strings.Contains(r.body, "What's up, Alice &lt;b&gt;?") {
		t.Fatalf("GET / after login: %d %s", r.code, r.body)
	}
	if u := d.whoami(c); u == nil || *u != "Alice <b>" {
		t.Fatalf("whoami after login = %v", u)
	}
	var vals map[string]any
	json.Unmarshal([]byte(d.do(c, "GET", "/api/session", "", "").body), &vals)
	if vals["user_name"] != "Alice <b>" || vals["login_time"] == nil {
		t.Fatalf("session after login = %v", vals)
	}
	old := c.Jar.Cookies(mustURL(d.srv.URL))

	r = d.do(c, "POST", "/logout", "", "")
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", r.code, r.hdr.Get("Location"))
	}
	if u := d.whoami(c); u != nil {
		t.Fatalf("whoami after logout = %q", *u)
	}
	// Replay the cookie from before the logout: still anonymous.
	replay := d.client()
	replay.Jar.SetCookies(mustURL(d.srv.URL), old)
	if u := d.whoami(replay); u != nil {
		t.Fatalf("replayed cookie after logout is logged in as %q", *u)
	}
	if r := d.do(replay, "GET", "/", "", ""); r.code != http.StatusSeeOther {
		t.Fatalf("replayed cookie GET /: %d", r.code)
	}
}

func TestLoginRenewsToken(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "bob")
	d.do(c, "POST", "/api/session", "application/json", `{"cart":3}`)
	before := cookieValue(c, d.srv.URL)
	if before == "" {
		t.Fatal("no cookie after a login")
	}
	d.login(c, "bob")
	after := cookieValue(c, d.srv.URL)
	if after == "" || after == before {
		t.Fatalf("login kept the token (session fixation): before %q after %q", before, after)
	}
	var vals map[string]any
	json.Unmarshal([]byte(d.do(c, "GET", "/api/session", "", "").body), &vals)
	if vals["cart"] != float64(3) {
		t.Fatalf("data of the session lost at a second login of the same user: %v", vals)
	}
	fixed := d.client()
	fixed.Jar.SetCookies(mustURL(d.srv.URL), []*http.Cookie{{Name: "session", Value: before}})
	if u := d.whoami(fixed); u != nil {
		t.Fatalf("pre-login token is logged in as %q", *u)
	}
}

func TestLoginValidation(t *testing.T) {
	d := newDemo(t)
	for _, tc := range []struct {
		name, user string
		code       int
	}{
		{"empty", "", 400},
		{"blank", "   ", 400},
		{"too long", strings.Repeat("x", 65), 400},
		{"control character", "ab\x01c", 400},
		{"newline", "ab\nc", 400},
		{"invalid utf-8", "ab\xffc", 400},
		{"64 characters", strings.Repeat("é", 64), 303},
		{"one character", "x", 303},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := d.client()
			r := d.login(c, tc.user)
			if r.code != tc.code {
				t.Fatalf("login %q: %d, want %d", tc.user, r.code, tc.code)
			}
			if tc.code == 400 {
				if !strings.Contains(r.body, `class="error"`) || !strings.Contains(r.body, `name="name"`) {
					t.Fatalf("400 without the form and a message: %s", r.body)
				}
				if u := d.whoami(c); u != nil {
					t.Fatalf("logged in as %q after a refused login", *u)
				}
			}
		})
	}
}

func TestNextIsLocalOnly(t *testing.T) {
	d := newDemo(t)
	for _, tc := range []struct{ next, want string }{
		{"/sessions", "/sessions"},
		{"//evil.example/x", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"", "/"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			r := d.do(d.client(), "POST", "/login", "application/x-www-form-urlencoded", url.Values{"name": {"n"}, "next": {tc.next}}.Encode())
			if r.code != 303 || r.hdr.Get("Location") != tc.want {
				t.Fatalf("next %q: %d Location %q, want %q", tc.next, r.code, r.hdr.Get("Location"), tc.want)
			}
		})
	}
}

func TestSessionsAndLogoutEverywhere(t *testing.T) {
	d := newDemo(t)
	clients := []*http.Client{d.client(), d.client(), d.client()}
	for _, c := range clients {
		d.login(c, "carol")
	}
	other := d.client()
	d.login(other, "dave")

	type list struct {
		Sessions []struct {
			Handle    string `json:"handle"`
			Current   bool   `json:"current"`
			UserAgent string `json:"user_agent"`
		} `json:"sessions"`
	}
	get := func(c *http.Client) list {
		t.Helper()
		r := d.do(c, "GET", "/api/sessions", "", "")
		var l list
		if r.code != 200 || json.Unmarshal([]byte(r.body), &l) != nil {
			t.Fatalf("/api/sessions: %d %s", r.code, r.body)
		}
		return l
	}
	l := get(clients[0])
	if len(l.Sessions) != 3 {
		t.Fatalf("carol has %d sessions, want 3: %+v", len(l.Sessions), l)
	}
	current, victim := "", ""
	for _, s := range l.Sessions {
		if s.Current {
			current = s.Handle
		} else if victim == "" {
			victim = s.Handle
		}
	}
	if current == "" || victim == "" {
		t.Fatalf("no current session marked: %+v", l)
	}
	page := d.do(clients[0], "GET", "/sessions", "", "")
	if page.code != 200 || strings.Count(page.body, `action="/sessions/revoke"`) != 3 || !strings.Contains(page.body, "this session") {
		t.Fatalf("sessions page: %d %s", page.code, page.body)
	}
	// Dave cannot revoke Carol's session.
	if r := d.do(other, "POST", "/api/sessions/revoke", "application/json", `{"handle":"`+victim+`"}`); r.code != 404 {
		t.Fatalf("revoke of another user's session: %d %s", r.code, r.body)
	}
	if r := d.do(clients[0], "POST", "/api/sessions/revoke", "application/json", `{"handle":"`+victim+`"}`); r.code != 200 {
		t.Fatalf("revoke: %d %s", r.code, r.body)
	}
	loggedIn := 0
	for _, c := range clients {
		if d.whoami(c) != nil {
			loggedIn++
		}
	}
	if loggedIn != 2 || d.whoami(clients[0]) == nil {
		t.Fatalf("after revoking one of three: %d logged in, want 2 including the revoker", loggedIn)
	}
	if !strings.Contains(page.body, `action="/logout-others"`) {
		t.Errorf("the sessions page has no \"log out my other sessions\": %s", page.body)
	}
	if r := d.do(clients[0], "POST", "/logout-others", "", "", "Accept", "application/json"); r.code != 200 || !strings.Contains(r.body, `"revoked":1`) {
		t.Fatalf("logout-others: %d %s", r.code, r.body)
	}
	for i, c := range clients {
		if u := d.whoami(c); (u != nil) != (i == 0) {
			t.Fatalf("after logout-others of client 0, client %d is logged in as %v", i, u)
		}
	}
	d.login(clients[1], "carol")
	r := d.do(clients[1], "POST", "/logout-everywhere", "", "", "Accept", "application/json")
	if r.code != 200 || !strings.Contains(r.body, `"revoked":2`) {
		t.Fatalf("logout-everywhere: %d %s", r.code, r.body)
	}
	for i, c := range clients {
		if u := d.whoami(c); u != nil {
			t.Fatalf("client %d still logged in as %q after log out everywhere", i, *u)
		}
	}
	if u := d.whoami(other); u == nil || *u != "dave" {
		t.Fatalf("another user's session was touched: %v", u)
	}
	if r := d.do(d.client(), "GET", "/api/sessions", "", ""); r.code != 401 {
		t.Fatalf("anonymous /api/sessions: %d", r.code)
	}
}

func TestAPISessionMerge(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "amy")
	if r := d.do(c, "POST", "/api/session", "application/json", `{"a":1,"b":"x"}`); r.code != 200 {
		t.Fatalf("merge: %d %s", r.code, r.body)
	}
	if r := d.do(c, "POST", "/api/session", "application/json", `{"b":"y","c":[1,2]}`); r.code != 200 {
		t.Fatalf("merge: %d %s", r.code, r.body)
	}
	var vals map[string]any
	json.Unmarshal([]byte(d.do(c, "GET", "/api/session", "", "").body), &vals)
	if vals["a"] != float64(1) || vals["b"] != "y" || len(vals["c"].([]any)) != 2 {
		t.Fatalf("after two merges: %v", vals)
	}
	for _, tc := range []struct{ name, body string }{
		{"not json", "{"},
		{"array", "[1]"},
		{"null", "null"},
		{"string", `"x"`},
		{"empty key", `{"":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := d.do(c, "POST", "/api/session", "application/json", tc.body); r.code != 400 {
				t.Fatalf("%s: %d %s", tc.body, r.code, r.body)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "lim")
	d.do(c, "POST", "/api/session", "application/json", `{"keep":"me"}`)

	big := `{"x":"` + strings.Repeat("a", 65<<10) + `"}`
	if r := d.do(c, "POST", "/api/session", "application/json", big); r.code != 413 {
		t.Fatalf("body over 64 KiB: %d", r.code)
	}
	if r := d.do(c, "POST", "/login", "application/x-www-form-urlencoded", "name="+strings.Repeat("a", 65<<10)); r.code != 413 {
		t.Fatalf("login body over 64 KiB: %d", r.code)
	}
	half := func(k string) string { return `{"` + k + `":"` + strings.Repeat("b", 40<<10) + `"}` }
	if r := d.do(c, "POST", "/api/session", "application/json", half("one")); r.code != 200 {
		t.Fatalf("40 KiB value: %d %s", r.code, r.body)
	}
	if r := d.do(c, "POST", "/api/session", "application/json", half("two")); r.code != 413 || !strings.Contains(r.body, `"error":"the session would grow past its limits`) {
		t.Fatalf("session over 64 KiB: %d %s; want 413 with the demo's JSON error (errorAnswer)", r.code, r.body)
	}
	var vals map[string]any
	json.Unmarshal([]byte(d.do(c, "GET", "/api/session", "", "").body), &vals)
	if vals["keep"] != "me" || vals["one"] == nil || vals["two"] != nil {
		t.Fatalf("after the refused write the session is %d keys, keep=%v two present=%v", len(vals), vals["keep"], vals["two"] != nil)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	r := d.do(c, "POST", "/login", "application/x-www-form-urlencoded", "name=mallory", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.code != http.StatusForbidden {
		t.Fatalf("cross-site login POST: %d, want 403", r.code)
	}
	if u := d.whoami(c); u != nil {
		t.Fatalf("cross-site POST logged in as %q", *u)
	}
	if r := d.do(c, "POST", "/login", "application/x-www-form-urlencoded", "name=ok", "Sec-Fetch-Site", "same-origin"); r.code != 303 {
		t.Fatalf("same-origin login POST: %d", r.code)
	}
}

func TestBadCookies(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "erin")
	good := cookieValue(c, d.srv.URL)
	flipped := []byte(good)
	flipped[5] ^= 1
	for _, tc := range []struct{ name, value string }{
		{"garbage", "garbage"},
		{"empty", ""},
		{"flipped bit", string(flipped)},
		{"truncated", good[:len(good)-1]},
		{"oversized", strings.Repeat("A", 3000)},
		{"forged signature", good[:44] + strings.Repeat("A", len(good)-44)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := d.client()
			cl.Jar.SetCookies(mustURL(d.srv.URL), []*http.Cookie{{Name: "session", Value: tc.value}})
			if u := d.whoami(cl); u != nil {
				t.Fatalf("cookie %q logged in as %q", tc.name, *u)
			}
			if r := d.do(cl, "GET", "/", "", ""); r.code != 303 {
				t.Fatalf("GET /: %d", r.code)
			}
		})
	}
}

func TestStoreDown(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "frank")
	if r := d.do(c, "GET", "/healthz", "", ""); r.code != 200 || r.body != "ok\n" {
		t.Fatalf("healthz: %d %q", r.code, r.body)
	}
	d.store.Close()
	for _, path := range []string{"/", "/api/whoami", "/api/session", "/sessions"} {
		r := d.do(c, "GET", path, "", "")
		if r.code != 503 || r.hdr.Get("Retry-After") == "" || strings.Contains(r.body, "memstore") {
			t.Errorf("GET %s with the store down: %d Retry-After %q body %q", path, r.code, r.hdr.Get("Retry-After"), r.body)
		}
	}
	// /healthz answers from a check at most healthEvery old.
	time.Sleep(healthEvery)
	if r := d.do(c, "GET", "/healthz", "", ""); r.code != 503 || r.hdr.Get("Retry-After") == "" || strings.Contains(r.body, "memstore") {
		t.Errorf("GET /healthz %v after the store went down: %d Retry-After %q body %q", healthEvery, r.code, r.hdr.Get("Retry-After"), r.body)
	}
	if r := d.do(c, "POST", "/logout", "", ""); r.code != 503 {
		t.Errorf("logout with the store down: %d", r.code)
	}
}

func TestNotFoundHasInstance(t *testing.T) {
	d := newDemo(t)
	if r := d.do(d.client(), "GET", "/nope", "", ""); r.code != 404 {
		t.Fatalf("GET /nope: %d", r.code)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", nil, true},
		{"all", []string{"-addr", "127.0.0.1:9", "-instance", "i1", "-insecure-cookie", "-idle-timeout", "2s", "-absolute-timeout", "5s", "-store-timeout", "100ms"}, true},
		{"negative idle", []string{"-idle-timeout", "-1s"}, false},
		{"zero store timeout", []string{"-store-timeout", "0"}, false},
		{"bad addr", []string{"-addr", "nope"}, false},
		{"unknown flag", []string{"-nope"}, false},
		{"extra argument", []string{"x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if (err == nil) != tc.ok {
				t.Fatalf("parseFlags(%q) = %v", tc.args, err)
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	long := strings.Repeat("k", 32)
	for _, tc := range []struct {
		name, env string
		n         int
		ok        bool
	}{
		{"none", "", 0, true},
		{"one", long, 1, true},
		{"two with spaces", long + " , " + strings.Repeat("j", 40), 2, true},
		{"short", "short", 0, false},
		{"only commas", ",,", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := loadKeys("", tc.env)
			if (err == nil) != tc.ok || len(keys) != tc.n {
				t.Fatalf("loadKeys(%q) = %d keys, %v", tc.env, len(keys), err)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func cookieValue(c *http.Client, base string) string {
	for _, ck := range c.Jar.Cookies(mustURL(base)) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

// TestStoreFlags: the Redis flags reach redisstore.Options.
func TestStoreFlags(t *testing.T) {
	for _, tt := range []struct {
		args        []string
		replicas    int
		waitTimeout time.Duration
		cache       bool
	}{
		{nil, 0, 0, false},
		{[]string{"-wait-replicas", "2"}, 2, 500 * time.Millisecond, false},
		{[]string{"-client-cache", "-wait-replicas", "1"}, 1, 500 * time.Millisecond, true},
	} {
		o, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		ro := o.redisOptions()
		if ro.WaitReplicas != tt.replicas || ro.WaitTimeout != tt.waitTimeout || ro.ClientCache != tt.cache {
			t.Errorf("%q: WaitReplicas %d, WaitTimeout %v, ClientCache %v; want %d, %v, %v",
				tt.args, ro.WaitReplicas, ro.WaitTimeout, ro.ClientCache, tt.replicas, tt.waitTimeout, tt.cache)
		}
	}
}
