package session_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

const anonymous = `user="" keys=[]`

func TestNewPanicsOnNilStore(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); !strings.HasPrefix(r, "session: ") {
			t.Errorf("New(nil, cfg) recovered %q, want a \"session: \" panic", r)
		}
	}()
	session.New(nil, session.Config{Keys: [][]byte{key1}})
}

func TestFromContextOutsideHandler(t *testing.T) {
	defer func() {
		r, _ := recover().(string)
		if !strings.HasPrefix(r, "session: FromContext") || !strings.Contains(r, "Manager.Handler") {
			t.Errorf("FromContext outside Handler recovered %q, want a panic that names Manager.Handler", r)
		}
	}()
	session.FromContext(t.Context())
}

func TestLazyLoad(t *testing.T) {
	tests := []struct {
		name      string
		cookie    bool // the client has a session already
		method    string
		path      string
		wantCalls map[string]int
		setCookie bool
	}{
		{"ignores the session, no cookie", false, "GET", "/ignore", map[string]int{}, false},
		{"ignores the session, with a cookie", true, "GET", "/ignore", map[string]int{}, false},
		{"reads, no cookie", false, "GET", "/whoami", map[string]int{}, false},
		{"reads twice, one load", true, "GET", "/whoami", map[string]int{"Load": 1}, false},
		{"writes, no cookie", false, "POST", "/put?k=a&v=1", map[string]int{"Create": 1}, true},
		{"writes, with a cookie", true, "POST", "/put?k=a&v=1", map[string]int{"Load": 1, "Update": 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{}, harnessOptions{})
			c := h.newClient("")
			if tt.cookie {
				c.do("POST", "/put?k=x&v=y").must(t, 200, "ok")
			}
			h.count.Reset()
			r := c.do(tt.method, tt.path)
			if r.status != 200 {
				t.Fatalf("status %d %q", r.status, r.body)
			}
			if got := h.count.Calls(); !maps.Equal(got, tt.wantCalls) {
				t.Errorf("store calls %v, want %v", got, tt.wantCalls)
			}
			if got := r.cookie(h.cookieName()) != nil; got != tt.setCookie {
				t.Errorf("Set-Cookie sent: %v, want %v", got, tt.setCookie)
			}
			// A response that depends on the session must not be given
			// by a shared cache to a request with another cookie.
			touched := tt.path != "/ignore"
			if got := r.header.Get("Vary") == "Cookie"; got != touched {
				t.Errorf("Vary %q: want Cookie exactly when the handler used the session (%v)", r.header.Values("Vary"), touched)
			}
		})
	}
}

