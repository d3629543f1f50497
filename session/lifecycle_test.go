package session_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// direct is a Manager on a real memstore, driven with httptest.NewRecorder.
func direct(t *testing.T, cfg session.Config) (*session.Manager, *memstore.Store) {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	if cfg.Keys == nil {
		cfg.Keys = [][]byte{key1}
	}
	return session.New(st, cfg), st
}

// serve runs h behind m for one request carrying cookie (a whole Cookie
// header, may be empty).
func serveOne(m *session.Manager, h http.HandlerFunc, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "https://example.test/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	m.Handler(h).ServeHTTP(rec, req)
	return rec
}

// loginCookie logs a new session in as user and returns its Cookie header.
func loginCookie(t *testing.T, m *session.Manager, user string) string {
	t.Helper()
	rec := serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Login(user); err != nil {
			t.Error(err)
		}
	}, "")
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Value == "" {
		t.Fatalf("login set cookies %v", c)
	}
	return c[0].Name + "=" + c[0].Value
}

func whoIs(m *session.Manager, cookie string) string {
	var user string
	serveOne(m, func(w http.ResponseWriter, r *http.Request) { user = session.FromContext(r.Context()).User() }, cookie)
	return user
}

func TestPlantedCookieAheadOfTheRealOne(t *testing.T) {
	m, _ := direct(t, session.Config{InsecureCookie: true})
	real := loginCookie(t, m, "ann")
	for _, tc := range []struct{ name, header string }{
		{"garbage first", "session=garbage; " + real},
		{"empty first", "session=; " + real},
		{"other key's cookie first", "session=" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43) + "; " + real},
		{"real first", real + "; session=garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if u := whoIs(m, tc.header); u != "ann" {
				t.Fatalf("user = %q, want ann: a planted cookie logged the user out", u)
			}
		})
	}
}

func TestChangeAfterHeadersIsRefused(t *testing.T) {
	m, _ := direct(t, session.Config{InsecureCookie: true})
	c := loginCookie(t, m, "ann")
	var errs []error
	serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.User()
		w.WriteHeader(http.StatusOK)
		errs = append(errs, s.Put("late", 1), s.Delete("x"), s.Login("bob"), s.Renew(), s.Destroy())
		if _, err := s.Incr(r.Context(), "n", 1); err != nil {
			t.Errorf("Incr after the headers: %v, want it to work (it is immediate)", err)
		}
	}, c)
	for i, err := range errs {
		if !errors.Is(err, session.ErrHeadersWritten) {
			t.Errorf("change %d after the headers: %v, want ErrHeadersWritten", i, err)
		}
	}
	if u := whoIs(m, c); u != "ann" {
		t.Fatalf("after refused late changes user = %q", u)
	}
	var n int64
	serveOne(m, func(w http.ResponseWriter, r *http.Request) { n, _ = session.FromContext(r.Context()).Int64("n") }, c)
	if n != 1 {
		t.Fatalf("Incr after the headers was not kept: n = %d", n)
	}
}

func TestLogoutSavedWhenClientLeaves(t *testing.T) {
	m, _ := direct(t, session.Config{InsecureCookie: true})
	c := loginCookie(t, m, "ann")
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("POST", "https://example.test/logout", nil).WithContext(ctx)
	req.Header.Set("Cookie", c)
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Destroy()
		cancel() // the browser stops waiting before the answer
		w.WriteHeader(http.StatusSeeOther)
	})).ServeHTTP(httptest.NewRecorder(), req)
	if u := whoIs(m, c); u != "" {
		t.Fatalf("logout lost because the client left: still %q", u)
	}
}

// A request that finds its session gone (renewed by a concurrent login,
// destroyed, expired) must not send a cookie removal: answered after the
// login's response, it would delete the browser's new cookie.
func TestGoneSessionKeepsTheCookie(t *testing.T) {
	m, _ := direct(t, session.Config{InsecureCookie: true})
	old := loginCookie(t, m, "ann")
	loaded := make(chan struct{})
	renewed := make(chan struct{})
	var slow *httptest.ResponseRecorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		slow = serveOne(m, func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.User()
			close(loaded)
			<-renewed
			s.Put("late", 1) // Update finds the session renewed away
		}, old)
	}()
	<-loaded
	login := serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Login("ann")
	}, old)
	close(renewed)
	<-done
	if len(login.Result().Cookies()) != 1 {
		t.Fatalf("login set %v", login.Header().Values("Set-Cookie"))
	}
	if c := slow.Header().Values("Set-Cookie"); len(c) != 0 {
		t.Fatalf("the request that lost its session sent %q; it could delete the new login cookie", c)
	}
	if u := whoIs(m, old); u != "" {
		t.Fatalf("the old token is still %q after the renewal", u)
	}
	// Reading with the dead cookie sets nothing either.
	if rec := serveOne(m, func(w http.ResponseWriter, r *http.Request) { session.FromContext(r.Context()).User() }, old); len(rec.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("a read with a dead cookie sent %q", rec.Header().Values("Set-Cookie"))
	}
}

