package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestRoundRobinSharesTheSession: one login through nginx, then every
// request, whichever instance serves it, sees the same logged-in session.
func TestRoundRobinSharesTheSession(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	alice := newClient(t, "alice's browser")
	alice.login(t, c.URL, "alice")

	served := make(map[string]int)
	for i := range 30 {
		r := alice.mustGet(t, c.URL+"/")
		if r.Code != http.StatusOK || !strings.Contains(r.Body, greeting("alice")) {
			t.Errorf("request %d: want 200 %q, got %v", i, greeting("alice"), r)
		}
		served[r.Header.Get("X-Instance")]++
	}
	t.Logf("30 requests served by %v", served)
	for _, in := range c.Instances {
		if served[in.Name] == 0 {
			t.Errorf("instance %s served none of the 30 requests (round-robin?): %v", in.Name, served)
		}
	}
	if len(served) != len(c.Instances) {
		t.Errorf("X-Instance values %v, want exactly the %d instances", served, len(c.Instances))
	}
}

// TestLogoutKillsTheCookieEverywhere: after a logout on one instance, the
// old cookie, replayed against every instance and through nginx, is an
// anonymous session.
func TestLogoutKillsTheCookieEverywhere(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	bob := newClient(t, "bob's browser")
	bob.login(t, c.URL, "bob")
	old := bob.cookie(t, c.URL)
	if old == "" {
		t.Fatal("no session cookie after login")
	}
	for _, target := range c.Targets() {
		if w, err := parseWho(replay(t, target+"/api/whoami", old)); err != nil || w.name() != "bob" {
			t.Fatalf("before logout, %s: want bob, got %+v, %v", target, w, err)
		}
	}

	r, err := bob.do("POST", c.Instances[0].URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("logout on %s: want 303 to /login, got %v", c.Instances[0].Name, r)
	}
	if got := bob.cookie(t, c.URL); got != "" {
		t.Errorf("logout left the cookie in the browser")
	}

	// nginx three times, to reach every instance through it too.
	targets := append(c.Targets(), c.URL, c.URL)
	for _, target := range targets {
		w, err := parseWho(replay(t, target+"/api/whoami", old))
		if err != nil {
			t.Fatal(err)
		}
		if w.User != nil {
			t.Errorf("old cookie after logout, %s (served by %s): user %q, want anonymous", target, w.Instance, *w.User)
		}
		r := replay(t, target+"/", old)
		if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("old cookie after logout, GET %s/: want 303 to /login, got %v", target, r)
		}
	}
}

type sessionsReply struct {
	Sessions []struct {
		Handle    string `json:"handle"`
		Current   bool   `json:"current"`
		UserAgent string `json:"user_agent"`
	} `json:"sessions"`
}

// sessions returns the user's sessions as GET /api/sessions lists them.
func (c *client) sessions(t testing.TB, base string) sessionsReply {
	t.Helper()
	r := c.mustGet(t, base+"/api/sessions")
	if r.Code != http.StatusOK {
		t.Fatalf("GET /api/sessions: %v", r)
	}
	var s sessionsReply
	if err := json.Unmarshal([]byte(r.Body), &s); err != nil {
		t.Fatalf("GET /api/sessions: %v: %v", r, err)
	}
	return s
}

// currentID is the id of the client's own session in its list.
func (s sessionsReply) currentID(t testing.TB) string {
	t.Helper()
	id := ""
	for _, x := range s.Sessions {
		if x.Current {
			if id != "" {
				t.Fatalf("two sessions marked current: %+v", s)
			}
			id = x.Handle
		}
	}
	if id == "" {
		t.Fatalf("no session marked current: %+v", s)
	}
	return id
}