func TestValues(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.FixedZone("X", 3600))
	tests := []struct {
		name    string
		typ     string // the type of the value put
		v       string
		getType string // the type to read it as
		want    string
	}{
		{"string", "string", "hello, w\u00f6rld", "string", "hello, w\u00f6rld"},
		{"empty string", "string", "", "string", ""},
		{"string with quotes and newline", "string", "a\"b\nc<d>", "string", "a\"b\nc<d>"},
		{"int64", "int64", "42", "int64", "42"},
		{"negative int64", "int64", "-9223372036854775808", "int64", "-9223372036854775808"},
		{"large int64 keeps every digit", "int64", "9007199254740993", "int64", "9007199254740993"},
		{"bool true", "bool", "true", "bool", "true"},
		{"bool false", "bool", "false", "bool", "false"},
		{"time", "time", when.Format(time.RFC3339Nano), "time", when.Format(time.RFC3339Nano)},
		{"struct", "json", `{"name":"Ann","age":31,"tags":["a","b"],"since":"2026-01-02T03:04:05Z"}`, "profile",
			`{"name":"Ann","age":31,"tags":["a","b"],"since":"2026-01-02T03:04:05Z"}`},
		{"string read as int64", "string", "42", "int64", "missing"},
		{"int64 read as string", "int64", "42", "string", "missing"},
		{"bool read as int64", "bool", "true", "int64", "missing"},
		{"string read as time", "string", "soon", "time", "missing"},
	}
	h := newHarness(t, session.Config{}, harnessOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.newClient("")
			q := url.Values{"k": {"key"}, "v": {tt.v}, "type": {tt.typ}}
			c.do("POST", "/put?"+q.Encode()).must(t, 200, "ok")
			// A second request reads it back from the store.
			c.do("GET", "/get?k=key&type="+tt.getType).must(t, 200, tt.want)
		})
	}
	t.Run("missing key", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
		c.do("GET", "/get?k=b").must(t, 200, "missing")
	})
	t.Run("empty key", func(t *testing.T) {
		h.newClient("").do("POST", "/put?k=&v=1").must(t, 400, anyBody)
	})
	t.Run("not JSON-encodable", func(t *testing.T) {
		h2 := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
			"POST /put-func": func(w http.ResponseWriter, r *http.Request) {
				var ute *json.UnsupportedTypeError
				if err := session.FromContext(r.Context()).Put("f", func() {}); !errors.As(err, &ute) {
					http.Error(w, fmt.Sprint(err), 500)
				}
			},
		}})
		c := h2.newClient("")
		c.do("POST", "/put-func").must(t, 200, "")
		c.do("GET", "/keys").must(t, 200, "")
	})
	t.Run("invalid JSON", func(t *testing.T) {
		h.newClient("").do("POST", "/put?k=a&type=json&v={").must(t, 400, anyBody)
	})
	t.Run("overwrite", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
		c.do("POST", "/put?k=a&v=2").must(t, 200, "ok")
		c.do("GET", "/get?k=a").must(t, 200, "2")
	})
}

func TestKeysAndDelete(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	for _, k := range []string{"b", "c", "a"} {
		c.do("POST", "/put?k="+k+"&v="+k).must(t, 200, "ok")
	}
	steps := []struct {
		name     string
		method   string
		path     string
		wantKeys string
	}{
		{"sorted keys", "GET", "/keys", "a,b,c"},
		{"delete one", "POST", "/delete?k=b", "a,c"},
		{"delete a missing key", "POST", "/delete?k=zzz", "a,c"},
		{"delete again", "POST", "/delete?k=b", "a,c"},
		{"put after delete", "POST", "/put?k=b&v=again", "a,b,c"},
		{"delete all", "POST", "/delete?k=a", "b,c"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if r := c.do(st.method, st.path); r.status != 200 {
				t.Fatalf("%s %s: %d %q", st.method, st.path, r.status, r.body)
			}
			c.do("GET", "/keys").must(t, 200, st.wantKeys)
		})
	}
	t.Run("values", func(t *testing.T) {
		var got map[string]string
		if err := json.Unmarshal([]byte(c.do("GET", "/values").body), &got); err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"b": "again", "c": "c"}; !maps.Equal(got, want) {
			t.Errorf("Values = %v, want %v", got, want)
		}
	})
	t.Run("new session has no keys", func(t *testing.T) {
		h.newClient("").do("GET", "/keys").must(t, 200, "")
	})
	t.Run("put and delete in one request", func(t *testing.T) {
		h2 := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
			"POST /put-delete": func(w http.ResponseWriter, r *http.Request) {
				s := session.FromContext(r.Context())
				s.Put("kept", 1)
				s.Put("gone", 2)
				s.Delete("gone")
				w.Write([]byte("ok"))
			},
		}})
		c := h2.newClient("")
		c.do("POST", "/put-delete").must(t, 200, "ok")
		c.do("GET", "/keys").must(t, 200, "kept")
	})
}

