package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// cookieName is the session cookie of whatsup -insecure-cookie.
const cookieName = "session"

// requestTimeout bounds every request of the tests: nothing may hang.
const requestTimeout = 20 * time.Second

// client is one browser-like user agent: its own cookie jar (shared by
// every port of 127.0.0.1, as in a browser), its own keep-alive
// connections, and no redirect following, so that tests see the 303s.
// Methods that take no testing.TB are safe for concurrent use.
type client struct {
	ua  string
	jar *cookiejar.Jar
	hc  *http.Client
}

func newClient(t testing.TB, userAgent string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{ua: userAgent, jar: jar, hc: &http.Client{
		Jar:       jar,
		Transport: tr,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// reply is a whole answer.
type reply struct {
	Code    int
	Header  http.Header
	Body    string
	Elapsed time.Duration
}

func (r reply) String() string {
	body := r.Body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d (X-Instance %q) %q", r.Code, r.Header.Get("X-Instance"), body)
}

// do sends one request; header may be nil.
func (c *client) do(method, target, body string, header http.Header) (reply, error) {
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.ua)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading body: %w", method, target, err)
	}
	return reply{Code: resp.StatusCode, Header: resp.Header, Body: string(b), Elapsed: time.Since(start)}, nil
}

func (c *client) get(target string) (reply, error) { return c.do("GET", target, "", nil) }

func (c *client) postJSON(target string, v any) (reply, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return reply{}, err
	}
	return c.do("POST", target, string(b), http.Header{
		"Content-Type": {"application/json"},
		"Accept":       {"application/json"},
	})
}

// mustGet is get that fails the test on a transport error.
func (c *client) mustGet(t testing.TB, target string) reply {
	t.Helper()
	r, err := c.get(target)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustPostJSON is postJSON that fails the test on a transport error.
func (c *client) mustPostJSON(t testing.TB, target string, v any) reply {
	t.Helper()
	r, err := c.postJSON(target, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// login posts the login form to base and expects the 303 to "/".
func (c *client) login(t testing.TB, base, name string) {
	t.Helper()
	form := url.Values{"name": {name}}.Encode()
	r, err := c.do("POST", base+"/login", form, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("login %q at %s: want 303 to /, got %v (Location %q)", name, base, r, r.Header.Get("Location"))
	}
}

// who is the answer of GET /api/whoami.
type who struct {
	User     *string `json:"user"`
	Instance string  `json:"instance"`
}

// name is the user or "" for an anonymous session.
func (w who) name() string {
	if w.User == nil {
		return ""
	}
	return *w.User
}

// whoami asks base who the client is; it fails unless the answer is 200.
func (c *client) whoami(base string) (who, error) {
	r, err := c.get(base + "/api/whoami")
	if err != nil {
		return who{}, err
	}
	return parseWho(r)
}

func parseWho(r reply) (who, error) {
	var w who
	if r.Code != http.StatusOK {
		return w, fmt.Errorf("GET /api/whoami: %v", r)
	}
	if err := json.Unmarshal([]byte(r.Body), &w); err != nil {
		return w, fmt.Errorf("GET /api/whoami: %v: %v", r, err)
	}
	if w.Instance != r.Header.Get("X-Instance") {
		return w, fmt.Errorf("GET /api/whoami: instance %q in the body, X-Instance %q", w.Instance, r.Header.Get("X-Instance"))
	}
	return w, nil
}

// mustWhoami is whoami that fails the test on an error.
func (c *client) mustWhoami(t testing.TB, base string) who {
	t.Helper()
	w, err := c.whoami(base)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// cookie returns the value of the session cookie the jar holds for
// 127.0.0.1 (any port), or "".
func (c *client) cookie(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

// setCookie puts a session cookie with this value into the jar.
func (c *client) setCookie(t testing.TB, base, value string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c.jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: value, Path: "/"}})
}

// replay sends a GET with exactly this session cookie and no jar, as an
// attacker replaying a captured cookie would.
func replay(t testing.TB, target, cookie string) reply {
	t.Helper()
	c := newClient(t, "replay")
	r, err := c.do("GET", target, "", http.Header{"Cookie": {cookieName + "=" + cookie}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// greeting is what GET / says to a logged-in user.
func greeting(name string) string { return "What's up, " + name + "?" }
