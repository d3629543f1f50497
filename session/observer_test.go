package session_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// tally is an Observer that counts what it receives, under a lock.
type tally struct {
	mu     sync.Mutex
	counts map[string]int // "request/live", "store/Load/ok", "event/login", "unavailable"
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(k string) { t.mu.Lock(); t.counts[k]++; t.mu.Unlock() }

func (t *tally) observer() session.Observer {
	return session.Observer{
		Request: func(_ context.Context, o session.Outcome) {
			listed(t, session.Outcomes(), o)
			t.add("request/" + string(o))
		},
		StoreCall: func(_ context.Context, op session.Op, result session.Result, d time.Duration) {
			if d < 0 {
				t.add("negative duration")
			}
			listed(t, session.Ops(), op)
			listed(t, session.Results(), result)
			t.add("store/" + string(op) + "/" + string(result))
		},
		Event: func(_ context.Context, e session.Event) {
			listed(t, session.Events(), e)
			t.add("event/" + string(e))
		},
		Unavailable: func() { t.add("unavailable") },
	}
}

// listed counts a value that its list (session.Ops and the others) does
// not hold, so that a test's exact counts fail on it.
func listed[T ~string](t *tally, list []T, v T) {
	if !slices.Contains(list, v) {
		t.add("unlisted " + string(v))
	}
}

// take returns the counts since the last take and resets them.
func (t *tally) take() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts
	t.counts = map[string]int{}
	return c
}

func TestObserver(t *testing.T) {
	obs := newTally()
	var h *harness
	// A session destroyed by another request between its load and an
	// increment.
	routes := map[string]http.HandlerFunc{"POST /incr-after-logout": func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		h.mem.DestroyUser(r.Context(), s.User(), "")
		if _, err := s.Incr(r.Context(), "n", 1); err != session.ErrGone {
			http.Error(w, fmt.Sprint(err), 500)
		}
	}}
	h = newHarness(t, session.Config{Observer: obs.observer(), MaxSize: 100, StoreTimeout: 200 * time.Millisecond}, harnessOptions{routes: routes})
	c := h.newClient("")
	const forged = 7

	steps := []struct {
		name string
		run  func(t *testing.T)
		want map[string]int
	}{
		{"a request that ignores its session reports nothing", func(t *testing.T) {
			c.do("GET", "/ignore").must(t, 200, "ignored")
		}, map[string]int{}},
		{"no cookie", func(t *testing.T) {
			c.do("GET", "/user").must(t, 200, "")
		}, map[string]int{"request/none": 1}},
		{"login creates the session", func(t *testing.T) {
			c.do("POST", "/login?user=ann").must(t, 200, "ok")
		}, map[string]int{"request/none": 1, "store/Create/ok": 1, "store/UserSessions/ok": 1, "event/created": 1, "event/login": 1}},
		{"a read", func(t *testing.T) {
			c.do("GET", "/user").must(t, 200, "ann")
		}, map[string]int{"request/live": 1, "store/Load/ok": 1}},
		{"a write", func(t *testing.T) {
			c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
		}, map[string]int{"request/live": 1, "store/Load/ok": 1, "store/Update/ok": 1}},
		{"a write past MaxSize", func(t *testing.T) {
			c.do("POST", "/put?k=a&v="+strings.Repeat("x", 200)).must(t, 413, anyBody)
		}, map[string]int{"request/live": 1, "store/Load/ok": 1, "event/too_large": 1}},
		{"renew", func(t *testing.T) {
			c.do("POST", "/renew").must(t, 200, "ok")
		}, map[string]int{"request/live": 1, "store/Load/ok": 1, "store/Renew/ok": 1, "event/renewed": 1}},
		{"forged cookies", func(t *testing.T) {
			good := c.sessionCookie()
			for i := range forged {
				bad := []byte(good)
				bad[len(bad)-1-i] ^= 1
				h.raw("GET", "/user", h.cookieName()+"="+string(bad)).must(t, 200, "")
			}
		}, map[string]int{"request/invalid": forged}},
		{"a cookie whose session is gone", func(t *testing.T) {
			old := c.sessionCookie()
			c.do("POST", "/destroy").must(t, 200, "ok")
			h.raw("GET", "/user", h.cookieName()+"="+old).must(t, 200, "")
		}, map[string]int{"request/live": 1, "store/Load/ok": 1, "store/Destroy/ok": 1, "event/destroyed": 1,
			"request/missing": 1, "store/Load/not_found": 1}},
		{"revoke and revoke-all", func(t *testing.T) {
			other := h.newClient("")
			other.do("POST", "/login?user=bob").must(t, 200, "ok")
			c.do("POST", "/login?user=bob").must(t, 200, "ok")
			h.newClient("").do("POST", "/login?user=bob").must(t, 200, "ok")
			obs.take()
			c.do("POST", "/revoke?h="+other.do("GET", "/handle").body).must(t, 200, "true")
			c.do("POST", "/revoke-all").must(t, 200, "2")
		}, map[string]int{"request/live": 3, "store/Load/ok": 3, "store/UserSessions/ok": 1, "store/Destroy/ok": 1,
			"store/DestroyUser/ok": 1, "event/revoked": 3}},
		{"an increment of a session destroyed meanwhile (encrypted: a compare-and-swap)", func(t *testing.T) {
			c.do("POST", "/login?user=cy").must(t, 200, "ok")
			obs.take()
			c.do("POST", "/incr?k=n").must(t, 200, "1")
			c.do("POST", "/incr-after-logout").must(t, 200, "")
		}, map[string]int{"request/live": 2, "store/Load/ok": 2, "store/CompareAndSwap/ok": 1, "store/CompareAndSwap/not_found": 1}},
		{"the store fails", func(t *testing.T) {
			c.do("POST", "/login?user=dee").must(t, 200, "ok")
			obs.take()
			h.faults.set("error", "Load")
			c.do("GET", "/user").must(t, 503, anyBody)
			c.do("GET", "/user").must(t, 503, anyBody)
			h.faults.set("")
		}, map[string]int{"store/Load/unavailable": 2, "unavailable": 2}},
	}
	obs.take()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.run(t)
			if got := obs.take(); !maps.Equal(got, st.want) {
				t.Errorf("observed %v\nwant     %v", got, st.want)
			}
		})
	}
}