// TestSessionsOfOneUser: one user on three clients; the list shows three,
// revoking one logs out that client only, and logging out everywhere logs
// out all of them.
func TestSessionsOfOneUser(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	var clients []*client
	for k := 1; k <= 3; k++ {
		cl := newClient(t, fmt.Sprintf("carol's device %d", k))
		cl.login(t, c.URL, "carol")
		clients = append(clients, cl)
	}
	list := clients[0].sessions(t, c.URL)
	if len(list.Sessions) != 3 {
		t.Fatalf("carol's sessions: want 3, got %+v", list)
	}
	uas := make(map[string]bool)
	for _, s := range list.Sessions {
		uas[s.UserAgent] = true
	}
	for _, cl := range clients {
		if !uas[cl.ua] {
			t.Errorf("user agent %q not in the list %+v", cl.ua, list)
		}
	}
	first := list.currentID(t)
	second := clients[1].sessions(t, c.URL).currentID(t)
	if first == second {
		t.Fatalf("two clients share the session id %q", first)
	}
	for _, s := range list.Sessions {
		if strings.Contains(clients[0].cookie(t, c.URL), s.Handle) {
			t.Errorf("a session id of the list is part of a cookie: the handle must not be the token")
		}
	}

	// Client 1 revokes client 2's session.
	r := clients[0].mustPostJSON(t, c.URL+"/api/sessions/revoke", map[string]string{"handle": second})
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `"revoked":true`) {
		t.Fatalf("revoke: want 200 revoked, got %v", r)
	}
	// Three times through nginx: every instance agrees.
	for range 3 {
		for k, want := range []string{"carol", "", "carol"} {
			if got := clients[k].mustWhoami(t, c.URL); got.name() != want {
				t.Errorf("after revoking client 2, client %d on %s: user %q, want %q", k+1, got.Instance, got.name(), want)
			}
		}
	}
	if n := len(clients[2].sessions(t, c.URL).Sessions); n != 2 {
		t.Errorf("after revoking one: %d sessions listed, want 2", n)
	}

	// Client 3 logs out everywhere.
	r, err := clients[2].do("POST", c.URL+"/logout-everywhere", "", http.Header{"Accept": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `"revoked":2`) {
		t.Errorf("logout everywhere: want 200 {\"revoked\":2}, got %v", r)
	}
	for range 3 {
		for k, cl := range clients {
			if got := cl.mustWhoami(t, c.URL); got.User != nil {
				t.Errorf("after logout everywhere, client %d on %s: user %q, want anonymous", k+1, got.Instance, *got.User)
			}
		}
	}
}

// TestConcurrentWritesOfOneSession: two clients holding the same session
// cookie write different keys through nginx at the same time; no write is
// lost (the store takes deltas, not whole sessions).
func TestConcurrentWritesOfOneSession(t *testing.T) {
	// 2 × 120 keys plus the demo's 2 stay within the default of 256 keys
	// per session (session.Config.MaxFields).
	const rounds = 120
	c := startCluster(t, clusterConfig{})
	a := newClient(t, "dave's laptop")
	a.login(t, c.URL, "dave")
	b := newClient(t, "dave's laptop, second tab")
	b.setCookie(t, c.URL, a.cookie(t, c.URL))

	var (
		mu       sync.Mutex
		failures []string
		served   = make(map[string]int)
	)
	write := func(cl *client, key string, i int) {
		r, err := cl.postJSON(c.URL+"/api/session", map[string]int{key: i})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failures = append(failures, err.Error())
		case r.Code != http.StatusOK:
			failures = append(failures, fmt.Sprintf("POST %s=%d: %v", key, i, r))
		default:
			served[r.Header.Get("X-Instance")]++
		}
	}
	for i := range rounds {
		var wg sync.WaitGroup
		wg.Go(func() { write(a, fmt.Sprintf("a%03d", i), i) })
		wg.Go(func() { write(b, fmt.Sprintf("b%03d", i), i) })
		wg.Wait()
		if len(failures) > 10 {
			break
		}
	}
	if len(failures) > 0 {
		t.Fatalf("%d writes failed, the first: %s", len(failures), strings.Join(failures[:min(len(failures), 5)], "\n"))
	}
	t.Logf("%d writes served by %v", 2*rounds, served)

	r := a.mustGet(t, c.URL+"/api/session")
	var got map[string]json.RawMessage
	if r.Code != http.StatusOK || json.Unmarshal([]byte(r.Body), &got) != nil {
		t.Fatalf("GET /api/session: %v", r)
	}
	lost := 0
	for i := range rounds {
		for _, p := range []string{"a", "b"} {
			key := fmt.Sprintf("%s%03d", p, i)
			if string(got[key]) != fmt.Sprint(i) {
				lost++
				if lost <= 5 {
					t.Errorf("key %s: want %d, got %s", key, i, got[key])
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d writes lost", lost, 2*rounds)
	}
	if w := b.mustWhoami(t, c.URL); w.name() != "dave" {
		t.Errorf("after the writes, the second client is %q, want dave", w.name())
	}
}
