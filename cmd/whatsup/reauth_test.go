package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestLogoutEverywhereNeedsRecentLogin: "log out everywhere", "log out my
// other sessions" and revoking one session ask a user whose login is older
// than -reauth-after to log in again, and work after.
func TestLogoutEverywhereNeedsRecentLogin(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true})
	a := newApp(m, "test-1")
	a.reauth = 300 * time.Millisecond
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	d := &demo{t: t, srv: srv, store: st}
	c := d.client()
	d.login(c, "ann")
	time.Sleep(400 * time.Millisecond)
	r := d.do(c, "POST", "/logout-everywhere", "", "")
	if r.code != 303 || r.hdr.Get("Location") != "/login?reauth=1" {
		t.Fatalf("stale login, form: %d %q", r.code, r.hdr.Get("Location"))
	}
	if r := d.do(c, "GET", "/login?reauth=1", "", ""); !strings.Contains(r.body, "log in again") {
		t.Errorf("the login page does not say why: %s", r.body)
	}
	r = d.do(c, "POST", "/logout-everywhere", "", "", "Accept", "application/json")
	if r.code != 401 || !strings.Contains(r.body, "recent login required") {
		t.Fatalf("stale login, JSON: %d %s", r.code, r.body)
	}
	// Ending one session, or the others, needs a fresh login too (ASVS 3.3.4).
	for _, path := range []string{"/sessions/revoke", "/logout-others"} {
		if r := d.do(c, "POST", path, "application/x-www-form-urlencoded", "handle=x"); r.code != 303 || r.hdr.Get("Location") != "/login?reauth=1" {
			t.Errorf("stale login, %s: %d %q", path, r.code, r.hdr.Get("Location"))
		}
	}
	if r := d.do(c, "POST", "/api/sessions/revoke", "application/json", `{"handle":"x"}`); r.code != 401 || !strings.Contains(r.body, "recent login required") {
		t.Errorf("stale login, API revoke: %d %s", r.code, r.body)
	}
	if u := d.whoami(c); u == nil || *u != "ann" {
		t.Fatalf("the refused action logged the user out: %v", u)
	}
	d.login(c, "ann")
	r = d.do(c, "POST", "/logout-everywhere", "", "", "Accept", "application/json")
	if r.code != 200 || !strings.Contains(r.body, `"revoked":1`) {
		t.Fatalf("fresh login: %d %s", r.code, r.body)
	}
}

// TestRememberMe: the login form's checkbox makes the cookie persistent.
func TestRememberMe(t *testing.T) {
	d := newDemo(t)
	for _, tt := range []struct {
		form       string
		persistent bool
	}{
		{"name=ann", false},
		{"name=ann&remember=on", true},
	} {
		r := d.do(d.client(), "POST", "/login", "application/x-www-form-urlencoded", tt.form)
		sc := r.hdr.Get("Set-Cookie")
		if got := strings.Contains(sc, "Max-Age="); got != tt.persistent || sc == "" {
			t.Errorf("%s: Set-Cookie %q, want persistent %v", tt.form, sc, tt.persistent)
		}
	}
}