// auditRecord is one JSON line of the audit log.
type auditRecord struct {
	Level     string `json:"level"`
	Msg       string `json:"msg"`
	User      string `json:"user"`
	Session   string `json:"session"`
	Client    string `json:"client"`
	UserAgent string `json:"user_agent"`
	Count     int    `json:"count"`
	Renewed   bool   `json:"renewed"`
}

func auditRecords(t *testing.T, log *testenv.Buffer) []auditRecord {
	t.Helper()
	var out []auditRecord
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	for sc.Scan() {
		var r auditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestAuditLog(t *testing.T) {
	audit := &testenv.Buffer{}
	cfg := session.Config{
		AuditLog: slog.New(slog.NewJSONHandler(audit, nil)),
		// A proxy-aware address, as an application behind one would give.
		ClientAddr: func(r *http.Request) string { return "via:" + r.Header.Get("X-Test-Client") },
	}
	h := newHarness(t, cfg, harnessOptions{})
	ann := h.newClient("Firefox/1")
	phone := h.newClient("Phone/2")
	handle := func(c *client) string { return c.do("GET", "/handle").must(t, 200, anyBody).body }

	ann.do("POST", "/login?user=ann", "X-Test-Client", "1.2.3.4").must(t, 200, "ok")
	annHandle := handle(ann)
	ann.do("POST", "/renew").must(t, 200, "ok")
	renewed := handle(ann)
	phone.do("POST", "/login?user=ann").must(t, 200, "ok")
	phoneHandle := handle(phone)
	ann.do("POST", "/revoke?h="+phoneHandle, "X-Test-Client", "5.6.7.8").must(t, 200, "true")
	h.newClient("X/1").do("POST", "/login?user=ann").must(t, 200, "ok")
	h.newClient("X/1").do("POST", "/login?user=ann").must(t, 200, "ok")
	ann.do("POST", "/destroy").must(t, 200, "ok")
	bob := h.newClient("Bot/3")
	bob.do("POST", "/login?user=bob").must(t, 200, "ok")
	bob.do("POST", "/revoke-all").must(t, 200, "1")
	anon := h.newClient("")
	anon.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	anon.do("POST", "/destroy").must(t, 200, "ok") // anonymous: no record
	good := bob.sessionCookie()
	for i := range 5 {
		bad := []byte(good)
		bad[len(bad)-1-i] ^= 1
		h.raw("GET", "/user", h.cookieName()+"="+string(bad), "X-Test-Client", "6.6.6.6").must(t, 200, "")
	}

	got := auditRecords(t, audit)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s user=%s session=%s client=%s ua=%s count=%d renewed=%v",
			r.Level, r.Msg, "", r.User, r.Session, r.Client, r.UserAgent, r.Count, r.Renewed))
	}
	want := []string{
		"INFO login  user=ann session=" + annHandle + " client=via:1.2.3.4 ua=Firefox/1 count=0 renewed=false",
		"INFO renew  user=ann session=" + renewed + " client=via: ua=Firefox/1 count=0 renewed=false",
		"INFO login  user=ann session=" + phoneHandle + " client=via: ua=Phone/2 count=0 renewed=false",
		"INFO revoke  user=ann session=" + phoneHandle + " client=via:5.6.7.8 ua=Firefox/1 count=0 renewed=false",
		"INFO login  user=ann session=* client=via: ua=X/1 count=0 renewed=false",
		"INFO login  user=ann session=* client=via: ua=X/1 count=0 renewed=false",
		"INFO logout  user=ann session=" + renewed + " client=via: ua=Firefox/1 count=0 renewed=false",
		"INFO login  user=bob session=* client=via: ua=Bot/3 count=0 renewed=false",
		"INFO revoke_all  user=bob session= client=via: ua=Bot/3 count=1 renewed=false",
		// Five forged cookies in a row: one record, the first; the next
		// ones are counted in the record after the interval.
		"WARN forged_cookies  user= session= client=via:6.6.6.6 ua=Go-http-client/1.1 count=1 renewed=false",
	}
	if len(lines) != len(want) {
		t.Fatalf("audit log has %d records, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if w := want[i]; lines[i] != w && !(strings.Contains(w, "session=*") && matchStar(lines[i], w)) {
			t.Errorf("record %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
	// The handle, never the token or the store key.
	for _, secret := range h.issued.all() {
		if strings.Contains(audit.String(), secret) {
			t.Errorf("the audit log shows a cookie value")
		}
	}
	list, err := h.mem.UserSessions(t.Context(), "ann")
	if err != nil || len(list) == 0 {
		t.Fatalf("ann's sessions: %v, %v", list, err)
	}
	for _, us := range list {
		if strings.Contains(audit.String(), us.Key) {
			t.Error("the audit log shows a store key")
		}
	}
}

// matchStar reports whether got matches want, where "session=*" in want
// stands for any 22-character handle.
func matchStar(got, want string) bool {
	i := strings.Index(want, "session=*")
	if len(got) != len(want)-1+22 || got[:i] != want[:i] {
		return false
	}
	return got[i+len("session=")+22:] == want[i+len("session=*"):]
}

func TestStoreFailuresLoggedOncePerInterval(t *testing.T) {
	h := newHarness(t, session.Config{StoreTimeout: 200 * time.Millisecond}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	h.faults.set("error", "Load")
	for range 5 {
		c.do("GET", "/user").must(t, 503, anyBody)
	}
	if n := strings.Count(h.appLog.String(), "session store call failed"); n != 1 {
		t.Errorf("5 failures in a row gave %d log records, want 1:\n%s", n, h.appLog)
	}
}

func TestAuditLogOff(t *testing.T) {
	// The default: no audit log, and a Manager without one works.
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	c.do("POST", "/revoke-all").must(t, 200, "1")
	if strings.Contains(h.appLog.String(), "login") {
		t.Errorf("audit records went to Config.Logger:\n%s", h.appLog)
	}
}

// TestObserverContext checks that the Observer gets the context of the
// call that led to each report: the request's inside Manager.Handler (a
// tracer finds the request's span there), the caller's outside a request.
func TestObserverContext(t *testing.T) {
	type mark struct{}
	var mu sync.Mutex
	seen := map[string]any{} // what -> the mark its ctx carried
	note := func(ctx context.Context, what string) {
		mu.Lock()
		seen[what] = ctx.Value(mark{})
		mu.Unlock()
	}
	m := session.New(memstore.New(memstore.Options{}), session.Config{Keys: [][]byte{exampleKey}, Observer: session.Observer{
		Request: func(ctx context.Context, o session.Outcome) { note(ctx, "request/"+string(o)) },
		StoreCall: func(ctx context.Context, op session.Op, _ session.Result, _ time.Duration) {
			note(ctx, "store/"+string(op))
		},
		Event: func(ctx context.Context, e session.Event) { note(ctx, "event/"+string(e)) },
	}})
	app := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Login("ann"); err != nil {
			t.Error(err)
		}
	}))
	// Outer middleware, as a tracer's would be, marks the request's context.
	marked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), mark{}, "request")))
	})
	resp := serve(marked, "GET", "/")
	if resp.StatusCode != 200 {
		t.Fatalf("login: %s", resp.Status)
	}
	if _, err := m.RevokeAll(context.WithValue(context.Background(), mark{}, "caller"), "ann"); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"request/none": "request", "store/UserSessions": "request", "store/Create": "request",
		"event/created": "request", "event/login": "request", "store/DestroyUser": "caller", "event/revoked": "caller"}
	mu.Lock()
	defer mu.Unlock()
	for what, w := range want {
		if got, ok := seen[what]; !ok {
			t.Errorf("%s: not reported (reports: %v)", what, seen)
		} else if got != w {
			t.Errorf("%s: its ctx carried %v, want the %v's", what, got, w)
		}
	}
}

