package redisstore

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

// testKey signs the cookies of every instance of a test, as a shared
// secret does in production.
var testKey = []byte("0123456789abcdef0123456789abcdef-redisstore-test")

// instance is one application instance: its own Store (own connections)
// and Manager in front of a shared Redis.
type instance struct {
	m *session.Manager
	h http.Handler
}

func newInstance(t testing.TB, url string, timeout time.Duration, routes http.Handler) *instance {
	t.Helper()
	return newInstanceWith(t, url, timeout, routes, Options{})
}

// newInstanceWith is newInstance with a store configured by opts.
func newInstanceWith(t testing.TB, url string, timeout time.Duration, routes http.Handler, opts Options) *instance {
	t.Helper()
	st := newStore(t, url, opts)
	m := session.New(st, session.Config{
		Keys:           [][]byte{testKey},
		InsecureCookie: true,
		StoreTimeout:   timeout,
	})
	if routes == nil {
		routes = appRoutes()
	}
	return &instance{m: m, h: m.Handler(routes)}
}

// appRoutes is the application the tests run: a small key-value API on
// the session, login (renew and bind a user) and logout.
func appRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, _ := session.FromContext(r.Context()).String(r.FormValue("k"))
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /all", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(session.FromContext(r.Context()).Values())
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, session.FromContext(r.Context()).User())
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		// A store failure is left to the middleware, which answers 503.
		session.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		_ = s.Login(r.FormValue("u")) == nil && s.Put("user_name", r.FormValue("u")) == nil
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy()
	})
	return mux
}

// client is a browser with one session cookie. It is safe for concurrent
// use.
type client struct {
	mu     sync.Mutex
	cookie *http.Cookie
}

// do sends one request to h with the client's cookie and keeps the
// cookie that the response sets or clears.
func (c *client) do(h http.Handler, method, target string) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	c.mu.Lock()
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	c.mu.Unlock()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	c.mu.Lock()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			c.cookie = nil
		} else {
			c.cookie = ck
		}
	}
	c.mu.Unlock()
	return res
}

// with returns a client holding c's current cookie, to replay it later.
func (c *client) with() *client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &client{cookie: c.cookie}
}

func body(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// must fails the test unless res has the status want, and returns its
// body.
func must(t testing.TB, res *http.Response, want int, what string) string {
	t.Helper()
	b := body(res)
	if res.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body %q", what, res.StatusCode, want, b)
	}
	return b
}

func put(k, v string) string { return "/put?k=" + url.QueryEscape(k) + "&v=" + url.QueryEscape(v) }

