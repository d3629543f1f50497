package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSecretRotation: a rolling restart of the instances with a new signing
// key first and the old one second keeps everybody logged in (and cookies
// that come by are signed again with the new key); a second restart without
// the old key logs out whoever still holds a cookie signed with it only.
func TestSecretRotation(t *testing.T) {
	oldKey, newKey := randomKey(), randomKey()
	c := startCluster(t, clusterConfig{Keys: []string{oldKey}})
	visitor := newClient(t, "gina's browser") // comes by during the rotation
	away := newClient(t, "hugo's browser")    // does not
	visitor.login(t, c.URL, "gina")
	away.login(t, c.URL, "hugo")
	oldCookie := visitor.cookie(t, c.URL)

	c.SetKeys(t, newKey, oldKey)
	c.RestartAll(t)
	for _, target := range c.Targets() {
		for _, cookie := range []string{oldCookie, away.cookie(t, c.URL)} {
			if w, err := parseWho(replay(t, target+"/api/whoami", cookie)); err != nil || w.User == nil {
				t.Errorf("new key first, old second: a cookie signed with the old key on %s: want logged in, got %+v, %v", target, w, err)
			}
		}
	}
	for range 3 {
		if r := visitor.mustGet(t, c.URL+"/"); r.Code != http.StatusOK || !strings.Contains(r.Body, greeting("gina")) {
			t.Errorf("new key first, old second: GET / through nginx: want 200 %q, got %v", greeting("gina"), r)
		}
	}
	if visitor.cookie(t, c.URL) == oldCookie {
		t.Errorf("a cookie signed with the old key was not signed again with the new one")
	}

	c.SetKeys(t, newKey)
	c.RestartAll(t)
	for range 3 {
		if r := visitor.mustGet(t, c.URL+"/"); r.Code != http.StatusOK || !strings.Contains(r.Body, greeting("gina")) {
			t.Errorf("old key dropped: the cookie signed again with the new key: want 200 %q, got %v", greeting("gina"), r)
		}
	}
	for _, target := range c.Targets() {
		if w := away.mustWhoami(t, target); w.User != nil {
			t.Errorf("old key dropped: a cookie signed with it only, on %s: user %q, want anonymous", target, *w.User)
		}
		r := replay(t, target+"/", oldCookie)
		if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("old key dropped: GET %s/ with the old cookie: want 303 to /login, got %v", target, r)
		}
	}
}

// TestTimeouts, with -idle-timeout 2s -absolute-timeout 5s: a session left
// alone for longer than the idle timeout is gone; one kept busy outlives
// the idle timeout but not the absolute one. The only time assertions
// follow from causality: a request sent more than the absolute timeout
// after the login answer arrived is past the server's deadline.
func TestTimeouts(t *testing.T) {
	const (
		idle     = 2 * time.Second
		absolute = 5 * time.Second
		every    = 200 * time.Millisecond
		giveUp   = absolute + 10*time.Second
	)
	c := startCluster(t, clusterConfig{Flags: []string{"-idle-timeout", idle.String(), "-absolute-timeout", absolute.String()}})
	lazy := newClient(t, "ivy's browser")
	busy := newClient(t, "jan's browser")
	lazy.login(t, c.URL, "ivy")
	lazyLogin := time.Now()
	busyLoginSent := time.Now()
	busy.login(t, c.URL, "jan")
	busyLogin := time.Now()

	var lastIn, firstOut time.Duration // since busyLogin
	prevSent := busyLoginSent
	checkedLazy := false
	for {
		sentAt := time.Now()
		sent := sentAt.Sub(busyLogin)
		if sent > giveUp {
			t.Fatalf("jan still logged in %v after login (absolute timeout %v)", sent, absolute)
		}
		w := busy.mustWhoami(t, c.URL)
		arrived := time.Now()
		// The server saw the previous request after prevSent and the login
		// after busyLoginSent, and this one before arrived: when both gaps
		// are under the limits, the session cannot have expired.
		gap := arrived.Sub(prevSent)
		mustLive := gap < idle && arrived.Sub(busyLoginSent) < absolute
		prevSent = sentAt
		switch {
		case w.name() != "jan" && mustLive:
			t.Fatalf("jan anonymous at %v after login, %v after the previous request: before both timeouts (idle %v, absolute %v)",
				sent, gap, idle, absolute)
		case w.name() == "jan" && firstOut != 0:
			t.Fatalf("jan logged in again at %v after being anonymous at %v", sent, firstOut)
		case w.name() == "jan" && sent > absolute:
			t.Fatalf("jan still logged in at %v, past the absolute timeout %v", sent, absolute)
		case w.name() == "jan":
			lastIn = sent
		case w.User != nil:
			t.Fatalf("jan's session says user %q", *w.User)
		case firstOut == 0:
			firstOut = sent
		}
		if !checkedLazy && time.Since(lazyLogin) > idle+time.Second {
			// ivy has not been seen since her login answer: idle expired.
			if w := lazy.mustWhoami(t, c.URL); w.User != nil {
				t.Errorf("ivy still logged in %v after her last request (idle timeout %v)", timeSince(lazyLogin), idle)
			}
			checkedLazy = true
		}
		if firstOut != 0 && sent > absolute+time.Second {
			break
		}
		time.Sleep(every)
	}
	t.Logf("jan: logged in until at least %v, anonymous from %v after the login answer (idle %v, absolute %v)",
		lastIn.Round(time.Millisecond), firstOut.Round(time.Millisecond), idle, absolute)
	if !checkedLazy {
		t.Error("ivy was never checked")
	}
	if lastIn <= idle {
		t.Errorf("activity every %v kept jan's session only until %v, not past the idle timeout %v", every, lastIn, idle)
	}
}

// TestDifferentKeysAreLogged: two instances started with different signing
// keys log different key fingerprints at start, and when a user's cookie
// from the first reaches the second, the second logs within a second that
// a cookie failed the signature check, with the hint to compare the keys.
func TestDifferentKeysAreLogged(t *testing.T) {
	c := startCluster(t, clusterConfig{Instances: 2})
	c.SetKeys(t, randomKey())
	c.Instances[1].Restart(t) // i2 reads the other key
	fingerprint := func(in *instance) string {
		all := regexp.MustCompile(`signing=([0-9a-f]{16})`).FindAllStringSubmatch(in.Tail(1000), -1)
		if all == nil {
			t.Fatalf("%s logged no key fingerprint:\n%s", in.Name, in.Tail(20))
		}
		return all[len(all)-1][1] // of its latest start

	}
	if f1, f2 := fingerprint(c.Instances[0]), fingerprint(c.Instances[1]); f1 == f2 {
		t.Errorf("instances with different keys log the same fingerprint %s", f1)
	}

	const line = "session cookies failed the signature check"
	if c.Instances[1].LogHas(line) {
		t.Fatalf("i2 logged a bad cookie before any came:\n%s", c.Instances[1].Tail(20))
	}
	kim := newClient(t, "kim's browser")
	kim.login(t, c.Instances[0].URL, "kim")
	if w := kim.mustWhoami(t, c.Instances[1].URL); w.User != nil {
		t.Fatalf("i2, with another key, took i1's cookie: user %q", *w.User)
	}
	deadline := time.Now().Add(time.Second)
	for !c.Instances[1].LogHas(line) {
		if time.Now().After(deadline) {
			t.Fatalf("i2 did not log %q within a second of the request:\n%s", line, c.Instances[1].Tail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !c.Instances[1].LogHas("compare the key fingerprints") {
		t.Errorf("i2's record of the bad cookie does not point at the keys:\n%s", c.Instances[1].Tail(20))
	}
}
