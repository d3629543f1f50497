package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

var (
	key1 = []byte("session_test key one, 32 bytes or more")
	key2 = []byte("session_test key two, 32 bytes or more")
)

// fakeClock is the memstore's clock in tests, so that timeouts are tested
// without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fullStore is a store with every optional interface, as memstore is.
type fullStore interface {
	session.Store
	session.Counter
	session.UserIndex
}

// countingStore passes every call to a real store and counts them by
// method name.
type countingStore struct {
	Store fullStore
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
}

// Calls returns the calls counted since the last Reset, by method.
func (c *countingStore) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

func (c *countingStore) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// saveName names a Save call by the write it makes, so that tests can
// count creations, updates and renewals apart.
func saveName(w session.Write) string {
	switch {
	case w.Create:
		return "Create"
	case w.From != "":
		return "Renew"
	}
	return "Update"
}

func (c *countingStore) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	c.add("Load")
	return c.Store.Load(ctx, key, lim)
}

func (c *countingStore) Save(ctx context.Context, w session.Write) (bool, error) {
	c.add(saveName(w))
	return c.Store.Save(ctx, w)
}

func (c *countingStore) Destroy(ctx context.Context, key string) error {
	c.add("Destroy")
	return c.Store.Destroy(ctx, key)
}

func (c *countingStore) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	c.add("Incr")
	return c.Store.Incr(ctx, key, field, n, lim)
}

func (c *countingStore) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	c.add("CompareAndSwap")
	return c.Store.CompareAndSwap(ctx, key, field, old, new, lim)
}

func (c *countingStore) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	c.add("UserSessions")
	return c.Store.UserSessions(ctx, user)
}

func (c *countingStore) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	c.add("DestroyUser")
	return c.Store.DestroyUser(ctx, user, keep)
}

// faultStore passes every call to a real store until told to fail: then
// the methods named fail with an error of their own (as a broken network
// connection would), or hang until their context is done (as a stopped
// server would).
type faultStore struct {
	Store     fullStore
	mu        sync.Mutex
	mode      string          // "", "error" or "hang"
	ops       map[string]bool // the methods that fail; nil: all
	deadlines []time.Duration // for each hung call, its context's time left when it began; -1: none
}

// storeErrorText is the text of faultStore's error: it must never reach a
// response.
const storeErrorText = "dial tcp 10.9.8.7:6379: connect: connection refused (AUTH hunter2)"

func (f *faultStore) set(mode string, ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.ops = mode, nil
	if len(ops) > 0 {
		f.ops = map[string]bool{}
		for _, op := range ops {
			f.ops[op] = true
		}
	}
}

func (f *faultStore) hungDeadlines() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.deadlines...)
}

func (f *faultStore) fault(ctx context.Context, op string) error {
	f.mu.Lock()
	mode := f.mode
	if f.ops != nil && !f.ops[op] {
		mode = ""
	}
	if mode == "hang" {
		left := time.Duration(-1)
		if d, ok := ctx.Deadline(); ok {
			left = time.Until(d)
		}
		f.deadlines = append(f.deadlines, left)
	}
	f.mu.Unlock()
	switch mode {
	case "error":
		return errors.New(storeErrorText)
	case "hang":
		<-ctx.Done()
		return fmt.Errorf("%s: %w", storeErrorText, ctx.Err())
	}
	return nil
}

func (f *faultStore) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	if err := f.fault(ctx, "Load"); err != nil {
		return session.Record{}, false, err
	}
	return f.Store.Load(ctx, key, lim)
}

func (f *faultStore) Save(ctx context.Context, w session.Write) (bool, error) {
	if err := f.fault(ctx, saveName(w)); err != nil {
		return false, err
	}
	return f.Store.Save(ctx, w)
}

func (f *faultStore) Destroy(ctx context.Context, key string) error {
	if err := f.fault(ctx, "Destroy"); err != nil {
		return err
	}
	return f.Store.Destroy(ctx, key)
}

func (f *faultStore) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	if err := f.fault(ctx, "Incr"); err != nil {
		return 0, false, err
	}
	return f.Store.Incr(ctx, key, field, n, lim)
}

func (f *faultStore) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	if err := f.fault(ctx, "CompareAndSwap"); err != nil {
		return false, false, err
	}
	return f.Store.CompareAndSwap(ctx, key, field, old, new, lim)
}

func (f *faultStore) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	if err := f.fault(ctx, "UserSessions"); err != nil {
		return nil, err
	}
	return f.Store.UserSessions(ctx, user)
}

func (f *faultStore) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	if err := f.fault(ctx, "DestroyUser"); err != nil {
		return 0, err
	}
	return f.Store.DestroyUser(ctx, user, keep)
}

