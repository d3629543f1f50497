package session_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

func TestRequireLogin(t *testing.T) {
	tests := []struct {
		name         string
		loginURL     string
		login        bool
		path         string
		accept       string
		wantStatus   int
		wantLocation string
	}{
		{"anonymous HTML", "", false, "/private", "text/html", 303, "/login?next=%2Fprivate"},
		{"anonymous, no Accept", "", false, "/private", "", 303, "/login?next=%2Fprivate"},
		{"anonymous with query", "", false, "/private?tab=a&b=%2F", "", 303, "/login?next=%2Fprivate%3Ftab%3Da%26b%3D%252F"},
		{"anonymous JSON", "", false, "/private", "application/json", 401, ""},
		{"anonymous, JSON among others", "", false, "/private", "text/html;q=0.5, application/json", 401, ""},
		{"login URL with a query", "/signin?from=app", false, "/private", "", 303, "/signin?from=app&next=%2Fprivate"},
		{"logged in", "", true, "/private", "", 200, ""},
		{"logged in, JSON", "", true, "/private", "application/json", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{LoginURL: tt.loginURL}, harnessOptions{})
			c := h.newClient("")
			if tt.login {
				c.do("POST", "/login?user=ann").must(t, 200, "ok")
			}
			r := c.do("GET", tt.path, "Accept", tt.accept)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d %q, want %d", r.status, r.body, tt.wantStatus)
			}
			if loc := r.header.Get("Location"); loc != tt.wantLocation {
				t.Errorf("Location %q, want %q", loc, tt.wantLocation)
			}
			switch tt.wantStatus {
			case 200:
				if r.body != "private page of ann" {
					t.Errorf("body %q", r.body)
				}
			case 401:
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("401 with Content-Type %q, want application/json", ct)
				}
				fallthrough
			default:
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", cc)
				}
				if strings.Contains(r.body, "private page") {
					t.Error("the protected page was served")
				}
			}
		})
	}
}

// TestRequireLoginNoOpenRedirect sends request targets that try to turn
// the "next" parameter into a link to another site. They go over a raw
// connection so that no client library cleans them first.
func TestRequireLoginNoOpenRedirect(t *testing.T) {
	h := newHarness(t, session.Config{InsecureCookie: true}, harnessOptions{handler: func(h *harness) http.Handler {
		return h.m.Handler(h.m.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "private")
		})))
	}})
	site, _ := url.Parse(h.srv.URL)
	targets := []struct {
		name, target string
	}{
		{"protocol-relative", "//evil.com"},
		{"protocol-relative with path and query", "//evil.com/path?q=1"},
		{"triple slash", "///evil.com"},
		{"slash backslash", "/\\evil.com"},
		{"slash backslash slash", "/\\/evil.com"},
		{"dot then backslash", "/./\\evil.com"},
		{"encoded slashes", "/%2F%2Fevil.com"},
		{"encoded backslashes", "/%5C%5Cevil.com"},
		{"absolute form", "http://evil.com/x"},
		{"absolute form, protocol-relative path", "http://evil.com//evil.com"},
		{"next in the query", "/a?next=//evil.com"},
		{"encoded control character", "/%09/evil.com"},
		{"login itself", "/login"},
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", site.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tt.target, site.Host)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 400 {
				return // refused by net/http: not a redirect
			}
			if resp.StatusCode != 303 {
				t.Fatalf("status %d, want 303", resp.StatusCode)
			}
			loc := resp.Header.Get("Location")
			if session.LocalPath(loc, "") != loc {
				t.Fatalf("Location %q is not a local path", loc)
			}
			u, err := url.Parse(loc)
			if err != nil || u.Path != "/login" {
				t.Fatalf("Location %q does not lead to /login", loc)
			}
			next := u.Query().Get("next")
			if next == "" {
				return
			}
			if session.LocalPath(next, "") != next {
				t.Errorf("next %q (from %q) is not a local path", next, tt.target)
			}
			nu, err := url.Parse(next)
			if err != nil {
				t.Fatalf("next %q: %v", next, err)
			}
			if to := site.ResolveReference(nu); to.Host != site.Host || to.Scheme != site.Scheme {
				t.Errorf("next %q (from %q) leads to %s", next, tt.target, to)
			}
		})
	}
}