func TestRenew(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/put?k=cart&v=3%20apples").must(t, 200, "ok")
	before := c.sessionCookie()

	h.count.Reset()
	r := c.do("POST", "/login?user=ann").must(t, 200, "ok")
	// The list checks Config.MaxSessionsPerUser.
	if got := h.count.Calls(); !maps.Equal(got, map[string]int{"Load": 1, "Renew": 1, "UserSessions": 1}) {
		t.Errorf("store calls of a login: %v, want one Load, one Renew and one UserSessions", got)
	}
	after := c.sessionCookie()
	if ck := r.cookie(h.cookieName()); ck == nil || ck.Value != after || after == before || after == "" {
		t.Fatalf("renew did not send a new cookie: before %q, after %q", before, after)
	}
	if before[:43] == after[:43] {
		t.Error("the renewed cookie carries the same token")
	}

	t.Run("data kept", func(t *testing.T) {
		c.do("GET", "/get?k=cart").must(t, 200, "3 apples")
		c.do("GET", "/user").must(t, 200, "ann")
	})
	t.Run("old cookie is dead", func(t *testing.T) {
		h.raw("GET", "/whoami", h.cookieName()+"="+before).must(t, 200, anonymous)
		h.raw("GET", "/private", h.cookieName()+"="+before).must(t, 303, anyBody)
	})
	t.Run("a write with the old cookie starts another session", func(t *testing.T) {
		r := h.raw("POST", "/put?k=cart&v=stolen", h.cookieName()+"="+before).must(t, 200, "ok")
		ck := r.cookie(h.cookieName())
		if ck == nil || ck.Value == before || ck.Value == after {
			t.Fatalf("Set-Cookie %v: want a new token", ck)
		}
		c.do("GET", "/get?k=cart").must(t, 200, "3 apples")
		h.raw("GET", "/whoami", h.cookieName()+"="+before).must(t, 200, anonymous)
	})
	t.Run("renew of a new session", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/login?user=bob").must(t, 200, "ok")
		c.do("GET", "/user").must(t, 200, "bob")
	})
}

func TestDestroy(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
		"POST /renew-destroy": func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.Renew()
			s.Destroy()
			w.Write([]byte("ok"))
		},
		"POST /destroy-put": func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.Destroy()
			s.Put("fresh", true)
			w.Write([]byte("ok"))
		},
	}})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	c.do("POST", "/put?k=secret&v=42").must(t, 200, "ok")
	old := c.sessionCookie()

	r := c.do("POST", "/destroy").must(t, 200, "ok")
	ck := r.cookie(h.cookieName())
	if ck == nil || ck.MaxAge >= 0 || ck.Value != "" {
		t.Fatalf("logout sent Set-Cookie %v, want one that deletes the cookie", ck)
	}
	if c.sessionCookie() != "" {
		t.Error("the cookie jar still holds the session cookie after logout")
	}
	c.do("GET", "/whoami").must(t, 200, anonymous)

	tests := []struct {
		name   string
		method string
		path   string
		status int
		body   string
	}{
		{"replay reads anonymous", "GET", "/whoami", 200, anonymous},
		{"replay is not logged in", "GET", "/private", 303, anyBody},
		{"replay has no data", "GET", "/get?k=secret", 200, "missing"},
		{"replay cannot write the dead session back", "POST", "/put?k=secret&v=43", 200, "ok"},
		{"still no data after the replayed write", "GET", "/get?k=secret", 200, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.raw(tt.method, tt.path, h.cookieName()+"="+old).must(t, tt.status, tt.body)
		})
	}

	t.Run("destroy then put in one request", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
		before := c.sessionCookie()
		c.do("POST", "/destroy-put").must(t, 200, "ok")
		if after := c.sessionCookie(); after == "" || after[:43] == before[:43] {
			t.Fatalf("cookie after destroy+put %q, want a new token", after)
		}
		c.do("GET", "/keys").must(t, 200, "fresh")
		h.raw("GET", "/keys", h.cookieName()+"="+before).must(t, 200, "")
	})
	t.Run("renew then destroy in one request", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/login?user=ann").must(t, 200, "ok")
		before := c.sessionCookie()
		r := c.do("POST", "/renew-destroy").must(t, 200, "ok")
		if ck := r.cookie(h.cookieName()); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("Set-Cookie %v, want the cookie deleted", ck)
		}
		h.raw("GET", "/whoami", h.cookieName()+"="+before).must(t, 200, anonymous)
		if l, _ := h.m.Sessions(t.Context(), "ann"); len(l) != 0 {
			t.Errorf("sessions left: %v", l)
		}
	})
	t.Run("destroy of a new session", func(t *testing.T) {
		h.newClient("").do("POST", "/destroy").must(t, 200, "ok")
	})
}

