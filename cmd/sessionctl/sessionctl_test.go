package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

var testKey = []byte("sessionctl test key, 32 bytes or more")

// ctl runs sessionctl with args and returns its stdout and error.
func ctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, &out, &errOut)
	if errOut.Len() > 0 && err == nil {
		t.Logf("sessionctl %s: stderr: %s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), err
}

// mustJSON runs sessionctl -json with args and decodes its output into v.
func mustJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := ctl(t, append([]string{"-json"}, args...)...)
	if err != nil {
		t.Fatalf("sessionctl %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("sessionctl %s: output %q: %v", strings.Join(args, " "), out, err)
	}
}

// app is a Manager over the Redis store at url behind an httptest server:
// POST /login?user=U logs in, POST /put?k=K&v=V stores a string.
type app struct {
	m   *session.Manager
	srv *httptest.Server
}

func newApp(t *testing.T, url string, idle time.Duration) *app {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := redisstore.NewFromURL(ctx, url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true, IdleTimeout: idle,
		Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Login(r.FormValue("user"))
	})
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, session.FromContext(r.Context()).User())
	})
	a := &app{m: m, srv: httptest.NewServer(m.Handler(mux))}
	t.Cleanup(a.srv.Close)
	return a
}

// do sends a request with cookie ("" for none) and returns the new
// session cookie if one was set, else cookie, and the body.
func (a *app) do(t *testing.T, method, path, cookie, ua string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", "session="+cookie)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "session" && c.Value != "" {
			cookie = c.Value
		}
	}
	return cookie, string(body)
}

// topologies runs f on a standalone Redis and on a 3-master Cluster.
func topologies(t *testing.T, f func(t *testing.T, url string, keys func() []string, do func(args ...string) redistest.Reply)) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Standalone(t, redistest.Options{})
		f(t, srv.URL(), func() []string { return srv.Keys(t) }, func(args ...string) redistest.Reply { return srv.Do(t, args...) })
	})
	t.Run("cluster", func(t *testing.T) {
		cs := redistest.Cluster(t, 3)
		url := cs.URL()
		f(t, url, func() []string { return cs.Keys(t) }, func(args ...string) redistest.Reply {
			return cs.NodeFor(t, args[1]).Do(t, args...)
		})
	})
}

// TestStats: stats counts exactly the sessions the test created, on every
// master, whatever else Redis holds.
func TestStats(t *testing.T) {
	topologies(t, func(t *testing.T, url string, keys func() []string, do func(args ...string) redistest.Reply) {
		short := newApp(t, url, 30*time.Minute) // dies within the hour unless used
		long := newApp(t, url, 2*time.Hour)
		size := func(kv ...string) int { // bytes as Config.MaxSize counts: name + encrypted JSON value
			n := 0
			for i := 0; i+1 < len(kv); i += 2 {
				b, _ := json.Marshal(kv[i+1])
				n += len(kv[i]) + len(b) + 28 // a nonce and a tag
			}
			return n
		}
		var total, largest int
		put := func(a *app, cookie, k, v string) string {
			c, _ := a.do(t, "POST", "/put?k="+k+"&v="+v, cookie, "")
			total += size(k, v)
			return c
		}
		// Three users, six sessions: two anonymous, one of them large.
		for i, u := range []string{"ann", "ann", "bob", "cy"} {
			a := []*app{short, long}[i%2]
			c, _ := a.do(t, "POST", "/login?user="+u, "", "")
			put(a, c, "n", strconv.Itoa(i))
		}
		put(short, "", "x", "small")
		big := strings.Repeat("b", 5000)
		put(long, "", "big", big)
		largest = size("big", big)
		// Keys that are not sessions.
		do("SET", "other:{x}", "1")
		do("HSET", "other:hash", "_a", "1")

		var st statsResult
		mustJSON(t, &st, "-redis", url, "stats")
		want := statsResult{Sessions: 6, BoundUsers: 3, TotalBytes: int64(total), LargestBytes: largest,
			ExpiringWithinHour: 3, Masters: st.Masters}
		if st != want {
			t.Errorf("stats %+v\nwant  %+v", st, want)
		}
		if strings.HasPrefix(t.Name(), "TestStats/cluster") && st.Masters != 3 {
			t.Errorf("stats walked %d masters, want 3", st.Masters)
		}
		// The table says the same.
		out, err := ctl(t, "stats", "-redis", url)
		if err != nil || !strings.Contains(out, "sessions") || !strings.Contains(out, " 6") {
			t.Errorf("stats table: %v\n%s", err, out)
		}
		// Another prefix sees none of them.
		mustJSON(t, &st, "-redis", url, "-prefix", "other:", "stats")
		if st.Sessions != 0 {
			t.Errorf("stats -prefix other: counted %d sessions", st.Sessions)
		}
	})
}

