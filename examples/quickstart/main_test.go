package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

func TestLoginMeLogout(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{
		Keys:           [][]byte{[]byte("test-key-of-at-least-32-bytes-long!")},
		InsecureCookie: true, // httptest serves plain HTTP
	})
	srv := httptest.NewServer(m.Handler(routes(m)))
	defer srv.Close()

	// A client with a cookie jar, like a browser.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}

	if code, body := get("/api/me"); code != http.StatusUnauthorized {
		t.Fatalf("before login: %d %s, want 401", code, body)
	}
	// The login redirects to /api/me; the client follows with the cookie.
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := get("/api/me"); code != http.StatusOK || body != `{"user":"alice"}` {
		t.Fatalf("after login: %d %s", code, body)
	}
	resp, err = c.Post(srv.URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := get("/api/me"); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d %s, want 401", code, body)
	}
}