func TestRevokeAnonymousIsNoop(t *testing.T) {
	m, _ := direct(t, session.Config{InsecureCookie: true, StoreTimeout: time.Second})
	anon := serveOne(m, func(w http.ResponseWriter, r *http.Request) { session.FromContext(r.Context()).Put("a", 1) }, "")
	if len(anon.Result().Cookies()) != 1 {
		t.Fatal("no anonymous session made")
	}
	n, err := m.RevokeAll(context.Background(), "")
	if n != 0 || err != nil {
		t.Fatalf(`RevokeAll("") = %d, %v; want 0, nil`, n, err)
	}
	if ok, err := m.Revoke(context.Background(), "", "x"); ok || err != nil {
		t.Fatalf(`Revoke("", "x") = %v, %v`, ok, err)
	}
}

// TestPanickingHandlerLeavesNothing: a handler that panics after Done,
// after Put, or with http.ErrAbortHandler leaves no watched key and no
// timer in the watcher, and its pending changes are dropped.
func TestPanickingHandlerLeavesNothing(t *testing.T) {
	m, _ := direct(t, session.Config{})
	cookie := loginCookie(t, m, "ann")
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"panic after Done", func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).Done()
			panic("boom")
		}},
		{"ErrAbortHandler after Put and Done", func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			if err := s.Put("dropped", 1); err != nil {
				t.Error(err)
			}
			s.Done()
			panic(http.ErrAbortHandler)
		}},
		{"panic after Put", func(w http.ResponseWriter, r *http.Request) {
			if err := session.FromContext(r.Context()).Put("dropped", 1); err != nil {
				t.Error(err)
			}
			panic("boom")
		}},
		{"panic after a streamed Done", func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.Done()
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(m.Handler(tt.handler))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panics are expected
			srv.Start()
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Cookie", cookie)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			// The server's goroutine ends the request after the client
			// sees the connection drop: wait for the watch to go.
			deadline := time.Now().Add(5 * time.Second)
			for {
				keys, timer := session.WatchState(m)
				if keys == 0 && !timer {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the panic the watcher holds %d keys, timer set %v", keys, timer)
				}
				time.Sleep(time.Millisecond)
			}
			var found bool
			serveOne(m, func(w http.ResponseWriter, r *http.Request) {
				found, _ = session.FromContext(r.Context()).Get("dropped", new(int))
			}, cookie)
			if found {
				t.Error("the pending Put of the panicking request was saved")
			}
			if whoIs(m, cookie) != "ann" {
				t.Error("the session did not survive the panic")
			}
		})
	}
}

// TestLostRenewalForgetsTheUser: a renewal that finds its session gone (a
// logout elsewhere between the load and the commit) leaves the request
// with a new, anonymous session: after the commit, User and the values no
// longer report the dead session's, and a Put of the same request starts
// a session that holds only that value.
func TestLostRenewalForgetsTheUser(t *testing.T) {
	m, st := direct(t, session.Config{})
	cookie := loginCookie(t, m, "ann")
	serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Put("secret", "ann's"); err != nil {
			t.Error(err)
		}
	}, cookie)
	var after []string
	rec := serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if s.User() != "ann" {
			t.Fatalf("before: user %q", s.User())
		}
		if err := s.Renew(); err != nil {
			t.Fatal(err)
		}
		// Logged out everywhere meanwhile.
		if n, err := st.DestroyUser(r.Context(), "ann", ""); n != 1 || err != nil {
			t.Fatalf("DestroyUser = %d, %v", n, err)
		}
		if err := s.Commit(r.Context()); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		secret, _ := s.String("secret")
		after = append(after, s.User(), secret)
		if err := s.Put("theme", "dark"); err != nil {
			t.Error(err)
		}
	}, cookie)
	if after[0] != "" || after[1] != "" {
		t.Errorf("after a renewal that found the session gone: User %q, secret %q; want an anonymous, empty session", after[0], after[1])
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("the new session's cookie: %v", cs)
	}
	var user, theme, secret string
	serveOne(m, func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		user = s.User()
		theme, _ = s.String("theme")
		secret, _ = s.String("secret")
	}, cs[0].Name+"="+cs[0].Value)
	if user != "" || theme != "dark" || secret != "" {
		t.Errorf("the new session holds user %q, theme %q, secret %q; want only theme dark", user, theme, secret)
	}
}