// TestTwoInstancesConcurrentWrites: two instances write different keys of
// one session at the same moment, 1000 times; no write is lost.
func TestTwoInstancesConcurrentWrites(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	a := newInstance(t, srv.URL(), time.Second, nil)
	b := newInstance(t, srv.URL(), time.Second, nil)
	c := &client{}
	must(t, c.do(a.h, "POST", put("start", "0")), 200, "first write")
	const rounds = 100 // 201 fields: within the default MaxFields (256)
	for i := range rounds {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, in := range []*instance{a, b} {
			wg.Go(func() {
				res := c.with().do(in.h, "POST", put(fmt.Sprintf("%c%d", 'a'+j, i), fmt.Sprint(i)))
				codes[j] = res.StatusCode
			})
		}
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("round %d: statuses %v", i, codes)
		}
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(must(t, c.do(b.h, "GET", "/all"), 200, "read all")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*rounds+1 {
		t.Errorf("session holds %d keys, want %d", len(got), 2*rounds+1)
	}
	for i := range rounds {
		for _, p := range []string{"a", "b"} {
			if k := fmt.Sprintf("%s%d", p, i); got[k] != fmt.Sprint(i) {
				t.Fatalf("key %s = %q, want %q: a concurrent write was lost", k, got[k], fmt.Sprint(i))
			}
		}
	}
}

// TestDestroyRacingWrites: 100 requests that loaded the session before a
// logout write after it, or while it runs, on two instances; nothing of the
// session is left in Redis and no request fails.
func TestDestroyRacingWrites(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	const writers = 100
	loaded := make(chan struct{}, writers)
	release := make(chan struct{})
	routes := appRoutes().(*http.ServeMux)
	routes.HandleFunc("POST /slowput", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Load(r.Context())
		loaded <- struct{}{}
		<-release
		s.Put(r.FormValue("k"), "late")
	})
	a := newInstance(t, srv.URL(), 5*time.Second, routes)
	b := newInstance(t, srv.URL(), 5*time.Second, routes)
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(a.h, "POST", put("k", "v")), 200, "write")

	var wg sync.WaitGroup
	codes := make(chan int, writers+1)
	for i := range writers {
		in := []*instance{a, b}[i%2]
		wg.Go(func() {
			codes <- c.with().do(in.h, "POST", fmt.Sprintf("/slowput?k=w%d", i)).StatusCode
		})
	}
	for range writers {
		<-loaded
	}
	// Release the writers while the logout runs: some write before it,
	// some after.
	logout := c.with()
	wg.Go(func() { codes <- logout.do(b.h, "POST", "/logout").StatusCode })
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("a request answered %d", code)
		}
	}
	if keys := sessionKeys(srv.Keys(t)); len(keys) != 0 {
		t.Errorf("sessions left in Redis after logout: %v", keys)
	}
	if got := body(c.do(a.h, "GET", "/whoami")); got != "" {
		t.Errorf("the logged-out cookie is user %q", got)
	}
}

// TestRenewRacingReads: requests that carry the old cookie while the
// session is renewed (on another instance) get a session or none, never
// an error.
func TestRenewRacingReads(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	a := newInstance(t, srv.URL(), 5*time.Second, nil)
	b := newInstance(t, srv.URL(), 5*time.Second, nil)
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(a.h, "POST", put("cart", "3 apples")), 200, "write")
	old := c.with()

	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for i := range 20 {
		in := []*instance{a, b}[i%2]
		wg.Go(func() {
			for range 20 {
				res := old.with().do(in.h, "GET", "/whoami")
				mu.Lock()
				seen[fmt.Sprintf("%d %q", res.StatusCode, body(res))]++
				mu.Unlock()
			}
		})
	}
	for range 5 {
		must(t, c.do(b.h, "POST", "/login?u=ann"), 200, "renew")
	}
	wg.Wait()
	t.Logf("answers to the old cookie: %v", seen)
	for k := range seen {
		if k != `200 "ann"` && k != `200 ""` {
			t.Errorf("a read with the old cookie during renewal answered %s", k)
		}
	}
	if got := body(old.do(a.h, "GET", "/whoami")); got != "" {
		t.Errorf("old cookie after renewal is user %q, want anonymous", got)
	}
	if got := body(c.do(a.h, "GET", "/get?k=cart")); got != "3 apples" {
		t.Errorf("renewed session lost its data: cart = %q", got)
	}
}

// unavailable checks that res is the Manager's 503 and shows nothing of
// the store's error.
func unavailable(t *testing.T, res *http.Response, what string, leaks ...string) {
	t.Helper()
	b := body(res)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("%s: status %d, Retry-After %q; want 503 with Retry-After", what, res.StatusCode, res.Header.Get("Retry-After"))
	}
	for _, l := range append(leaks, "redis", "refused", "timeout", "deadline") {
		if strings.Contains(strings.ToLower(b), strings.ToLower(l)) {
			t.Errorf("%s: body %q shows %q", what, b, l)
		}
	}
}

