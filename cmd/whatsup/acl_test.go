package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
)

// aclRule returns the ACL line of the instances' user from
// deploy/redis.conf (the commented "# user stickless ..." line, and the
// rights of the client-side cache when cache is set), with password in
// place of PASSWORD.
func aclRule(t *testing.T, password string, cache bool) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n# user default off") {
		t.Fatalf("deploy/redis.conf shows no `user default off` line")
	}
	rule, err := topology.AppACL("../../deploy", cache)
	if err != nil {
		t.Fatal(err)
	}
	return "user " + topology.AppUser + " on >" + password + " " + rule
}

// TestRedisACL runs the demo as the ACL user of deploy/redis.conf on
// standalone Redis, Cluster and Sentinel, with the client-side cache off
// and on: every flow works, Redis logs no refused command (ACL LOG), and
// the user can touch nothing but the store's keys; without the cache it
// cannot ask Redis to track keys. (The servers keep a password on the
// default user, which the test harness itself uses; `user default off` is
// deploy/cluster.sh's to apply.)
func TestRedisACL(t *testing.T) {
	const admin = "admin-password-of-the-test"
	const pw = "the-instances-password"
	for _, topo := range []string{"standalone", "cluster", "sentinel"} {
		for _, cache := range []bool{false, true} {
			name := topo
			if cache {
				name += "/cache"
			}
			t.Run(name, func(t *testing.T) { testRedisACL(t, topo, cache, admin, pw) })
		}
	}
}

func testRedisACL(t *testing.T, topo string, cache bool, admin, pw string) {
	opts := redistest.Options{Password: admin, ExtraConfig: []string{aclRule(t, pw, cache)}}
	var (
		servers []*redistest.Server
		rawURL  string
	)
	userinfo := url.UserPassword("stickless", pw).String()
	switch topo {
	case "standalone":
		rs := redistest.Standalone(t, opts)
		servers = []*redistest.Server{rs}
		rawURL = "redis://" + userinfo + "@" + rs.Addr + "/0"
	case "cluster":
		cs := redistest.ClusterWith(t, 3, opts)
		servers = cs.Nodes
		rawURL = "redis://" + userinfo + "@" + cs.Addrs()[0] + "?addr=" + strings.Join(cs.Addrs()[1:], "&addr=")
	case "sentinel":
		ss := redistest.SentinelWith(t, redistest.SentinelOptions{Options: opts})
		servers = []*redistest.Server{ss.Master, ss.Replica}
		rawURL = "redis://" + userinfo + "@" + ss.SentinelAddrs()[0] + "/0?master_set=" + ss.MasterName + "&addr=" + strings.Join(ss.SentinelAddrs()[1:], "&addr=")
	}
	secrets := t.TempDir() + "/secrets"
	if err := writeFile(secrets, string(testKey)+"\n"); err != nil {
		t.Fatal(err)
	}
	args := []string{"-redis", rawURL, "-secrets-file", secrets}
	if cache {
		args = append(args, "-client-cache")
	}
	base, logs := startRun(t, args...)
	if err := demoFlows(base); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, logs)
	}
	for _, s := range servers {
		if r := s.Do(t, "ACL", "LOG"); len(r.Elems) != 0 {
			t.Errorf("%s: ACL LOG shows refused commands: %v", s.Addr, r)
		}
	}
	s := servers[0]
	if got := rawCommand(t, s.Addr, "", "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without credentials: %q, want NOAUTH", got)
	}
	refused := []string{"SET other:key x", "GET other:key", "KEYS *", "FLUSHALL", "CONFIG GET requirepass", "ACL LIST", "SUBSCRIBE c"}
	if !cache {
		refused = append(refused, "CLIENT TRACKING ON OPTIN")
	}
	for _, cmd := range refused {
		if got := rawCommand(t, s.Addr, pw, cmd); !strings.HasPrefix(got, "-NOPERM") {
			t.Errorf("%s as the instances' user: %q, want NOPERM", cmd, got)
		}
	}
}