func TestCommit(t *testing.T) {
	h := newHarness(t, session.Config{StoreTimeout: 100 * time.Millisecond}, harnessOptions{routes: map[string]http.HandlerFunc{
		"POST /commit": func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			s.Put("a", 1)
			if err := s.Commit(r.Context()); err != nil {
				if errors.Is(err, session.ErrStoreUnavailable) {
					h := w.Header()
					h.Set("X-Commit", "unavailable")
				}
				w.WriteHeader(http.StatusBadGateway) // the handler's own 5xx is kept
				return
			}
			s.Put("b", 2) // saved when the headers go out
			w.Write([]byte("ok"))
		},
		"GET /commit-untouched": func(w http.ResponseWriter, r *http.Request) {
			if err := session.FromContext(r.Context()).Commit(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
			}
		},
	}})
	c := h.newClient("")
	c.do("POST", "/commit").must(t, 200, "ok")
	c.do("GET", "/keys").must(t, 200, "a,b")
	h.count.Reset()
	c.do("GET", "/commit-untouched").must(t, 200, "")
	if calls := h.count.Calls(); len(calls) != 0 {
		t.Errorf("Commit of a session never loaded made store calls %v", calls)
	}
	h.faults.set("error", "Update")
	r := c.do("POST", "/commit").must(t, 502, "")
	if r.header.Get("X-Commit") != "unavailable" {
		t.Errorf("Commit's error does not match ErrStoreUnavailable")
	}
}

func TestUser(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
		"POST /empty-login": func(w http.ResponseWriter, r *http.Request) {
			if err := session.FromContext(r.Context()).Login(""); !errors.Is(err, session.ErrBadKey) {
				t.Errorf("Login(\"\") = %v, want ErrBadKey", err)
			}
		},
	}})
	c := h.newClient("")
	c.do("GET", "/user").must(t, 200, "")
	c.do("POST", "/put?k=cart&v=tea").must(t, 200, "ok")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	c.do("GET", "/user").must(t, 200, "ann")
	// An anonymous session keeps its values at login (a cart)...
	c.do("GET", "/get?k=cart").must(t, 200, "tea")
	c.do("POST", "/put?k=note&v=ann-private").must(t, 200, "ok")
	// ...but a login of another user drops the previous user's values.
	c.do("POST", "/login?user=bob").must(t, 200, "ok")
	c.do("GET", "/user").must(t, 200, "bob")
	c.do("GET", "/get?k=note").must(t, 200, "missing")
	c.do("GET", "/get?k=cart").must(t, 200, "missing")
	c.do("POST", "/empty-login").must(t, 200, "")
	c.do("GET", "/user").must(t, 200, "bob")
	c.do("POST", "/destroy").must(t, 200, "ok")
	c.do("GET", "/user").must(t, 200, "")
	c.do("GET", "/private").must(t, 303, anyBody)
}