// recovered waits, a bounded time, for a logged-in read to succeed again
// through the same instance, and returns how many tries it took.
func recovered(t *testing.T, in *instance, c *client, user string) int {
	t.Helper()
	tries := 0
	err := testenv.Eventually(15*time.Second, 50*time.Millisecond, func() error {
		tries++
		res := c.with().do(in.h, "GET", "/whoami")
		if b := body(res); res.StatusCode != 200 || b != user {
			return fmt.Errorf("status %d, user %q", res.StatusCode, b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no recovery: %v", err)
	}
	return tries
}

// TestRedisStopped: with Redis down, requests that need the session
// answer 503 within the timeout; once Redis is back (its AOF kept the
// session) they succeed through the same store.
func TestRedisStopped(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{AOF: true})
	const timeout = 500 * time.Millisecond
	in := newInstance(t, srv.URL(), timeout, nil)
	c := &client{}
	must(t, c.do(in.h, "POST", "/login?u=ann"), 200, "login")

	srv.Stop(t)
	for _, what := range []string{"GET /whoami", "POST /put"} {
		method, path, _ := strings.Cut(what, " ")
		if method == "POST" {
			path = put("k", "v")
		}
		start := time.Now()
		res := c.with().do(in.h, method, path)
		took := time.Since(start)
		t.Logf("%s with Redis stopped: %d in %v (timeout %v)", what, res.StatusCode, took, timeout)
		unavailable(t, res, what+" with Redis stopped", srv.Addr)
		if took > 10*timeout {
			t.Errorf("%s took %v: a hang, not a timeout", what, took)
		}
	}
	// A new visitor, whose first write needs the store, too.
	unavailable(t, (&client{}).do(in.h, "POST", put("k", "v")), "anonymous write with Redis stopped")

	srv.Start(t)
	t.Logf("recovered after %d tries", recovered(t, in, c, "ann"))
}

// TestRedisHung: with Redis frozen (SIGSTOP: connections accepted, nothing
// answered) requests answer 503 within the timeout, not a hang; after
// SIGCONT they succeed again through the same store.
func TestRedisHung(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	const timeout = 500 * time.Millisecond
	in := newInstance(t, srv.URL(), timeout, nil)
	c := &client{}
	must(t, c.do(in.h, "POST", "/login?u=ann"), 200, "login")

	srv.Pause(t)
	const parallel = 20
	type answer struct {
		res  *http.Response
		took time.Duration
	}
	answers := make(chan answer, parallel)
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Go(func() {
			start := time.Now()
			var res *http.Response
			if i%2 == 0 {
				res = c.with().do(in.h, "GET", "/whoami")
			} else {
				res = c.with().do(in.h, "POST", put("k", "v"))
			}
			answers <- answer{res, time.Since(start)}
		})
	}
	wg.Wait()
	close(answers)
	var slowest time.Duration
	for a := range answers {
		unavailable(t, a.res, "request with Redis hung", srv.Addr)
		slowest = max(slowest, a.took)
	}
	t.Logf("%d requests with Redis hung: all answered, slowest in %v (timeout %v)", parallel, slowest, timeout)
	if slowest > 10*timeout {
		t.Errorf("slowest answer took %v: a hang, not a timeout", slowest)
	}
	srv.Resume(t)
	t.Logf("recovered after %d tries", recovered(t, in, c, "ann"))
}

// TestAOFRestartKeepsSessions: a Redis that crashes (SIGKILL) and restarts
// from its AOF still has the session, values and user index.
func TestAOFRestartKeepsSessions(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{AOF: true})
	in := newInstance(t, srv.URL(), time.Second, nil)
	c := &client{}
	must(t, c.do(in.h, "POST", "/login?u=ann"), 200, "login")
	must(t, c.do(in.h, "POST", put("cart", "2 pears")), 200, "write")
	srv.Kill(t)
	srv.Start(t)
	recovered(t, in, c, "ann")
	if got := body(c.do(in.h, "GET", "/get?k=cart")); got != "2 pears" {
		t.Errorf("cart after restart = %q", got)
	}
	list, err := in.m.Sessions(t.Context(), "ann")
	if err != nil || len(list) != 1 {
		t.Errorf("sessions of ann after restart: %v, %v; want 1", list, err)
	}
}