func TestMultiObserver(t *testing.T) {
	a, b := newTally(), newTally()
	onlyEvents := session.Observer{Event: func(_ context.Context, e session.Event) { b.add("event/" + string(e)) }}
	m := session.MultiObserver(a.observer(), onlyEvents, session.Observer{})
	ctx := context.Background()
	m.Request(ctx, session.OutcomeLive)
	m.StoreCall(ctx, session.OpLoad, session.ResultOK, time.Millisecond)
	m.Event(ctx, session.EventLogin)
	m.Unavailable()
	if got, want := a.take(), map[string]int{"request/live": 1, "store/Load/ok": 1, "event/login": 1, "unavailable": 1}; !maps.Equal(got, want) {
		t.Errorf("first observer got %v, want %v", got, want)
	}
	if got, want := b.take(), map[string]int{"event/login": 1}; !maps.Equal(got, want) {
		t.Errorf("second observer got %v, want %v", got, want)
	}
	if none := session.MultiObserver(onlyEvents); none.Request != nil || none.StoreCall != nil || none.Unavailable != nil {
		t.Error("funcs that no observer sets are not nil")
	}
}

// TestThrottledLogs: cookies that fail the signature check, store failures
// and changes after the headers are each logged to Config.Logger at once,
// then at most once per interval, each kind with a throttle of its own: a
// flood of one kind never silences another.
func TestThrottledLogs(t *testing.T) {
	routes := map[string]http.HandlerFunc{"GET /late": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer first")
		session.FromContext(r.Context()).Put("late", 1)
	}}
	const (
		forged = "session cookies failed the signature check"
		failed = "session store call failed"
		late   = "session changed after the response headers were written"
	)
	for _, order := range [][]string{{forged, failed, late}, {failed, late, forged}, {late, forged, failed}} {
		t.Run(strings.Join(order, ", then "), func(t *testing.T) {
			h := newHarness(t, session.Config{StoreTimeout: 200 * time.Millisecond}, harnessOptions{routes: routes})
			c := h.newClient("")
			c.do("POST", "/login?user=ann").must(t, 200, "ok")
			cause := map[string]func(){
				forged: func() { h.raw("GET", "/user", h.cookieName()+"=not-a-signed-token") },
				failed: func() {
					h.faults.set("error", "Load")
					c.do("GET", "/user").must(t, 503, anyBody)
					h.faults.set("")
				},
				late: func() { c.do("GET", "/late").must(t, 200, "answer first") },
			}
			for i, kind := range order {
				cause[kind]()
				cause[kind]() // within the interval: counted, not logged
				for _, k := range order[:i+1] {
					if n := strings.Count(h.appLog.String(), k); n != 1 {
						t.Fatalf("after %q twice: %d records of %q, want 1:\n%s", kind, n, k, h.appLog)
					}
				}
			}
			if !strings.Contains(h.appLog.String(), "compare the key fingerprints") {
				t.Errorf("the record of bad cookies gives no hint about the instances' keys:\n%s", h.appLog)
			}
		})
	}
}
