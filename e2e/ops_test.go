package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	sessionctlOnce sync.Once
	sessionctlBin  string
	sessionctlErr  error
)

// sessionctl runs cmd/sessionctl (built once, beside the whatsup binary
// that TestMain builds and removes) against the cluster's Redis, given
// through STICKLESS_REDIS_URL as an operator would, and returns its
// stdout.
func (c *cluster) sessionctl(t *testing.T, args ...string) string {
	t.Helper()
	sessionctlOnce.Do(func() {
		sessionctlBin = filepath.Join(filepath.Dir(whatsupBin), "sessionctl")
		build := exec.Command("go", "build", "-o", sessionctlBin, "./cmd/sessionctl")
		build.Dir = ".." // the library module
		if out, err := build.CombinedOutput(); err != nil {
			sessionctlErr = &buildError{err, string(out)}
		}
	})
	if sessionctlErr != nil {
		t.Fatal(sessionctlErr)
	}
	cmd := exec.Command(sessionctlBin, args...)
	cmd.Env = append(os.Environ(), "STICKLESS_REDIS_URL="+c.Redis.URL()+"/0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sessionctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "building cmd/sessionctl: " + e.err.Error() + "\n" + e.out
}

// TestSessionctlRevokeAll: sessionctl revoke-all logs a user out of every
// running instance at once, and nobody else; the instances' audit log
// records logins with the client address that a trusted proxy forwards,
// never the one a client claims through nginx.
func TestSessionctlRevokeAll(t *testing.T) {
	c := startCluster(t, clusterConfig{Flags: []string{"-trusted-proxy", "127.0.0.1", "-log-json"}})
	laptop, phone, jack := newClient(t, "ivy's laptop"), newClient(t, "ivy's phone"), newClient(t, "jack's browser")
	laptop.login(t, c.URL, "ivy")
	loginXFF := func(b *client, base, name, xff string) {
		t.Helper()
		r, err := b.do("POST", base+"/login", "name="+name, http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {xff}})
		if err != nil || r.Code != http.StatusSeeOther {
			t.Fatalf("%s's login: %v, %v", name, r, err)
		}
	}
	// Straight to i2 from 127.0.0.1, a trusted proxy: its header counts.
	loginXFF(phone, c.Instances[1].URL, "ivy", "203.0.113.7")
	// Through nginx, with a forged header: nginx overwrites it.
	loginXFF(jack, c.URL, "jack", "6.6.6.6")

	var list []struct {
		Handle    string `json:"handle"`
		UserAgent string `json:"user_agent"`
	}
	if err := json.Unmarshal([]byte(c.sessionctl(t, "list", "-json", "ivy")), &list); err != nil || len(list) != 2 {
		t.Fatalf("sessionctl list ivy: %+v, %v", list, err)
	}
	if out := c.sessionctl(t, "revoke-all", "ivy"); !strings.Contains(out, "revoked 2 session(s)") {
		t.Errorf("sessionctl revoke-all ivy: %q", out)
	}
	for _, target := range c.Targets() {
		for _, b := range []*client{laptop, phone} {
			if w := b.mustWhoami(t, target); w.User != nil {
				t.Errorf("after revoke-all, %s is still %q", target, *w.User)
			}
		}
		if w := jack.mustWhoami(t, target); w.name() != "jack" {
			t.Errorf("revoke-all ivy logged jack out on %s", target)
		}
	}

	// The audit records of the logins.
	clients := map[string]string{}
	for _, in := range c.Instances {
		f, err := os.Open(in.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["log"] == "audit" && rec["msg"] == "login" {
				clients[rec["user_agent"].(string)] = rec["client"].(string)
			}
		}
		f.Close()
	}
	if got := clients["jack's browser"]; got != "127.0.0.1" {
		t.Errorf("audit log: jack's client %q, want 127.0.0.1 (nginx overwrites a forged X-Forwarded-For)", got)
	}
	if got := clients["ivy's phone"]; got != "203.0.113.7" {
		t.Errorf("audit log: the phone's client %q, want 203.0.113.7 (X-Forwarded-For from a trusted proxy)", got)
	}
	if len(clients) != 3 {
		t.Errorf("audit log: login records %v, want 3", clients)
	}
}

// TestSessionctlKeys: keys add then a restart keeps everybody logged in;
// keys retire after two additions logs out the cookies signed by the
// oldest key only.
func TestSessionctlKeys(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	early, late := newClient(t, "early's browser"), newClient(t, "late's browser")
	early.login(t, c.URL, "early")
	late.login(t, c.URL, "late")
	lateCookie := late.cookie(t, c.URL) // signed by the first key, never signed again

	loggedIn := func(cookie, want, when string) {
		t.Helper()
		for _, target := range c.Targets() {
			w, err := parseWho(replay(t, target+"/api/whoami", cookie))
			if err != nil {
				t.Fatal(err)
			}
			if w.name() != want {
				t.Errorf("%s: on %s the cookie is of user %q, want %q", when, target, w.name(), want)
			}
		}
	}

	c.sessionctl(t, "keys", "add", c.secrets)
	c.RestartAll(t)
	loggedIn(lateCookie, "late", "keys add and restart")
	loggedIn(early.cookie(t, c.URL), "early", "keys add and restart")
	// early comes by: its cookie is signed again with the new key.
	before := early.cookie(t, c.URL)
	if r := early.mustGet(t, c.URL+"/"); r.Code != http.StatusOK || !strings.Contains(r.Body, greeting("early")) {
		t.Fatalf("GET / after the rotation: %v", r)
	}
	if early.cookie(t, c.URL) == before {
		t.Fatal("the cookie was not signed again with the new key")
	}

	c.sessionctl(t, "keys", "add", c.secrets)
	c.RestartAll(t)
	loggedIn(lateCookie, "late", "second keys add and restart")

	out := c.sessionctl(t, "keys", "retire", "-json", c.secrets)
	if !strings.Contains(out, `"retired": 1`) {
		t.Errorf("keys retire: %s", out)
	}
	fi, err := os.Stat(c.secrets)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file after retire: %v, %v", fi.Mode(), err)
	}
	c.RestartAll(t)
	loggedIn(lateCookie, "", "keys retire and restart") // signed by the retired key
	loggedIn(early.cookie(t, c.URL), "early", "keys retire and restart")
}
