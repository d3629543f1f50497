package session_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestMaxSessionsPerUser: a login past the cap ends the user's oldest
// sessions, never the one logging in, and leaves other users alone.
func TestMaxSessionsPerUser(t *testing.T) {
	h := newHarness(t, session.Config{MaxSessionsPerUser: 2}, harnessOptions{})
	other := h.newClient("bob's browser")
	other.do("POST", "/login?user=bob").must(t, 200, "ok")
	var clients []*client
	for i := range 4 {
		c := h.newClient(fmt.Sprintf("browser %d", i))
		h.clock.Advance(time.Second) // login times apart: "oldest" is well defined
		c.do("POST", "/login?user=ann").must(t, 200, "ok")
		clients = append(clients, c)
	}
	for i, c := range clients {
		want := "ann"
		if i < 2 {
			want = "" // the two oldest were evicted
		}
		c.do("GET", "/user").must(t, 200, want)
	}
	other.do("GET", "/user").must(t, 200, "bob")
	list, err := h.m.Sessions(t.Context(), "ann")
	if err != nil || len(list) != 2 {
		t.Fatalf("ann's sessions: %v, %v; want 2", list, err)
	}
	for _, in := range list {
		if in.UserAgent != "browser 2" && in.UserAgent != "browser 3" {
			t.Errorf("kept %q, want the two newest", in.UserAgent)
		}
	}
}

// TestMaxSessionsPerUserOff: a negative cap keeps every session.
func TestMaxSessionsPerUserOff(t *testing.T) {
	h := newHarness(t, session.Config{MaxSessionsPerUser: -1}, harnessOptions{})
	for range 120 {
		h.newClient("").do("POST", "/login?user=ann").must(t, 200, "ok")
	}
	if list, err := h.m.Sessions(t.Context(), "ann"); err != nil || len(list) != 120 {
		t.Fatalf("ann has %d sessions (%v), want 120", len(list), err)
	}
}

// TestOnlyFirstCookiesVerified: a request that carries many cookies of the
// session's name costs a bounded number of signature checks, and only
// well-formed cookies count towards that bound: a real cookie behind a
// few forged ones still counts, and so does one behind any amount of
// malformed junk.
func TestOnlyFirstCookiesVerified(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	real := h.cookieName() + "=" + c.sessionCookie()
	// forged: well-formed values (the length, the dot, base64url) whose
	// signature does not hold; each costs one HMAC.
	forged := func(n int) string {
		var b strings.Builder
		for i := range n {
			tok := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{byte(i)}, 32))
			fmt.Fprintf(&b, "%s=%s.%s; ", h.cookieName(), tok, strings.Repeat("A", 43))
		}
		return b.String()
	}
	// junk: values that fail before any HMAC.
	junk := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s=%s; ", h.cookieName(), strings.Repeat(string(rune('a'+i%26)), 43)+".x")
		}
		return b.String()
	}
	h.count.Reset()
	h.raw("GET", "/user", forged(3)+real).must(t, 200, "ann")
	h.raw("GET", "/user", forged(4)+real).must(t, 200, "")
	h.raw("GET", "/user", forged(1000)+real).must(t, 200, "")
	h.raw("GET", "/user", junk(2000)+forged(3)+real).must(t, 200, "ann")
	if got := h.count.Calls(); !maps.Equal(got, map[string]int{"Load": 2}) {
		t.Errorf("store calls: %v, want one Load per request whose real cookie was found", got)
	}
}