// harness is one test server: a real memstore (on a fake clock) behind a
// counting wrapper, a Manager, and the test app, over real HTTP. The server
// speaks TLS unless the config sets InsecureCookie, since browsers (and
// cookiejar) send a Secure cookie over HTTPS only.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	mem    *memstore.Store
	count  *countingStore
	faults *faultStore
	m      *session.Manager
	srv    *httptest.Server
	errLog *testenv.Buffer // the http.Server's error log
	appLog *testenv.Buffer // the Manager's logger
	issued syncStrings     // every session cookie value the server sent
}

type harnessOptions struct {
	// routes adds handlers to the test app's mux, inside Manager.Handler.
	routes map[string]http.HandlerFunc
	// handler replaces the test app and its Manager.Handler.
	handler func(h *harness) http.Handler
	// after runs when Manager.Handler has returned for a request.
	after func(r *http.Request)
	// realClock gives the memstore the real clock instead of h.clock.
	realClock bool
}

func newHarness(t *testing.T, cfg session.Config, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, errLog: &testenv.Buffer{}, appLog: &testenv.Buffer{}}
	now := h.clock.Now
	if opts.realClock {
		now = nil
	}
	h.mem = memstore.New(memstore.Options{Now: now})
	t.Cleanup(func() { h.mem.Close() })
	h.faults = &faultStore{Store: h.mem}
	h.count = &countingStore{Store: h.faults}
	if cfg.Keys == nil {
		cfg.Keys = [][]byte{key1}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(h.appLog, nil))
	}
	h.m = session.New(h.count, cfg)
	var handler http.Handler
	if opts.handler != nil {
		handler = opts.handler(h)
	} else {
		handler = h.m.Handler(testApp(h.m, opts.routes))
	}
	if opts.after != nil {
		inner := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer opts.after(r)
			inner.ServeHTTP(w, r)
		})
	}
	h.srv = httptest.NewUnstartedServer(handler)
	h.srv.Config.ErrorLog = log.New(h.errLog, "", 0)
	if cfg.InsecureCookie {
		h.srv.Start()
	} else {
		h.srv.StartTLS()
	}
	t.Cleanup(func() {
		h.srv.Close()
		for _, bad := range []string{"superfluous", "hijacked", "panic"} {
			if strings.Contains(h.errLog.String(), bad) {
				t.Errorf("the server logged %q:\n%s", bad, h.errLog)
			}
		}
		for _, secret := range h.issued.all() {
			if strings.Contains(h.appLog.String(), secret) {
				t.Errorf("the Manager's log shows a cookie value:\n%s", h.appLog)
			}
		}
	})
	return h
}

type syncStrings struct {
	mu sync.Mutex
	s  []string
}

func (s *syncStrings) add(v string) { s.mu.Lock(); s.s = append(s.s, v); s.mu.Unlock() }
func (s *syncStrings) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.s...)
}

func (h *harness) cookieName() string { return h.m.Config().CookieName }

// client is a browser-like client with its own cookie jar.
type client struct {
	h   *harness
	hc  *http.Client
	ua  string
	jar http.CookieJar
}

func (h *harness) newClient(ua string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &client{h: h, ua: ua, jar: jar, hc: h.httpClient(jar)}
}

func (h *harness) httpClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport:     h.srv.Client().Transport,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type result struct {
	status int
	body   string
	header http.Header
}

// cookie returns the Set-Cookie of the session cookie in r, or nil.
func (r result) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (c *client) do(method, path string, hdr ...string) result {
	c.h.t.Helper()
	return c.h.send(c.hc, method, path, c.ua, hdr...)
}

// send makes one request; hdr holds header names and values in turn.
func (h *harness) send(hc *http.Client, method, path, ua string, hdr ...string) result {
	h.t.Helper()
	r, err := h.trySend(hc, method, path, ua, hdr...)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// trySend is send for goroutines other than the test's: it returns the
// error.
func (h *harness) trySend(hc *http.Client, method, path, ua string, hdr ...string) (result, error) {
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		return result{}, err
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: reading the body: %v", method, path, err)
	}
	r := result{status: resp.StatusCode, body: string(body), header: resp.Header}
	if ck := r.cookie(h.cookieName()); ck != nil && ck.Value != "" {
		h.issued.add(ck.Value)
	}
	return r, nil
}

// tryRaw is raw for goroutines other than the test's.
func (h *harness) tryRaw(method, path, cookie string) (result, error) {
	var hdr []string
	if cookie != "" {
		hdr = []string{"Cookie", cookie}
	}
	return h.trySend(h.httpClient(nil), method, path, "", hdr...)
}

// raw makes one request without a cookie jar, with the Cookie header given
// ("" for none).
func (h *harness) raw(method, path, cookie string, hdr ...string) result {
	h.t.Helper()
	if cookie != "" {
		hdr = append(hdr, "Cookie", cookie)
	}
	return h.send(h.httpClient(nil), method, path, "", hdr...)
}