// TestListRevoke: list, revoke and revoke-all through the public API
// (session.Admin: no signing key in sessionctl's environment), checked
// against the app.
func TestListRevoke(t *testing.T) {
	t.Setenv("STICKLESS_SECRETS", "")
	topologies(t, func(t *testing.T, url string, _ func() []string, _ func(args ...string) redistest.Reply) {
		a := newApp(t, url, 0)
		firefox, _ := a.do(t, "POST", "/login?user=dee", "", "Firefox/1")
		phone, _ := a.do(t, "POST", "/login?user=dee", "", "Phone\u009b31m/2")
		other, _ := a.do(t, "POST", "/login?user=eve", "", "")

		var list []listEntry
		mustJSON(t, &list, "-redis", url, "list", "dee")
		var uas []string
		for _, e := range list {
			uas = append(uas, e.UserAgent)
			if e.User != "dee" || len(e.Handle) != 22 || e.Created.IsZero() || !e.Expires.After(time.Now()) {
				t.Errorf("list entry %+v", e)
			}
		}
		slices.Sort(uas)
		if !slices.Equal(uas, []string{"Firefox/1", "Phone\u009b31m/2"}) {
			t.Fatalf("list dee: user agents %q", uas)
		}
		table, err := ctl(t, "list", "dee", "-redis", url)
		if err != nil || !strings.Contains(table, "HANDLE") || !strings.Contains(table, "Firefox/1") || strings.Contains(table, "\u009b") {
			t.Errorf("list table (no escape sequence may reach the terminal): %v\n%q", err, table)
		}

		// revoke one: the phone's.
		infos, err := a.m.Sessions(context.Background(), "dee")
		if err != nil {
			t.Fatal(err)
		}
		var phoneHandle string
		for _, in := range infos {
			if strings.HasPrefix(in.UserAgent, "Phone") {
				phoneHandle = in.Handle
			}
		}
		if _, err := ctl(t, "-redis", url, "revoke", "dee", phoneHandle); err != nil {
			t.Fatal(err)
		}
		if _, u := a.do(t, "GET", "/user", phone, ""); u != "" {
			t.Errorf("the revoked session still belongs to %q", u)
		}
		if _, u := a.do(t, "GET", "/user", firefox, ""); u != "dee" {
			t.Errorf("revoke ended another session: user %q", u)
		}
		if _, err := ctl(t, "-redis", url, "revoke", "dee", phoneHandle); err == nil || errors.Is(err, errUsage) {
			t.Errorf("revoking it again: %v, want a failure (exit 1)", err)
		}
		if _, err := ctl(t, "-redis", url, "revoke", "eve", infos[0].Handle); err == nil {
			t.Error("revoke of dee's session in eve's name succeeded")
		}

		var res struct{ Revoked int }
		mustJSON(t, &res, "-redis", url, "revoke-all", "dee")
		if res.Revoked != 1 {
			t.Errorf("revoke-all dee: %d, want 1", res.Revoked)
		}
		if _, u := a.do(t, "GET", "/user", firefox, ""); u != "" {
			t.Errorf("after revoke-all, user %q", u)
		}
		if _, u := a.do(t, "GET", "/user", other, ""); u != "eve" {
			t.Errorf("revoke-all dee logged eve out")
		}
	})
}

// TestPrune: prune removes the index entries whose session is gone, and
// only those older than the grace.
func TestPrune(t *testing.T) {
	topologies(t, func(t *testing.T, url string, keys func() []string, do func(args ...string) redistest.Reply) {
		a := newApp(t, url, 0)
		for range 3 {
			a.do(t, "POST", "/login?user=fay", "", "")
		}
		a.do(t, "POST", "/login?user=gus", "", "")
		const index = "stickless:user:{fay}"
		members := do("ZRANGE", index, "0", "-1").Strings()
		if len(members) != 3 {
			t.Fatalf("fay's index: %q", members)
		}
		// Lose two sessions without their index entries (as a crash
		// between the two writes would), and age one of those entries.
		do("DEL", "stickless:{"+members[0]+"}")
		do("DEL", "stickless:{"+members[1]+"}")
		do("ZADD", index, "XX", "1000", members[0])
		do("ZADD", index, "XX", "1000", members[2]) // old but live: kept

		var res pruneResult
		mustJSON(t, &res, "-redis", url, "prune")
		if res.Removed != 1 || res.Entries != 4 || res.Indexes != 2 {
			t.Errorf("prune: %+v, want 1 removed of 4 entries in 2 indexes", res)
		}
		left := do("ZRANGE", index, "0", "-1").Strings()
		if slices.Contains(left, members[0]) || !slices.Contains(left, members[1]) || !slices.Contains(left, members[2]) {
			t.Errorf("fay's index after prune: %q (had %q)", left, members)
		}
		if l, err := a.m.Sessions(context.Background(), "fay"); err != nil || len(l) != 1 {
			t.Errorf("fay's sessions after prune: %v, %v", l, err)
		}
	})
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets")
	read := func() (keys []string, text string) {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(file)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				keys = append(keys, l)
			}
		}
		return keys, string(b)
	}
	old := strings.Repeat("k", 40)
	if err := os.WriteFile(file, []byte("# comment kept\n"+old+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ctl(t, "keys", "add", file)
	if err != nil {
		t.Fatal(err)
	}
	k1, text := read()
	if len(k1) != 2 || k1[1] != old || len(k1[0]) != 64 || !strings.HasPrefix(text, "# comment kept\n") {
		t.Fatalf("after add:\n%s", text)
	}
	if strings.Contains(out, k1[0]) {
		t.Error("keys add printed the key")
	}
	ctl(t, "keys", "add", file)
	k2, _ := read()
	if len(k2) != 3 || k2[1] != k1[0] || k2[2] != old {
		t.Fatalf("after the second add: %d keys", len(k2))
	}
	var res struct{ Keys, Retired int }
	mustJSON(t, &res, "keys", "retire", file)
	k3, text := read()
	if res.Retired != 1 || res.Keys != 2 || !slices.Equal(k3, k2[:2]) || !strings.HasPrefix(text, "# comment kept\n") {
		t.Errorf("after retire (%+v):\n%s", res, text)
	}
	mustJSON(t, &res, "keys", "retire", file)
	if res.Retired != 0 {
		t.Errorf("retire with two keys retired %d", res.Retired)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	// A new file; a bad one is refused without showing its key.
	fresh := filepath.Join(dir, "new")
	if _, err := ctl(t, "keys", "add", fresh); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); len(strings.TrimSpace(string(b))) != 64 {
		t.Errorf("a new secrets file: %q", b)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("short-secret\n"), 0o600)
	if _, err := ctl(t, "keys", "add", bad); err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Errorf("a file with a short key: %v", err)
	}
	if _, err := ctl(t, "keys", "retire", filepath.Join(dir, "missing")); err == nil {
		t.Error("keys retire of a missing file succeeded")
	}
}