// TestPlantedJunkCookies: ten junk cookies of the session's name planted
// ahead of the real one (InsecureCookie: no __Host- prefix stops a
// planter) leave the user logged in, and cost no store call.
func TestPlantedJunkCookies(t *testing.T) {
	h := newHarness(t, session.Config{InsecureCookie: true}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	real := h.cookieName() + "=" + c.sessionCookie()
	for _, tc := range []struct{ name, junk string }{
		{"one character", "z"},
		{"empty", ""},
		{"a cookie's length, not base64", strings.Repeat("!", 43) + "." + strings.Repeat("!", 43)},
		{"too long", strings.Repeat("A", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := strings.Repeat(h.cookieName()+"="+tc.junk+"; ", 10) + real
			h.count.Reset()
			h.raw("GET", "/user", header).must(t, 200, "ann")
			if got := h.count.Calls(); !maps.Equal(got, map[string]int{"Load": 1}) {
				t.Errorf("store calls: %v, want the one Load of the real cookie", got)
			}
		})
	}
}

// TestAnonymousStoresNothing: a request that changes nothing, or nothing
// that a session must hold, makes no write.
func TestAnonymousStoresNothing(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	h.count.Reset()
	for _, path := range []string{"/renew", "/destroy"} {
		c.do("POST", path).must(t, 200, "ok")
	}
	c.do("POST", "/delete?k=a").must(t, 200, "ok")
	c.do("GET", "/user").must(t, 200, "")
	if got := h.count.Calls(); len(got) != 0 {
		t.Errorf("store calls of an anonymous client that stores nothing: %v, want none", got)
	}
	if c.sessionCookie() != "" {
		t.Errorf("an anonymous client that stores nothing got a cookie")
	}
}

// TestIncrAfterDestroy: in the request that destroyed the session, the
// immediate operations report ErrGone instead of starting a new session.
func TestIncrAfterDestroy(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
		"POST /logout-incr": func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.Destroy()
			_, err := s.Incr(r.Context(), "n", 1)
			_, err2 := s.CompareAndSwap(r.Context(), "m", nil, 1)
			fmt.Fprint(w, errors.Is(err, session.ErrGone), errors.Is(err2, session.ErrGone))
		},
	}})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	h.count.Reset()
	c.do("POST", "/logout-incr").must(t, 200, "true true")
	if got := h.count.Calls(); !maps.Equal(got, map[string]int{"Load": 1, "Destroy": 1}) {
		t.Errorf("store calls: %v, want one Load and one Destroy", got)
	}
	c.do("GET", "/user").must(t, 200, "")
}

// TestSizeLimitUnderConcurrency: parallel writes of different keys to one
// session, through two Managers on one store, never make it pass MaxSize
// or MaxFields: the store checks the limits in the write itself. Every
// refused write gets 413 and writes nothing.
func TestSizeLimitUnderConcurrency(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  session.Config
		size int
	}{
		{"size", session.Config{MaxSize: 64 << 10}, 16 << 10},
		{"fields", session.Config{MaxFields: 8}, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New(memstore.Options{})
			t.Cleanup(func() { store.Close() })
			var srvs []*httptest.Server
			for range 2 {
				cfg := tt.cfg
				cfg.Keys, cfg.InsecureCookie = [][]byte{key1}, true
				m := session.New(store, cfg)
				srv := httptest.NewServer(m.Handler(testApp(m, nil)))
				t.Cleanup(srv.Close)
				srvs = append(srvs, srv)
			}
			login, err := http.Post(srvs[0].URL+"/login?user=ann", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			login.Body.Close()
			var cookie string
			for _, ck := range login.Cookies() {
				cookie = ck.Name + "=" + ck.Value
			}
			const n = 200
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes := map[int]int{}
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", fmt.Sprintf("%s/put?k=k%03d&v=%s", srvs[i%2].URL, i, strings.Repeat("x", tt.size)), nil)
					req.Header.Set("Cookie", cookie)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if codes[200]+codes[413] != n || codes[413] == 0 {
				t.Fatalf("answers %v, want only 200 and 413, some of each", codes)
			}
			list, err := store.UserSessions(context.Background(), "ann")
			if err != nil || len(list) != 1 {
				t.Fatalf("ann's sessions: %v, %v", list, err)
			}
			rec, found, err := store.Load(context.Background(), list[0].Key, session.Limits{Idle: time.Hour, Absolute: time.Hour})
			if err != nil || !found {
				t.Fatalf("Load: %v %v", found, err)
			}
			size := 0
			for k, v := range rec.Values {
				size += len(k) + len(v)
			}
			lim := session.New(store, session.Config{Keys: [][]byte{key1}, MaxSize: tt.cfg.MaxSize, MaxFields: tt.cfg.MaxFields}).Config()
			if size > lim.MaxSize || len(rec.Values) > lim.MaxFields {
				t.Fatalf("stored session: %d bytes in %d fields, limits %d and %d", size, len(rec.Values), lim.MaxSize, lim.MaxFields)
			}
			// Every 200 is in the store: nothing acknowledged was lost.
			if len(rec.Values) != codes[200] {
				t.Errorf("%d fields stored, %d writes acknowledged", len(rec.Values), codes[200])
			}
			t.Logf("answers %v; stored %d bytes in %d fields", codes, size, len(rec.Values))
		})
	}
}