// TestMaxSize counts sizes in clear; TestMaxSizeEncrypted adds what
// encryption adds.
func TestMaxSize(t *testing.T) {
	h := newHarness(t, session.Config{MaxSize: 200, DisableEncryption: true}, harnessOptions{})
	c := h.newClient("")
	small := strings.Repeat("s", 50)
	c.do("POST", "/put?k=a&v="+small).must(t, 200, "ok")
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"one value too large", "/put?k=b&v=" + strings.Repeat("x", 300), 413},
		{"the sum too large", "/put?k=b&v=" + strings.Repeat("x", 150), 413},
		{"fits", "/put?k=b&v=" + strings.Repeat("x", 100), 200},
		{"replacing a value counts its new size only", "/put?k=b&v=" + strings.Repeat("y", 120), 200},
		{"one byte over the limit", "/put?k=c&v=" + strings.Repeat("z", 22), 413},
		{"exactly the limit", "/put?k=c&v=" + strings.Repeat("z", 21), 200},
		{"full", "/put?k=d&v=", 413},
	}
	// Sizes count each key and its JSON encoding: "a" and a 52-byte string
	// make 53 bytes.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("POST", tt.path).must(t, tt.status, anyBody)
			c.do("GET", "/get?k=a").must(t, 200, small)
		})
	}
	c.do("GET", "/get?k=b").must(t, 200, strings.Repeat("y", 120))
	c.do("GET", "/keys").must(t, 200, "a,b,c")
	t.Run("a new session too large", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=a&v="+strings.Repeat("x", 300)).must(t, 413, anyBody)
		c.do("GET", "/keys").must(t, 200, "")
	})
}

// TestMaxSizeEncrypted: the limits count what is stored, so that the
// Manager's check and the store's agree: with encryption, each value costs
// 28 bytes more (a nonce and a tag).
func TestMaxSizeEncrypted(t *testing.T) {
	const overhead = 28
	h := newHarness(t, session.Config{MaxSize: 2*(1+52+overhead) - 1}, harnessOptions{})
	c := h.newClient("")
	small := strings.Repeat("s", 50)
	c.do("POST", "/put?k=a&v="+small).must(t, 200, "ok")
	c.do("POST", "/put?k=b&v="+small).must(t, 413, anyBody)
	c.do("POST", "/put?k=b&v="+small[1:]).must(t, 200, "ok")
	c.do("GET", "/keys").must(t, 200, "a,b")
	c.do("POST", "/put?k=b&v="+small).must(t, 413, anyBody)
}

// TestTimeouts runs on the memstore's fake clock: the store enforces the
// Lifetime that the Manager gives it.
func TestTimeouts(t *testing.T) {
	type step struct {
		advance time.Duration
		path    string // POST for /login and /put, else GET
		want    string
	}
	tests := []struct {
		name     string
		steps    []step
		newToken bool // the steps end with a new session under a new token
	}{
		{"idle: alive within the idle timeout", []step{
			{9 * time.Minute, "/get?k=a", "1"},
		}, false},
		{"idle: every read slides it", []step{
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/get?k=a", "1"},
		}, false},
		{"idle: expired reads as fresh", []step{
			{10*time.Minute + time.Second, "/whoami", anonymous},
			{0, "/get?k=a", "missing"},
		}, false},
		{"idle: expired after a slide", []step{
			{9 * time.Minute, "/get?k=a", "1"},
			{10*time.Minute + time.Second, "/get?k=a", "missing"},
		}, false},
		{"absolute: ends however busy", []step{
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/get?k=a", "1"},
			{4 * time.Minute, "/whoami", anonymous},
		}, false},
		{"absolute: a renewal for a change of privilege keeps it", []step{
			{9 * time.Minute, "/login?user=ann", "ok"},
			{9 * time.Minute, "/renew", "ok"},
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/user", "ann"}, // 27 minutes after the login
			{4 * time.Minute, "/user", ""},    // 31
		}, false},
		{"absolute: login restarts it", []step{
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/login?user=ann", "ok"},
			{9 * time.Minute, "/get?k=a", "1"},
			{9 * time.Minute, "/get?k=a", "1"}, // 36 minutes after creation, 18 after renewal
			{9 * time.Minute, "/user", "ann"},
			{4 * time.Minute, "/user", ""},
		}, false},
		{"expired: a write starts a new session", []step{
			{11 * time.Minute, "/put?k=b&v=2", "ok"},
			{0, "/keys", "b"},
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{IdleTimeout: 10 * time.Minute, AbsoluteTimeout: 30 * time.Minute}, harnessOptions{})
			c := h.newClient("")
			c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
			first := c.sessionCookie()
			for _, st := range tt.steps {
				h.clock.Advance(st.advance)
				method := "GET"
				if strings.HasPrefix(st.path, "/login") || strings.HasPrefix(st.path, "/put") || st.path == "/renew" {
					method = "POST"
				}
				c.do(method, st.path).must(t, 200, st.want)
			}
			if now := c.sessionCookie(); tt.newToken && now[:43] == first[:43] {
				t.Error("a write after expiry reused the expired token")
			}
		})
	}
}

