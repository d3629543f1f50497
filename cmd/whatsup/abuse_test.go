package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

// newRedisDemo is newDemo on a real Redis (skipped without redis-server),
// so that a test can count the keys a request leaves.
func newRedisDemo(t *testing.T) (*demo, *redistest.Server) {
	t.Helper()
	rs := redistest.Standalone(t, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.NewFromURL(ctx, rs.URL(), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true, StoreTimeout: 2 * time.Second})
	srv := httptest.NewServer(newApp(m, "test-1").handler())
	t.Cleanup(srv.Close)
	return &demo{t: t, srv: srv}, rs
}

// setsCookie reports whether an answer hands out a session cookie (one that
// is not a removal): the sign that a session was stored.
func setsCookie(r reply) bool {
	for _, line := range r.hdr.Values("Set-Cookie") {
		if strings.HasPrefix(line, "session=") && !strings.HasPrefix(line, "session=;") {
			return true
		}
	}
	return false
}

// TestAnonymousAPIWritesStoreNothing: POST /api/session without a login is
// 401 JSON whatever the Accept header, and 200 such writes of 32 KiB leave
// no key in Redis.
func TestAnonymousAPIWritesStoreNothing(t *testing.T) {
	d, rs := newRedisDemo(t)
	before := len(rs.Keys(t))
	body := `{"blob":"` + strings.Repeat("x", 32<<10) + `"}`
	accepts := []string{"", "application/json", "text/html", "*/*"}
	for i := range 200 {
		accept := accepts[i%len(accepts)]
		var hdr []string
		if accept != "" {
			hdr = []string{"Accept", accept}
		}
		r := d.do(d.client(), "POST", "/api/session", "application/json", body, hdr...)
		var e struct {
			Error string `json:"error"`
		}
		if r.code != http.StatusUnauthorized || !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/json") ||
			json.Unmarshal([]byte(r.body), &e) != nil || e.Error == "" {
			t.Fatalf("anonymous write %d (Accept %q): %d %s %.200q, want 401 JSON", i, accept, r.code, r.hdr.Get("Content-Type"), r.body)
		}
		if setsCookie(r) {
			t.Fatalf("anonymous write %d got a session cookie: %v", i, r.hdr.Values("Set-Cookie"))
		}
	}
	if after := len(rs.Keys(t)); after != before {
		t.Fatalf("200 anonymous writes: %d Redis keys before, %d after, want no new key", before, after)
	}
}

// TestAnonymousRequestsStoreNothing: no route stores a session for an
// anonymous client, except the login itself (the control that the count
// would see one).
func TestAnonymousRequestsStoreNothing(t *testing.T) {
	d, rs := newRedisDemo(t)
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct{ method, path, ctype, body string }{
		{"GET", "/", "", ""},
		{"GET", "/login", "", ""},
		{"GET", "/login?next=/sessions", "", ""},
		{"POST", "/login", form, "name="},                           // refused: empty name
		{"POST", "/login", form, "name=" + strings.Repeat("x", 65)}, // refused: too long
		{"POST", "/logout", "", ""},
		{"GET", "/sessions", "", ""},
		{"POST", "/sessions/revoke", form, "id=abc"},
		{"POST", "/logout-everywhere", "", ""},
		{"GET", "/api/whoami", "", ""},
		{"GET", "/api/session", "", ""},
		{"POST", "/api/session", "application/json", `{"a":1}`},
		{"POST", "/api/session", "application/json", `{"user_name":"x"}`},
		{"POST", "/api/session", "application/json", `not json`},
		{"GET", "/api/sessions", "", ""},
		{"POST", "/api/sessions/revoke", "application/json", `{"handle":"abc"}`},
		{"GET", "/healthz", "", ""},
		{"GET", "/nope", "", ""},
	} {
		for _, accept := range []string{"", "application/json"} {
			var hdr []string
			if accept != "" {
				hdr = []string{"Accept", accept}
			}
			r := d.do(d.client(), tc.method, tc.path, tc.ctype, tc.body, hdr...)
			if setsCookie(r) {
				t.Errorf("anonymous %s %s (Accept %q): %d with a session cookie", tc.method, tc.path, accept, r.code)
			}
		}
	}
	if keys := rs.Keys(t); len(keys) != 0 {
		t.Fatalf("anonymous requests left %d Redis keys: %q", len(keys), keys)
	}
	c := d.client()
	if r := d.login(c, "zoe"); r.code != http.StatusSeeOther || !setsCookie(r) {
		t.Fatalf("login: %d %v", r.code, r.hdr.Values("Set-Cookie"))
	}
	if len(rs.Keys(t)) == 0 {
		t.Fatal("a login left no Redis key: the count above proves nothing")
	}
}