// sessionCookie returns the session cookie's value in c's jar, or "".
func (c *client) sessionCookie() string {
	u, _ := url.Parse(c.h.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == c.h.cookieName() {
			return ck.Value
		}
	}
	return ""
}

// anyBody makes must check the status only.
const anyBody = "\x00any body"

// must checks r's status and body (unless body is anyBody).
func (r result) must(t *testing.T, status int, body string) result {
	t.Helper()
	if r.status != status || (body != anyBody && r.body != body) {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
	return r
}

// profile is a struct value stored in sessions.
type profile struct {
	Name  string    `json:"name"`
	Age   int       `json:"age"`
	Tags  []string  `json:"tags"`
	Since time.Time `json:"since"`
}

// testApp has one route per session operation; values travel as query
// parameters, answers as text.
func testApp(m *session.Manager, routes map[string]http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.FromContext(r.Context()) }
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case errors.Is(err, session.ErrTooLarge):
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		case errors.Is(err, session.ErrStoreUnavailable):
			session.Error(w, r, err)
		case errors.Is(err, session.ErrGone):
			http.Error(w, "gone", http.StatusConflict)
		case errors.Is(err, session.ErrNotInteger):
			http.Error(w, "not an integer", http.StatusConflict)
		default:
			http.Error(w, "bad request", http.StatusBadRequest)
		}
	}
	mux.HandleFunc("GET /ignore", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ignored")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		fmt.Fprintf(w, "user=%q keys=%q", s.User(), s.Keys())
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		s, q := sess(r), r.URL.Query()
		k, v := q.Get("k"), q.Get("v")
		var err error
		switch q.Get("type") {
		case "", "string":
			err = s.Put(k, v)
		case "int64":
			var n int64
			if n, err = strconv.ParseInt(v, 10, 64); err == nil {
				err = s.Put(k, n)
			}
		case "bool":
			var b bool
			if b, err = strconv.ParseBool(v); err == nil {
				err = s.Put(k, b)
			}
		case "time":
			var tm time.Time
			if tm, err = time.Parse(time.RFC3339Nano, v); err == nil {
				err = s.Put(k, tm)
			}
		case "json":
			err = s.PutMany(map[string][]byte{k: []byte(v)})
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s, q := sess(r), r.URL.Query()
		k := q.Get("k")
		var v any
		var ok bool
		switch q.Get("type") {
		case "", "string":
			v, ok = s.String(k)
		case "int64":
			v, ok = s.Int64(k)
		case "bool":
			v, ok = s.Bool(k)
		case "time":
			var tm time.Time
			tm, ok = s.Time(k)
			v = tm.Format(time.RFC3339Nano)
		case "profile":
			var p profile
			var err error
			ok, err = s.Get(k, &p)
			if err != nil {
				fail(w, r, err)
				return
			}
			b, _ := json.Marshal(p)
			v = string(b)
		}
		if !ok {
			io.WriteString(w, "missing")
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(sess(r).Keys(), ","))
	})
	mux.HandleFunc("GET /values", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(sess(r).Values())
		w.Write(b)
	})
	mux.HandleFunc("POST /delete", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Delete(r.URL.Query().Get("k")); err != nil {
			fail(w, r, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Renew(); err != nil {
			fail(w, r, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Destroy(); err != nil {
			fail(w, r, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Login(r.URL.Query().Get("user")); err != nil {
			fail(w, r, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "login form")
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sess(r).User())
	})
	mux.Handle("GET /private", m.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "private page of "+sess(r).User())
	})))
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := sess(r).Incr(r.Context(), r.URL.Query().Get("k"), 1)
		if err != nil {
			fail(w, r, err)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /cas", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var old any
		if q.Has("old") {
			old = q.Get("old")
		}
		swapped, err := sess(r).CompareAndSwap(r.Context(), q.Get("k"), old, q.Get("new"))
		if err != nil {
			fail(w, r, err)
			return
		}
		fmt.Fprint(w, swapped)
	})
	mux.HandleFunc("GET /handle", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sess(r).Handle())
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		list, err := sess(r).Sessions(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		ok, err := m.Revoke(r.Context(), sess(r).User(), r.URL.Query().Get("h"))
		if err != nil {
			fail(w, r, err)
			return
		}
		fmt.Fprint(w, ok)
	})
	mux.HandleFunc("POST /revoke-all", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.RevokeAll(r.Context(), sess(r).User())
		if err != nil {
			fail(w, r, err)
			return
		}
		fmt.Fprint(w, n)
	})
	for pattern, f := range routes {
		mux.HandleFunc(pattern, f)
	}
	return mux
}