// TestSavedBeforeHeaders checks that a handler's changes are saved however
// it answers, and sent with the response's first bytes.
func TestSavedBeforeHeaders(t *testing.T) {
	put := func(r *http.Request) { session.FromContext(r.Context()).Put("k", "saved") }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"Write", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			io.WriteString(w, "body")
		}, 200},
		{"WriteHeader then Write", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			w.WriteHeader(201)
			io.WriteString(w, "body")
		}, 201},
		{"no body", func(w http.ResponseWriter, r *http.Request) {
			put(r)
		}, 200},
		{"http.Error", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			http.Error(w, "teapot", http.StatusTeapot)
		}, 418},
		{"http.Redirect", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		}, 303},
		{"Flush first", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			if err := http.NewResponseController(w).Flush(); err != nil {
				panic(err)
			}
			io.WriteString(w, "body")
		}, 200},
		{"informational header first", func(w http.ResponseWriter, r *http.Request) {
			put(r)
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "body")
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{"/h": tt.handler}})
			c := h.newClient("")
			r := c.do("GET", "/h")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if r.cookie(h.cookieName()) == nil {
				t.Fatal("no session cookie in the response")
			}
			c.do("GET", "/get?k=k").must(t, 200, "saved")
		})
	}
}

// TestStreaming checks that the body is not buffered, that Flush reaches
// the connection through the wrapper, and that the session is saved when
// the headers go out, while the handler is still running.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
		"/stream": func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).Put("streamed", "yes")
			w.WriteHeader(200)
			io.WriteString(w, "part1\n")
			rc := http.NewResponseController(w)
			if err := rc.Flush(); err != nil {
				io.WriteString(w, "flush: "+err.Error()+"\n")
			}
			// Methods the wrapper does not have are reached through Unwrap.
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				io.WriteString(w, "deadline: "+err.Error()+"\n")
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			io.WriteString(w, "part2\n")
		},
	}})
	c := h.newClient("")
	req, _ := http.NewRequest("GET", h.srv.URL+"/stream", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "part1\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// The first request is still running: its change is in the store.
	c.do("GET", "/get?k=streamed").must(t, 200, "yes")
	once.Do(func() { close(release) })
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "part2\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestRequireLoginOutsideHandler(t *testing.T) {
	m := session.New(&countingStore{}, session.Config{Keys: [][]byte{key1}})
	h := m.RequireLogin(http.NotFoundHandler())
	defer func() {
		if r, _ := recover().(string); !strings.HasPrefix(r, "session: ") {
			t.Errorf("recovered %q, want a \"session: \" panic", r)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// The request's context inside the middleware is its parent's, plus the
// session: values, deadline and cancellation pass through, also to
// contexts derived from it, and the session is found through them.
func TestRequestContextKeepsItsParent(t *testing.T) {
	type key struct{}
	m := session.New(&countingStore{}, session.Config{Keys: [][]byte{key1}})
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), deadline)
	defer cancel()
	ran := false
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		ctx := r.Context()
		s := session.FromContext(ctx)
		child, stop := context.WithCancel(context.WithValue(ctx, key{}, "child"))
		defer stop()
		if got := session.FromContext(child); got != s {
			t.Error("a derived context finds another session")
		}
		if ctx.Value(key{}) != "v" || child.Value(key{}) != "child" {
			t.Errorf("values %v and %v, want v and child", ctx.Value(key{}), child.Value(key{}))
		}
		if d, ok := child.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("deadline %v %v, want %v", d, ok, deadline)
		}
		cancel()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("cancelling the request's parent left a derived context running")
		}
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("errors %v and %v, want context.Canceled", ctx.Err(), child.Err())
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(parent))
	if !ran {
		t.Fatal("handler not run")
	}
}