// TestMain runs the test binary as sessionctl itself when
// SESSIONCTL_TEST_MAIN is set, so that a test can start real, concurrent
// sessionctl processes.
func TestMain(m *testing.M) {
	if os.Getenv("SESSIONCTL_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKeysInParallel: 20 sessionctl processes run keys add at once on a
// secrets file of 4 keys reached through a symlink: the file ends with 24
// distinct keys, the 4 old ones last, and the link is still a link; then
// 20 keys retire at once leave the first two.
func TestKeysInParallel(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "release"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "release", "secrets")
	link := filepath.Join(dir, "secrets")
	var old []string
	for i := range 4 {
		old = append(old, strings.Repeat(strconv.Itoa(i), 40))
	}
	if err := os.WriteFile(file, []byte("# four keys\n"+strings.Join(old, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("release", "secrets"), link); err != nil {
		t.Fatal(err)
	}
	parallel := func(args ...string) {
		t.Helper()
		errs := make(chan error, 20)
		for range 20 {
			go func() {
				cmd := exec.Command(os.Args[0], args...)
				cmd.Env = append(os.Environ(), "SESSIONCTL_TEST_MAIN=1")
				out, err := cmd.CombinedOutput()
				if err != nil {
					err = fmt.Errorf("sessionctl %s: %v: %s", strings.Join(args, " "), err, out)
				}
				errs <- err
			}()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
	keys := func() []string {
		t.Helper()
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symlink: %v, %v", link, fi.Mode(), err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}

	parallel("keys", "add", link)
	k := keys()
	distinct := map[string]bool{}
	for _, key := range k {
		distinct[key] = true
	}
	if len(k) != 24 || len(distinct) != 24 || !slices.Equal(k[20:], old) {
		t.Fatalf("after 20 parallel adds: %d keys (%d distinct), want 24 with the 4 old ones last", len(k), len(distinct))
	}
	parallel("keys", "retire", link)
	if got := keys(); !slices.Equal(got, k[:2]) {
		t.Fatalf("after 20 parallel retires: %d keys, want the first 2", len(got))
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "release")); len(entries) != 1 {
		t.Errorf("files left beside the secrets: %v", entries)
	}
}

func TestUsage(t *testing.T) {
	t.Setenv("STICKLESS_REDIS_URL", "")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"list"},
		{"list", "a", "b"},
		{"revoke", "ann"},
		{"stats", "extra"},
		{"stats"}, // no Redis
		{"-redis", "http://x", "stats"},
		{"keys"},
		{"keys", "add"},
		{"keys", "rotate", "f"},
		{"-bogus", "stats"},
		{"stats", "-timeout", "0s", "-redis", "redis://127.0.0.1:1"},
	} {
		if _, err := ctl(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("sessionctl %q: %v, want a usage error (exit 2)", args, err)
		}
	}
	// A Redis that does not answer is a failure, not a usage error, and
	// the error does not show the password.
	_, err := ctl(t, "-redis", "redis://:hunter2@127.0.0.1:1", "-timeout", "2s", "revoke-all", "ann")
	if err == nil || errors.Is(err, errUsage) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unreachable Redis: %v", err)
	}
	_, err = ctl(t, "-redis", "redis://:hunter2@127.0.0.1:1", "-timeout", "2s", "stats")
	if err == nil || errors.Is(err, errUsage) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unreachable Redis: %v", err)
	}
}