// TestIdentityIsTheBoundUser: the session values user_name and login_time
// are refused by the API, and whoami, the greeting and the sessions page
// show the user bound at login.
func TestIdentityIsTheBoundUser(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	d.login(c, "alice")
	for _, body := range []string{
		`{"user_name":"mallory"}`,
		`{"login_time":"2000-01-01T00:00:00Z"}`,
		`{"cart":1,"user_name":"mallory"}`,
	} {
		r := d.do(c, "POST", "/api/session", "application/json", body)
		var e struct {
			Error string `json:"error"`
		}
		if r.code != http.StatusBadRequest || json.Unmarshal([]byte(r.body), &e) != nil || !strings.Contains(e.Error, "reserved") {
			t.Errorf("POST /api/session %s: %d %q, want 400 JSON naming the reserved key", body, r.code, r.body)
		}
	}
	if u := d.whoami(c); u == nil || *u != "alice" {
		t.Fatalf("whoami after the attempts: %q, want alice", deref(u))
	}
	var vals map[string]any
	json.Unmarshal([]byte(d.do(c, "GET", "/api/session", "", "").body), &vals)
	if vals["user_name"] != "alice" || vals["cart"] != nil {
		t.Fatalf("a refused write changed the session: %v", vals)
	}
	if r := d.do(c, "GET", "/", "", ""); !strings.Contains(r.body, "up, alice?") || strings.Contains(r.body, "mallory") {
		t.Fatalf("greeting: %d %s", r.code, r.body)
	}
	if r := d.do(c, "GET", "/sessions", "", ""); !strings.Contains(r.body, "Your sessions, alice") {
		t.Fatalf("sessions page: %d %s", r.code, r.body)
	}
	// Other keys are still the user's to write.
	if r := d.do(c, "POST", "/api/session", "application/json", `{"user":"mallory"}`); r.code != http.StatusOK {
		t.Fatalf("an ordinary key: %d %s", r.code, r.body)
	}
	if u := d.whoami(c); u == nil || *u != "alice" {
		t.Fatalf("whoami after writing the key user: %q, want alice", deref(u))
	}
}

func TestSecurityHeaders(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/login"}, {"GET", "/"}, {"GET", "/api/whoami"}, {"GET", "/api/sessions"},
		{"POST", "/api/session"}, {"GET", "/healthz"}, {"GET", "/nope"},
	} {
		r := d.do(c, tc.method, tc.path, "", "")
		if r.hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %d without X-Content-Type-Options: nosniff", tc.method, tc.path, r.code)
		}
	}
	csp := d.do(c, "GET", "/login", "", "").hdr.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	d.login(c, "hal")
	d.store.Close()
	if r := d.do(c, "GET", "/api/whoami", "", ""); r.code != 503 || r.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("503 with the store down: %d, nosniff %q", r.code, r.hdr.Get("X-Content-Type-Options"))
	}
}

var startedURL = regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)

// startRun runs the whole demo (Run) on a free port with args and returns
// its URL and its log; it stops when the test ends.
func startRun(t *testing.T, args ...string) (string, *testenv.Buffer) {
	t.Helper()
	t.Setenv("STICKLESS_REDIS_URL", "")
	t.Setenv("STICKLESS_SECRETS", "")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"-addr", "127.0.0.1:0", "-instance", "run-1", "-insecure-cookie"}, args...), logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var base string
	err := testenv.Eventually(10*time.Second, 10*time.Millisecond, func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("Run returned at start: %v\n%s", err, logs)
		default:
		}
		m := startedURL.FindStringSubmatch(logs.String())
		if m == nil {
			return errors.New("not started yet")
		}
		base = m[1]
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	return base, logs
}

// TestSlowHeadersCutOff: a client that sends half its headers and waits is
// disconnected after -read-header-timeout, and headers over the bound get
// 431.
func TestSlowHeadersCutOff(t *testing.T) {
	base, _ := startRun(t, "-read-header-timeout", "200ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// The bound only keeps a broken test from hanging: with the header
	// timeout the server closes within about 200 ms.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a slow-header client for %v", time.Since(start).Round(time.Millisecond))
	}
	t.Logf("slow-header client cut off after %v (got %q, %v)", time.Since(start).Round(time.Millisecond), b, err)

	// Headers over 16 KiB (plus net/http's 4 KiB of slack): 431.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 24<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("24 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// TestStoreDownLogIsThrottled: with Redis down, 20 health checks answer 503
// and write one error line, not 20.
func TestStoreDownLogIsThrottled(t *testing.T) {
	rs := redistest.Standalone(t, redistest.Options{})
	secrets := t.TempDir() + "/secrets"
	if err := writeFile(secrets, string(testKey)+"\n"); err != nil {
		t.Fatal(err)
	}
	base, logs := startRun(t, "-redis", rs.URL(), "-secrets-file", secrets, "-store-timeout", "300ms")
	rs.Stop(t)
	for i := range 20 {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("healthz %d with Redis down: %d", i, resp.StatusCode)
		}
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "level=ERROR") {
			n++
		}
	}
	// One line per 10 s: 1, or 2 on a machine so slow that the 20 checks
	// spanned more than one interval.
	if n < 1 || n > 2 {
		t.Fatalf("20 failed health checks wrote %d error lines, want 1:\n%s", n, logs)
	}
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }

func deref(p *string) string {
	if p == nil {
		return "<anonymous>"
	}
	return *p
}