func TestStoreUnavailable(t *testing.T) {
	const storeTimeout = 100 * time.Millisecond
	routes := map[string]http.HandlerFunc{
		"/ignore-err": func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).String("x") // and never looks at Err
			w.Header().Set("Location", "/elsewhere")
			w.Header().Set("X-Frame-Options", "DENY")
			io.WriteString(w, "the handler's own answer")
		},
		"/ignore-err-stream": func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).Keys()
			w.WriteHeader(200)
			io.WriteString(w, "the handler's own answer")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "more of it")
		},
	}
	tests := []struct {
		name   string
		login  bool   // the client has a session first
		mode   string // of the faultStore
		ops    []string
		method string
		path   string
		accept string
	}{
		{"load fails", true, "error", []string{"Load"}, "GET", "/whoami", ""},
		{"load hangs", true, "hang", []string{"Load"}, "GET", "/whoami", ""},
		{"load fails, handler ignores Err", true, "error", []string{"Load"}, "GET", "/ignore-err", ""},
		{"load hangs, handler ignores Err and streams", true, "hang", []string{"Load"}, "GET", "/ignore-err-stream", ""},
		{"create fails", false, "error", []string{"Create"}, "POST", "/put?k=a&v=1", ""},
		{"create hangs", false, "hang", []string{"Create"}, "POST", "/put?k=a&v=1", ""},
		{"update fails", true, "error", []string{"Update"}, "POST", "/put?k=a&v=1", ""},
		{"update hangs", true, "hang", []string{"Update"}, "POST", "/put?k=a&v=1", ""},
		{"renew fails", true, "error", []string{"Renew"}, "POST", "/login?user=bob", ""},
		{"destroy hangs", true, "hang", []string{"Destroy"}, "POST", "/destroy", ""},
		{"incr hangs", true, "hang", []string{"Incr", "CompareAndSwap"}, "POST", "/incr?k=n", ""},
		{"compare-and-swap fails", true, "error", []string{"CompareAndSwap"}, "POST", "/cas?k=n&new=1", ""},
		{"session list fails", true, "error", []string{"UserSessions"}, "GET", "/sessions", ""},
		{"revoke all hangs", true, "hang", []string{"DestroyUser"}, "POST", "/revoke-all", ""},
		{"RequireLogin, load fails", true, "error", []string{"Load"}, "GET", "/private", ""},
		{"RequireLogin JSON, load hangs", true, "hang", []string{"Load"}, "GET", "/private", "application/json"},
		{"every call fails", true, "error", nil, "GET", "/whoami", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{StoreTimeout: storeTimeout, RetryAfter: 1500 * time.Millisecond}, harnessOptions{routes: routes})
			c := h.newClient("")
			if tt.login {
				c.do("POST", "/login?user=ann").must(t, 200, "ok")
				c.do("POST", "/put?k=kept&v=1").must(t, 200, "ok")
			}
			h.faults.set(tt.mode, tt.ops...)
			r := c.do(tt.method, tt.path, "Accept", tt.accept)
			if r.status != 503 {
				t.Fatalf("status %d %q, want 503", r.status, r.body)
			}
			if ra := r.header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After %q, want \"2\" (1.5 s rounded up)", ra)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			for _, leak := range []string{"10.9.8.7", "hunter2", "refused", "deadline", "context", "handler's own"} {
				if strings.Contains(r.body, leak) {
					t.Errorf("the 503 body %q shows %q", r.body, leak)
				}
			}
			if r.header.Get("Location") != "" || len(r.header.Values("Set-Cookie")) != 0 {
				t.Errorf("the 503 keeps headers of the handler's answer: %v", r.header)
			}
			for _, d := range h.faults.hungDeadlines() {
				if d <= 0 || d > storeTimeout {
					t.Errorf("a store call began with %v left on its context, want a deadline within StoreTimeout (%v)", d, storeTimeout)
				}
			}
			if tt.mode == "hang" && len(h.faults.hungDeadlines()) == 0 {
				t.Error("no store call hung")
			}
			if !strings.Contains(h.appLog.String(), "10.9.8.7") {
				t.Errorf("the store's error was not logged:\n%s", h.appLog)
			}

			// The store answers again: nothing was lost.
			h.faults.set("")
			c.do("GET", "/ignore").must(t, 200, "ignored")
			if tt.login {
				c.do("GET", "/user").must(t, 200, "ann")
				c.do("GET", "/get?k=kept").must(t, 200, "1")
			}
		})
	}
	t.Run("a handler that never touches the session", func(t *testing.T) {
		h := newHarness(t, session.Config{StoreTimeout: storeTimeout}, harnessOptions{})
		c := h.newClient("")
		c.do("POST", "/login?user=ann").must(t, 200, "ok")
		h.faults.set("error")
		c.do("GET", "/ignore").must(t, 200, "ignored")
	})
	t.Run("headers of outer middleware are kept", func(t *testing.T) {
		h := newHarness(t, session.Config{StoreTimeout: storeTimeout}, harnessOptions{routes: routes})
		c := h.newClient("")
		c.do("POST", "/login?user=ann").must(t, 200, "ok")
		h.faults.set("error", "Load")
		r := c.do("GET", "/ignore-err").must(t, 503, anyBody)
		if r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("X-Frame-Options dropped from the 503: %v", r.header)
		}
	})
}

