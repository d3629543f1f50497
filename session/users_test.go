package session_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

func TestUserSessions(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	login := func(user, ua string) *client {
		c := h.newClient(ua)
		c.do("POST", "/login?user="+user).must(t, 200, "ok")
		h.clock.Advance(time.Minute)
		return c
	}
	a1, a2, a3 := login("ann", "Firefox"), login("ann", "Chrome"), login("ann", "curl/8")
	b1 := login("bob", "Safari")
	handle := func(c *client) string { return c.do("GET", "/handle").must(t, 200, anyBody).body }
	list := func(c *client) []session.Info {
		t.Helper()
		var l []session.Info
		if err := json.Unmarshal([]byte(c.do("GET", "/sessions").must(t, 200, anyBody).body), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}

	t.Run("list", func(t *testing.T) {
		l := list(a1)
		var uas []string
		for _, in := range l {
			uas = append(uas, in.UserAgent)
			if in.User != "ann" || in.Created.IsZero() || in.LastSeen.IsZero() || !in.Expires.After(in.LastSeen) {
				t.Errorf("entry %+v", in)
			}
			if in.Current != (in.Handle == handle(a1)) {
				t.Errorf("entry %s: Current %v", in.Handle, in.Current)
			}
		}
		if want := []string{"curl/8", "Chrome", "Firefox"}; !slices.Equal(uas, want) {
			t.Errorf("user agents %q, want %q (newest first)", uas, want)
		}
		if l := list(b1); len(l) != 1 || l[0].UserAgent != "Safari" || !l[0].Current {
			t.Errorf("bob's list %+v", l)
		}
		if l := list(h.newClient("")); len(l) != 0 {
			t.Errorf("an anonymous list %+v", l)
		}
	})
	t.Run("long user agent", func(t *testing.T) {
		c := login("carl", strings.Repeat("u", 1000))
		if l := list(c); len(l) != 1 || len(l[0].UserAgent) != 256 {
			t.Errorf("a 1000-byte User-Agent is listed as %d bytes, want 256", len(l[0].UserAgent))
		}
	})
	t.Run("handles are not tokens", func(t *testing.T) {
		for _, c := range []*client{a1, a2, a3, b1} {
			hd, ck := handle(c), c.sessionCookie()
			if hd == "" || strings.Contains(ck, hd) || strings.Contains(hd, ck[:43]) {
				t.Errorf("handle %q of cookie %q", hd, ck)
			}
			if ok := h.raw("POST", "/revoke?h="+ck[:43], h.cookieName()+"="+a1.sessionCookie()).body; ok != "false" {
				t.Errorf("a token revoked a session as a handle: %s", ok)
			}
		}
	})
	t.Run("revoke one", func(t *testing.T) {
		a1.do("POST", "/revoke?h="+handle(a2)).must(t, 200, "true")
		a2.do("GET", "/user").must(t, 200, "")
		a2.do("GET", "/private").must(t, 303, anyBody)
		a1.do("GET", "/user").must(t, 200, "ann")
		a3.do("GET", "/user").must(t, 200, "ann")
		if l := list(a1); len(l) != 2 {
			t.Errorf("after revoking one of three: %d sessions", len(l))
		}
		a1.do("POST", "/revoke?h="+handle(a2)).must(t, 200, "false")
	})
	t.Run("revoke another user's session", func(t *testing.T) {
		b1.do("POST", "/revoke?h="+handle(a3)).must(t, 200, "false")
		a3.do("GET", "/user").must(t, 200, "ann")
		a1.do("POST", "/revoke?h=nonsense").must(t, 200, "false")
	})
	t.Run("revoke all", func(t *testing.T) {
		a1.do("POST", "/revoke-all").must(t, 200, "2")
		a1.do("GET", "/user").must(t, 200, "")
		a3.do("GET", "/user").must(t, 200, "")
		b1.do("GET", "/user").must(t, 200, "bob")
		if l, err := h.m.Sessions(t.Context(), "ann"); err != nil || len(l) != 0 {
			t.Errorf("ann's sessions after revoke all: %v, %v", l, err)
		}
		if l, err := h.m.Sessions(t.Context(), "bob"); err != nil || len(l) != 1 {
			t.Errorf("bob's sessions: %v, %v", l, err)
		}
	})
}