// TestTimeoutsRealClock checks with real, short timeouts that a session
// read after its idle or absolute timeout has passed is a fresh one. Only
// that direction is tested on the real clock: sleeping guarantees at least
// the time asked, never at most.
func TestTimeoutsRealClock(t *testing.T) {
	tests := []struct {
		name string
		cfg  session.Config
	}{
		{"idle", session.Config{IdleTimeout: 20 * time.Millisecond}},
		{"absolute", session.Config{AbsoluteTimeout: 20 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg, harnessOptions{realClock: true})
			c := h.newClient("")
			c.do("POST", "/login?user=ann").must(t, 200, "ok")
			time.Sleep(50 * time.Millisecond)
			c.do("GET", "/whoami").must(t, 200, anonymous)
			c.do("GET", "/private").must(t, 303, anyBody)
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        session.Config
		wantName   string
		wantSecure bool
		sameSite   http.SameSite
	}{
		{"defaults", session.Config{}, "__Host-session", true, http.SameSiteLaxMode},
		{"InsecureCookie", session.Config{InsecureCookie: true}, "session", false, http.SameSiteLaxMode},
		{"name and SameSite set", session.Config{CookieName: "__Host-app", SameSite: http.SameSiteStrictMode}, "__Host-app", true, http.SameSiteStrictMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg, harnessOptions{})
			c := h.newClient("")
			set := c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
			del := c.do("POST", "/destroy").must(t, 200, "ok")
			for _, r := range []struct {
				what string
				res  result
			}{{"set", set}, {"delete", del}} {
				raw := r.res.header.Values("Set-Cookie")
				if len(raw) != 1 {
					t.Fatalf("%s: Set-Cookie %q, want one", r.what, raw)
				}
				ck := r.res.cookie(tt.wantName)
				if ck == nil {
					t.Fatalf("%s: no cookie %q in %q", r.what, tt.wantName, raw)
				}
				if ck.Path != "/" || ck.Domain != "" || ck.Secure != tt.wantSecure || !ck.HttpOnly || ck.SameSite != tt.sameSite {
					t.Errorf("%s: cookie %q: want Path=/, no Domain, Secure=%v, HttpOnly, SameSite %v", r.what, raw[0], tt.wantSecure, tt.sameSite)
				}
				if strings.Contains(strings.ToLower(raw[0]), "domain") {
					t.Errorf("%s: cookie %q has a Domain", r.what, raw[0])
				}
				if cc := r.res.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q on a response that sets the session cookie, want no-store", r.what, cc)
				}
			}
			if ck := set.cookie(tt.wantName); ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("the session cookie has Max-Age %d / Expires %v: want a browser-session cookie", ck.MaxAge, ck.Expires)
			}
		})
	}
}