// rawCommand sends one inline command to addr, after AUTH stickless
// password when password is set, and returns the first line of the reply.
func rawCommand(t *testing.T, addr, password, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		fmt.Fprintf(c, "AUTH stickless %s\r\n", password)
		if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "+OK") {
			t.Fatalf("AUTH stickless: %q", line)
		}
	}
	fmt.Fprintf(c, "%s\r\n", cmd)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

// demoFlows drives every route of the demo that touches the store, as
// two browsers of one user, and reports the first unexpected answer.
func demoFlows(base string) error {
	newBrowser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	do := func(c *http.Client, method, path, ctype, body string, want int) (string, error) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		bufio.NewReader(resp.Body).WriteTo(b)
		if resp.StatusCode != want {
			return "", fmt.Errorf("%s %s: %d %q, want %d", method, path, resp.StatusCode, b.String(), want)
		}
		return b.String(), nil
	}
	form := "application/x-www-form-urlencoded"
	a, b := newBrowser(), newBrowser()
	steps := []struct {
		c                         *http.Client
		method, path, ctype, body string
		want                      int
	}{
		{a, "GET", "/healthz", "", "", 200},
		{a, "POST", "/login", form, "name=ann", 303},
		{b, "POST", "/login", form, "name=ann", 303},
		{a, "GET", "/", "", "", 200},
		{a, "GET", "/api/whoami", "", "", 200},
		{a, "GET", "/api/whoami", "", "", 200}, // a cached read
		{a, "POST", "/api/session", "application/json", `{"cart":[1,2]}`, 200},
		{a, "GET", "/api/session", "", "", 200},
		{a, "GET", "/api/sessions", "", "", 200},
		{a, "GET", "/sessions", "", "", 200},
		{a, "POST", "/login", form, "name=ann", 303}, // a renewal
		{a, "POST", "/logout-everywhere", "", "", 303},
		{b, "GET", "/", "", "", 303}, // logged out everywhere
		{b, "POST", "/login", form, "name=bea", 303},
		{b, "POST", "/logout", "", "", 303},
	}
	for _, s := range steps {
		if _, err := do(s.c, s.method, s.path, s.ctype, s.body, s.want); err != nil {
			return err
		}
	}
	return nil
}

// TestRedisAtMaxmemory: with deploy/redis.conf's policy (noeviction) and
// Redis over its maxmemory, a new login is refused with 503 while a user
// already logged in still reads his pages; once memory is back, logins work
// again. This is what the MEMORY comment of deploy/redis.conf promises.
func TestRedisAtMaxmemory(t *testing.T) {
	rs := redistest.Standalone(t, redistest.Options{ExtraConfig: []string{"maxmemory-policy noeviction"}})
	secrets := t.TempDir() + "/secrets"
	if err := writeFile(secrets, string(testKey)+"\n"); err != nil {
		t.Fatal(err)
	}
	base, _ := startRun(t, "-redis", rs.URL()+"/0", "-secrets-file", secrets)
	d := &demo{t: t, srv: &httptest.Server{URL: base}, instance: "run-1"}
	ann := d.client()
	if r := d.login(ann, "ann"); r.code != http.StatusSeeOther {
		t.Fatalf("login: %d", r.code)
	}
	keys := len(rs.Keys(t))
	rs.DoOK(t, "CONFIG", "SET", "maxmemory", "1") // over the bound at once
	if r := d.login(d.client(), "bob"); r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Errorf("login over maxmemory: %d, want 503 with Retry-After", r.code)
	}
	for range 3 {
		if r := d.do(ann, "GET", "/", "", ""); r.code != http.StatusOK {
			t.Errorf("a logged-in page over maxmemory: %d, want 200", r.code)
		}
	}
	// A refused login leaves nothing: the creation's first write is an
	// HSET, which Redis refuses at maxmemory before the script writes.
	if got := len(rs.Keys(t)); got != keys {
		t.Errorf("over maxmemory a refused login still added %d key(s)", got-keys)
	}
	rs.DoOK(t, "CONFIG", "SET", "maxmemory", "0")
	if r := d.login(d.client(), "bob"); r.code != http.StatusSeeOther {
		t.Errorf("login once memory is back: %d, want 303", r.code)
	}
}
