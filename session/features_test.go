package session_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// streamApp serves /wait, which waits on the session's Done channel for
// up to a few seconds and reports whether it closed, and /login, /logout.
func streamApp(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login(r.URL.Query().Get("user"))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy()
	})
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		done := session.FromContext(r.Context()).Done()
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		select {
		case <-done:
			io.WriteString(w, "ended")
		case <-time.After(waitFor(r)):
			io.WriteString(w, "timeout")
		}
	})
	return m.Handler(mux)
}

// waitFor is the wait of /wait: its "max" parameter, or 5 seconds.
func waitFor(r *http.Request) time.Duration {
	if d, err := time.ParseDuration(r.URL.Query().Get("max")); err == nil {
		return d
	}
	return 5 * time.Second
}

func streamLogin(t *testing.T, base, user string) string {
	t.Helper()
	resp, err := http.Post(base+"/login?user="+user, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		return c.Name + "=" + c.Value
	}
	t.Fatal("no cookie from the login")
	return ""
}

func request(t *testing.T, method, url, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDone: a request waiting on Session.Done learns of a logout made by
// another instance (another Manager on the same store) within the watch
// interval, and of a revocation by its own Manager at once.
func TestDone(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	cfg := session.Config{Keys: [][]byte{key1}, InsecureCookie: true}
	m1, m2 := session.New(store, cfg), session.New(store, cfg)
	a := httptest.NewServer(streamApp(m1))
	b := httptest.NewServer(streamApp(m2))
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)

	tests := []struct {
		name   string
		end    func(cookie string)
		within time.Duration
	}{
		{"logout on another instance", func(cookie string) { request(t, "POST", b.URL+"/logout", cookie) }, 3 * time.Second},
		{"revoke-all on another instance", func(cookie string) { m2.RevokeAll(t.Context(), "ann") }, 3 * time.Second},
		{"revoke on the same instance", func(cookie string) {
			list, _ := m1.Sessions(t.Context(), "ann")
			for _, in := range list {
				m1.Revoke(t.Context(), "ann", in.Handle)
			}
		}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cookie := streamLogin(t, a.URL, "ann")
			got := make(chan string, 1)
			go func() {
				_, body := request(t, "GET", a.URL+"/wait", cookie)
				got <- body
			}()
			time.Sleep(200 * time.Millisecond) // the stream is waiting
			start := time.Now()
			tt.end(cookie)
			body := <-got
			took := time.Since(start)
			if body != "ended" {
				t.Fatalf("the stream answered %q, want ended", body)
			}
			t.Logf("ended %v after the end", took.Round(time.Millisecond))
		})
	}
	t.Run("another session of the user goes on", func(t *testing.T) {
		keep := streamLogin(t, a.URL, "bob")
		gone := streamLogin(t, a.URL, "bob")
		got := make(chan string, 1)
		go func() { _, body := request(t, "GET", a.URL+"/wait?max=2500ms", keep); got <- body }()
		time.Sleep(200 * time.Millisecond)
		request(t, "POST", b.URL+"/logout", gone)
		if body := <-got; body != "timeout" {
			t.Fatalf("the other session's stream answered %q, want it to go on", body)
		}
	})
	t.Run("anonymous: closed at once", func(t *testing.T) {
		if _, body := request(t, "GET", a.URL+"/wait", ""); body != "ended" {
			t.Fatalf("anonymous wait: %q", body)
		}
	})
}

// TestDoneAbsoluteDeadline: the watch ends at the absolute deadline.
func TestDoneAbsoluteDeadline(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{Keys: [][]byte{key1}, InsecureCookie: true, AbsoluteTimeout: 1500 * time.Millisecond})
	srv := httptest.NewServer(streamApp(m))
	t.Cleanup(srv.Close)
	cookie := streamLogin(t, srv.URL, "ann")
	if _, body := request(t, "GET", srv.URL+"/wait", cookie); body != "ended" {
		t.Fatalf("wait past the absolute deadline: %q", body)
	}
}

func TestRequireVariants(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{Keys: [][]byte{key1}, InsecureCookie: true})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login("ann")
	})
	mux.Handle("GET /api", m.RequireLoginAPI(ok))
	mux.Handle("GET /page", m.RequireLogin(ok))
	mux.Handle("GET /fresh", m.RequireRecentLogin(300*time.Millisecond)(ok))
	mux.Handle("GET /fresh-api", m.RequireRecentLoginAPI(300*time.Millisecond)(ok))
	mux.HandleFunc("GET /logintime", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, session.FromContext(r.Context()).LoginTime().Format(time.RFC3339Nano))
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, cookie, accept string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header.Get("Location")
	}
	for _, accept := range []string{"", "*/*", "text/html", "application/json"} {
		if code, body, _ := get("/api", "", accept); code != 401 || body != `{"error":"login required"}` {
			t.Errorf("anonymous API call, Accept %q: %d %s", accept, code, body)
		}
	}
	if code, _, loc := get("/page", "", "*/*"); code != 303 || loc != "/login?next=%2Fpage" {
		t.Errorf("anonymous page: %d %q", code, loc)
	}
	before := time.Now()
	cookie := streamLogin(t, srv.URL, "ann")
	if code, body, _ := get("/api", cookie, ""); code != 200 || body != "ok" {
		t.Errorf("API call after login: %d %s", code, body)
	}
	if code, body, _ := get("/fresh", cookie, ""); code != 200 || body != "ok" {
		t.Errorf("fresh login: %d %s", code, body)
	}
	_, lt, _ := get("/logintime", cookie, "")
	if at, err := time.Parse(time.RFC3339Nano, lt); err != nil || at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("LoginTime = %q (%v), want about %v", lt, err, before)
	}
	time.Sleep(400 * time.Millisecond)
	if code, _, loc := get("/fresh", cookie, "text/html"); code != 303 || loc != "/login?next=%2Ffresh&reauth=1" {
		t.Errorf("stale login, page: %d %q", code, loc)
	}
	if code, body, _ := get("/fresh", cookie, "application/json"); code != 401 || body != `{"error":"recent login required"}` {
		t.Errorf("stale login, JSON: %d %s", code, body)
	}
	for _, accept := range []string{"", "text/html"} {
		if code, body, _ := get("/fresh-api", cookie, accept); code != 401 || body != `{"error":"recent login required"}` {
			t.Errorf("stale login, API, Accept %q: %d %s", accept, code, body)
		}
		if code, body, _ := get("/fresh-api", "", accept); code != 401 || body != `{"error":"login required"}` {
			t.Errorf("anonymous, API with recent login, Accept %q: %d %s", accept, code, body)
		}
	}
	if code, _, _ := get("/page", cookie, ""); code != 200 {
		t.Errorf("a stale login still passes RequireLogin: %d", code)
	}
}