// TestKeyRotation runs three Managers on one store: "old" signs with key2,
// "new" signs with key1 and still verifies key2, "drop" knows key1 only.
func TestKeyRotation(t *testing.T) {
	managers := map[string]*session.Manager{}
	h := newHarness(t, session.Config{}, harnessOptions{handler: func(h *harness) http.Handler {
		mux := http.NewServeMux()
		for name, keys := range map[string][][]byte{"old": {key2}, "new": {key1, key2}, "drop": {key1}} {
			m := session.New(h.count, session.Config{Keys: keys, Logger: h.m.Config().Logger})
			managers[name] = m
			mux.Handle("/"+name+"/", http.StripPrefix("/"+name, m.Handler(testApp(m, nil))))
		}
		return mux
	}})
	c := h.newClient("")
	c.do("POST", "/old/put?k=a&v=1").must(t, 200, "ok")
	byKey2 := c.sessionCookie()

	h.count.Reset()
	h.raw("GET", "/drop/get?k=a", h.cookieName()+"="+byKey2).must(t, 200, "missing")
	if calls := h.count.Calls(); len(calls) != 0 {
		t.Errorf("a cookie of a dropped key cost store calls %v", calls)
	}

	r := c.do("GET", "/new/get?k=a").must(t, 200, "1")
	ck := r.cookie(h.cookieName())
	if ck == nil || ck.Value == byKey2 {
		t.Fatalf("a cookie signed by the second key was not signed again: Set-Cookie %v", ck)
	}
	if ck.Value[:43] != byKey2[:43] {
		t.Error("re-signing changed the token")
	}
	if r := c.do("GET", "/new/get?k=a").must(t, 200, "1"); r.cookie(h.cookieName()) != nil {
		t.Error("a cookie signed by the first key was signed again")
	}
	c.do("GET", "/drop/get?k=a").must(t, 200, "1")
	c.do("GET", "/old/get?k=a").must(t, 200, "missing")
}

func TestTamperedCookies(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	valid := c.sessionCookie()
	other := h.newClient("")
	other.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	otherValid := other.sessionCookie()

	// Cookies signed with a key this server does not have, or for another
	// cookie name, by servers that share the store.
	foreignKey := newHarness(t, session.Config{Keys: [][]byte{key2}}, harnessOptions{})
	fc := foreignKey.newClient("")
	fc.do("POST", "/login?user=ann").must(t, 200, "ok")
	foreignName := newHarness(t, session.Config{CookieName: "__Host-other"}, harnessOptions{})
	nc := foreignName.newClient("")
	nc.do("POST", "/login?user=ann").must(t, 200, "ok")

	flip := func(v string, i int) string {
		b := []byte(v)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	name := h.cookieName() + "="
	tests := []struct {
		name   string
		cookie string
	}{
		{"token changed", name + flip(valid, 0)},
		{"last token character changed", name + flip(valid, 42)},
		{"signature changed", name + flip(valid, 60)},
		{"separator changed", name + valid[:43] + "-" + valid[44:]},
		{"signature of another session", name + valid[:44] + otherValid[44:]},
		{"token only", name + valid[:43]},
		{"signed by an unknown key", name + fc.sessionCookie()},
		{"signed for another cookie name", name + nc.sessionCookie()},
		{"garbage", name + "garbage"},
		{"empty", name},
		{"oversized", name + strings.Repeat("A", 4000)},
		{"oversized, valid prefix", name + valid + strings.Repeat("A", 8000)},
		{"non-ASCII", name + "\xff\xfe" + valid[2:]},
		{"percent-encoded", name + url.QueryEscape(valid+"==")},
		{"many cookies", strings.Repeat("x=y; ", 200) + name + "zzz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.count.Reset()
			r := h.raw("GET", "/whoami", tt.cookie).must(t, 200, anonymous)
			if calls := h.count.Calls(); len(calls) != 0 {
				t.Errorf("store calls %v, want none", calls)
			}
			if r.cookie(h.cookieName()) != nil {
				t.Errorf("a read sent Set-Cookie %q", r.header.Values("Set-Cookie"))
			}
			h.raw("GET", "/private", tt.cookie).must(t, 303, anyBody)

			// A write starts a new session under a new token, never
			// under the one the client offered.
			h.count.Reset()
			r = h.raw("POST", "/put?k=b&v=2", tt.cookie).must(t, 200, "ok")
			if calls := h.count.Calls(); !maps.Equal(calls, map[string]int{"Create": 1}) {
				t.Errorf("store calls of a write %v, want one Create", calls)
			}
			ck := r.cookie(h.cookieName())
			if ck == nil || strings.Contains(tt.cookie, ck.Value[:43]) {
				t.Errorf("Set-Cookie %v: want a new token", ck)
			}
		})
	}
	c.do("GET", "/user").must(t, 200, "ann")
}