// TestErrorFunc: Config.ErrorFunc writes the answers to a store that
// cannot answer, at load and at commit, to a session that a commit finds
// full, and to the errors that handlers pass to session.Error, with the
// headers prepared; session.Error outside Manager.Handler gives the
// default answers.
func TestErrorFunc(t *testing.T) {
	var got syncStrings
	errorFunc := func(w http.ResponseWriter, r *http.Request, err error) {
		kind := "other"
		switch {
		case errors.Is(err, session.ErrStoreUnavailable):
			kind = "unavailable"
		case errors.Is(err, session.ErrTooLarge):
			kind = "too large"
		}
		got.add(kind + " " + r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(599)
		fmt.Fprintf(w, `{"error":%q}`, kind)
	}
	var h *harness
	routes := map[string]http.HandlerFunc{
		"/fail": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "/elsewhere")
			session.Error(w, r, errors.New("the handler's own failure"))
		},
		"/put-then-fill": func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			if err := s.Put("b", strings.Repeat("x", 90)); err != nil {
				t.Error(err)
			}
			// Another request fills the stored session meanwhile.
			list, err := h.mem.UserSessions(r.Context(), s.User())
			if err != nil || len(list) != 1 {
				t.Fatalf("UserSessions = %d, %v", len(list), err)
			}
			w1 := session.Write{Key: list[0].Key, Set: map[string]string{"c": `"` + strings.Repeat("y", 150) + `"`}, Limits: session.Limits{Idle: time.Hour, Absolute: time.Hour}}
			if ok, err := h.mem.Save(r.Context(), w1); !ok || err != nil {
				t.Fatalf("filling the session: %v, %v", ok, err)
			}
			io.WriteString(w, "the handler's own answer")
		},
	}
	h = newHarness(t, session.Config{StoreTimeout: 100 * time.Millisecond, ErrorFunc: errorFunc, MaxSize: 200}, harnessOptions{routes: routes})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")

	h.faults.set("error", "Load")
	r := c.do("GET", "/whoami").must(t, 599, `{"error":"unavailable"}`)
	if r.header.Get("Retry-After") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the answer to a store failure lacks Retry-After or no-store: %v", r.header)
	}
	h.faults.set("error", "Update")
	c.do("POST", "/put?k=a&v=1").must(t, 599, `{"error":"unavailable"}`)
	h.faults.set("")

	// Another client fills the session between this request's Put and its
	// commit: the store refuses, and the answer is ErrorFunc's.
	c.do("POST", "/put-then-fill").must(t, 599, `{"error":"too large"}`)

	r = c.do("GET", "/fail").must(t, 599, `{"error":"other"}`)
	if r.header.Get("Location") != "" || r.header.Get("Retry-After") != "" {
		t.Errorf("the answer to a handler's failure keeps the handler's Location or has Retry-After: %v", r.header)
	}
	if !strings.Contains(h.appLog.String(), "the handler's own failure") {
		t.Errorf("a handler's failure passed to session.Error was not logged:\n%s", h.appLog)
	}
	want := []string{"unavailable /whoami", "unavailable /put", "too large /put-then-fill", "other /fail"}
	if fmt.Sprint(got.all()) != fmt.Sprint(want) {
		t.Errorf("ErrorFunc saw %q, want %q", got.all(), want)
	}

	// Outside Manager.Handler: the default answers.
	for _, tt := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("load: %w", session.ErrStoreUnavailable), 503},
		{session.ErrTooLarge, 413},
		{errors.New("boom"), 500},
	} {
		rec := httptest.NewRecorder()
		session.Error(rec, httptest.NewRequest("GET", "/", nil), tt.err)
		if rec.Code != tt.code || strings.Contains(rec.Body.String(), "load") || strings.Contains(rec.Body.String(), "boom") {
			t.Errorf("session.Error(%v) outside Handler: %d %q, want %d without the error's text", tt.err, rec.Code, rec.Body, tt.code)
		}
	}
}