func TestDomain(t *testing.T) {
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{Keys: [][]byte{key1}, Domain: "example.com"})
	if got := m.Config().CookieName; got != "__Secure-session" {
		t.Errorf("CookieName with a Domain = %q, want __Secure-session", got)
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login("ann")
	})).ServeHTTP(rec, httptest.NewRequest("POST", "https://app.example.com/login", nil))
	sc := rec.Header().Get("Set-Cookie")
	if !strings.Contains(sc, "Domain=example.com") || !strings.HasPrefix(sc, "__Secure-session=") || !strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie = %q", sc)
	}
	func() {
		defer func() {
			if r, _ := recover().(string); !strings.HasPrefix(r, "session: Config.CookieName") {
				t.Errorf("a __Host- name with a Domain: recovered %q", r)
			}
		}()
		session.New(store, session.Config{Keys: [][]byte{key1}, Domain: "example.com", CookieName: "__Host-s"})
	}()
}

// TestRememberMe: a login with RememberMe sends a persistent cookie that
// ends at the remembered session's absolute deadline, also when a later
// renewal sends it again, and the session lives by the remember-me
// timeouts; without, a browser-session cookie and the session's timeouts.
func TestRememberMe(t *testing.T) {
	// The store's clock runs 30 minutes behind: logins are recorded in the
	// past, as if the user had logged in half an hour ago.
	var skew atomic.Int64
	skew.Store(int64(-30 * time.Minute))
	store := memstore.New(memstore.Options{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{Keys: [][]byte{key1},
		IdleTimeout: 10 * time.Minute, AbsoluteTimeout: time.Hour,
		RememberIdleTimeout: time.Hour, RememberAbsoluteTimeout: 2 * time.Hour})
	serve := func(h http.HandlerFunc, c *http.Cookie) *http.Cookie {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "https://example.com/", nil)
		if c != nil {
			req.AddCookie(c)
		}
		m.Handler(h).ServeHTTP(rec, req)
		if cs := rec.Result().Cookies(); len(cs) == 1 {
			return cs[0]
		}
		return nil
	}
	login := func(remember bool) *http.Cookie {
		return serve(func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			if err := errors.Join(s.Login("ann"), s.RememberMe(remember)); err != nil {
				t.Error(err)
			}
		}, nil)
	}
	user := func(c *http.Cookie) (u string) {
		serve(func(w http.ResponseWriter, r *http.Request) { u = session.FromContext(r.Context()).User() }, c)
		return u
	}
	plain := login(false)
	if plain.MaxAge != 0 || !plain.Expires.IsZero() {
		t.Errorf("without RememberMe: Max-Age %d, Expires %v; want a browser-session cookie", plain.MaxAge, plain.Expires)
	}
	remembered := login(true)
	if remembered.MaxAge < 7190 || remembered.MaxAge > 7200 {
		t.Errorf("with RememberMe: Max-Age %d, want about 7200 (RememberAbsoluteTimeout)", remembered.MaxAge)
	}
	// The choice is stored: a later renewal (a change of privilege) sends
	// a persistent cookie again, which ends at the same absolute deadline:
	// 2 hours after the login, which the store recorded 30 minutes ago.
	renewed := serve(func(w http.ResponseWriter, r *http.Request) { session.FromContext(r.Context()).Renew() }, remembered)
	if renewed == nil || renewed.Value == remembered.Value || renewed.MaxAge < 5390 || renewed.MaxAge > 5400 {
		t.Fatalf("after a renewal: %v, want a new persistent cookie with Max-Age about 5400 (the absolute deadline)", renewed)
	}
	// A read slides each session's idle deadline by its own timeout; 20
	// minutes later, both are past the session's idle timeout and within
	// the remembered one's.
	if user(plain) != "ann" || user(renewed) != "ann" {
		t.Fatal("a session died before its idle timeout")
	}
	skew.Add(int64(20 * time.Minute))
	if u := user(plain); u != "" {
		t.Errorf("a session of the browser's outlived IdleTimeout: user %q", u)
	}
	if u := user(renewed); u != "ann" {
		t.Errorf("a remembered session died within RememberIdleTimeout: user %q", u)
	}
}