func TestUnknownSession(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	dead := c.sessionCookie()
	c.do("POST", "/destroy").must(t, 200, "ok")

	h.count.Reset()
	h.raw("GET", "/whoami", h.cookieName()+"="+dead).must(t, 200, anonymous)
	if calls := h.count.Calls(); !maps.Equal(calls, map[string]int{"Load": 1}) {
		t.Errorf("a validly signed cookie of a dead session: store calls %v, want one Load", calls)
	}
	r := h.raw("POST", "/put?k=b&v=2", h.cookieName()+"="+dead).must(t, 200, "ok")
	if ck := r.cookie(h.cookieName()); ck == nil || ck.Value[:43] == dead[:43] {
		t.Errorf("a write to a dead session: Set-Cookie %v, want a new token", ck)
	}
}

func TestStoreClosed(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	if err := h.m.Healthy(t.Context()); err != nil {
		t.Fatalf("Healthy with a working store: %v", err)
	}
	// A store error that does not say it is ErrStoreUnavailable is wrapped.
	h.faults.set("error")
	if err := h.m.Healthy(t.Context()); !isUnavailable(err) || err.Error() != "session: store unavailable: "+storeErrorText {
		t.Errorf("Healthy with a failing store: %v", err)
	}
	h.faults.set("")
	h.mem.Close()
	r := c.do("GET", "/whoami")
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("closed store: %d, Retry-After %q, want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	c.do("GET", "/ignore").must(t, 200, "ignored")
	if err := h.m.Healthy(t.Context()); err == nil {
		t.Error("Healthy with a closed store: nil error")
	}
	if _, err := h.m.RevokeAll(t.Context(), "ann"); !isUnavailable(err) {
		t.Errorf("RevokeAll with a closed store: %v, want ErrStoreUnavailable", err)
	}
	if _, err := h.m.Sessions(t.Context(), "ann"); !isUnavailable(err) {
		t.Errorf("Sessions with a closed store: %v, want ErrStoreUnavailable", err)
	}
	if _, err := h.m.Revoke(t.Context(), "ann", "x"); !isUnavailable(err) {
		t.Errorf("Revoke with a closed store: %v, want ErrStoreUnavailable", err)
	}
}

func isUnavailable(err error) bool { return errors.Is(err, session.ErrStoreUnavailable) }

// TestGetReturnsLoadError: Get reports a store that cannot answer as an
// error, never as a missing key.
func TestGetReturnsLoadError(t *testing.T) {
	var got syncStrings
	routes := map[string]http.HandlerFunc{
		"POST /put-list": func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).Put("list", []string{"a", "b"})
		},
		"GET /typed": func(w http.ResponseWriter, r *http.Request) {
			var v []string
			found, err := session.FromContext(r.Context()).Get("list", &v)
			got.add(fmt.Sprintf("%v %v %v", found, v, isUnavailable(err)))
		},
	}
	h := newHarness(t, session.Config{}, harnessOptions{routes: routes})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	c.do("POST", "/put-list").must(t, 200, "")
	c.do("GET", "/typed").must(t, 200, "")
	h.faults.set("error", "Load")
	c.do("GET", "/typed").must(t, 503, anyBody)
	h.faults.set("")
	want := []string{"true [a b] false", "false [] true"}
	if fmt.Sprint(got.all()) != fmt.Sprint(want) {
		t.Errorf("Get gave %q, want %q", got.all(), want)
	}
}
