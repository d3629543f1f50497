// Package apptest is the one scenario that every framework example passes:
// the same routes, driven over HTTP through httptest with a cookie jar.
package apptest

import (
	"encoding/json"
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

// Manager returns a Manager on a fresh memstore, closed when the test ends.
func Manager(t *testing.T) *session.Manager {
	t.Helper()
	store := memstore.New(memstore.Options{})
	t.Cleanup(func() { store.Close() })
	return session.New(store, session.Config{
		Keys:           [][]byte{[]byte("apptest-key-of-at-least-32-bytes!!")},
		InsecureCookie: true, // httptest serves plain HTTP
	})
}

// Run drives the example's handler h (built on a Manager from [Manager])
// through: 401 JSON before login, login, GET /api/me, a counter that
// counts, logout, and 401 again with the old cookie replayed.
func Run(t *testing.T, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	do := func(method, path string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if resp.StatusCode != http.StatusNoContent {
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("%s %s: %d with Content-Type %q, want JSON", method, path, resp.StatusCode, ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				t.Fatalf("%s %s: %d: %v", method, path, resp.StatusCode, err)
			}
		}
		return resp.StatusCode, v
	}

	if code, v := do("GET", "/api/me", nil); code != http.StatusUnauthorized || v["error"] != "login required" {
		t.Fatalf("GET /api/me before login: %d %v, want 401 login required", code, v)
	}
	if code, v := do("POST", "/login", url.Values{}); code != http.StatusBadRequest {
		t.Fatalf("POST /login without a user: %d %v, want 400", code, v)
	}
	if code, v := do("POST", "/login", url.Values{"user": {"alice"}}); code != http.StatusOK || v["user"] != "alice" {
		t.Fatalf("POST /login: %d %v", code, v)
	}
	u, _ := url.Parse(srv.URL)
	cookies := jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("after login the jar holds %d cookies, want the session cookie", len(cookies))
	}
	if code, v := do("GET", "/api/me", nil); code != http.StatusOK || v["user"] != "alice" {
		t.Fatalf("GET /api/me: %d %v", code, v)
	}
	for want := 1.0; want <= 3; want++ {
		if code, v := do("POST", "/api/counter", nil); code != http.StatusOK || v["count"] != want {
			t.Fatalf("POST /api/counter: %d %v, want count %v", code, v, want)
		}
	}
	if code, _ := do("POST", "/logout", nil); code != http.StatusNoContent {
		t.Fatalf("POST /logout: %d, want 204", code)
	}
	if code, v := do("GET", "/api/me", nil); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/me after logout: %d %v, want 401", code, v)
	}
	// The old cookie, replayed, is dead on the server.
	jar.SetCookies(u, cookies)
	if code, v := do("GET", "/api/me", nil); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/me with the old cookie: %d %v, want 401", code, v)
	}
}
