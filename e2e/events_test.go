package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// eventWait bounds each wait for an event of a stream: the first tick
// comes at once, the next every 5 s, and a session end is seen within the
// instances' poll interval (1 s).
const eventWait = 15 * time.Second

// sseEvent is one server-sent event; a comment comes as name ":".
type sseEvent struct {
	Name, Data string
	At         time.Time // when the client read it
}

// eventStream is an open GET /api/events.
type eventStream struct {
	Code   int
	Header http.Header
	Close  context.CancelFunc // ends the stream from the client's side
	events chan sseEvent      // closed when the body ends
}

// openEvents opens GET base/api/events with the client's cookies; the
// stream is closed when the test ends.
func (c *client) openEvents(t testing.TB, base string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", c.ua)
	hc := *c.hc
	hc.Timeout = 0 // a stream has no end the client can know of
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &eventStream{Code: resp.StatusCode, Header: resp.Header, Close: cancel, events: make(chan sseEvent, 64)}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" || ev.Data != "" {
					ev.At = time.Now()
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.Name = ":"
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "retry: "):
				ev.Name, ev.Data = "retry", strings.TrimPrefix(line, "retry: ")
			}
		}
	}()
	return s
}

// next returns the next event whose name is not in skip; ok is false when
// the stream closed. It fails the test after eventWait.
func (s *eventStream) next(t testing.TB, skip ...string) (ev sseEvent, ok bool) {
	t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		select {
		case ev, ok = <-s.events:
			if !ok {
				return ev, false
			}
			skipped := false
			for _, n := range skip {
				skipped = skipped || ev.Name == n
			}
			if !skipped {
				return ev, true
			}
		case <-timer.C:
			t.Fatalf("no event within %v", eventWait)
		}
	}
}

// tickInstance reads the instance out of a tick's data.
func tickInstance(t testing.TB, ev sseEvent) string {
	t.Helper()
	var d struct {
		Instance string `json:"instance"`
		Time     string `json:"time"`
	}
	if ev.Name != "tick" || json.Unmarshal([]byte(ev.Data), &d) != nil || d.Instance == "" || d.Time == "" {
		t.Fatalf("want a tick with instance and time, got %+v", ev)
	}
	return d.Instance
}

// TestEventsThroughNginx: streams of logged-in users flow through nginx
// unbuffered; "log out everywhere" on one instance ends the user's streams
// held by the others with `event: end`, and only those.
func TestEventsThroughNginx(t *testing.T) {
	c := startCluster(t, clusterConfig{})

	anon := newClient(t, "anonymous")
	if s := anon.openEvents(t, c.URL); s.Code != http.StatusUnauthorized || s.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("anonymous GET /api/events through nginx: %d %v, want 401 JSON", s.Code, s.Header)
	}

	alice := newClient(t, "alice's browser")
	alice.login(t, c.URL, "alice")
	bob := newClient(t, "bob's browser")
	bob.login(t, c.URL, "bob")
	// Round-robin spreads the streams; open enough that alice's land on
	// more than one instance.
	var streams []*eventStream
	held := map[string]bool{}
	for range 4 {
		s := alice.openEvents(t, c.URL)
		if s.Code != http.StatusOK || s.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /api/events through nginx: %d %v", s.Code, s.Header)
		}
		// The first tick is written at once: getting it proves that nginx
		// does not buffer the stream.
		ev, ok := s.next(t, "retry")
		if !ok {
			t.Fatal("stream closed before its first tick")
		}
		held[tickInstance(t, ev)] = true
		streams = append(streams, s)
	}
	bobs := bob.openEvents(t, c.URL)
	if ev, _ := bobs.next(t, "retry"); ev.Name != "tick" {
		t.Fatalf("bob's first event: %+v", ev)
	}
	t.Logf("alice's 4 streams are held by %v", held)
	if len(held) < 2 {
		t.Errorf("alice's streams all on %v: round-robin?", held)
	}

	// Log out everywhere, on one instance directly.
	start := time.Now()
	r, err := alice.do("POST", c.Instances[0].URL+"/logout-everywhere", "", http.Header{"Accept": {"application/json"}})
	if err != nil || r.Code != http.StatusOK {
		t.Fatalf("logout-everywhere: %v %v", r, err)
	}
	var slowest time.Duration
	for i, s := range streams {
		ev, ok := s.next(t, "tick", ":")
		if !ok || ev.Name != "end" {
			t.Fatalf("alice's stream %d: %+v (open %v), want event: end", i, ev, ok)
		}
		slowest = max(slowest, ev.At.Sub(start))
		if ev, ok := s.next(t); ok {
			t.Fatalf("alice's stream %d after end: %+v, want closed", i, ev)
		}
	}
	t.Logf("all of alice's streams ended %v after log out everywhere (target: 3 s)", slowest.Round(time.Millisecond))
	// bob's stream goes on: its next tick comes.
	if ev, ok := bobs.next(t, ":"); !ok || ev.Name != "tick" {
		t.Fatalf("bob's stream after alice's logout: %+v (open %v), want ticks", ev, ok)
	}
	// alice, now anonymous, is refused a new stream.
	if s := alice.openEvents(t, c.URL); s.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/events after logout: %d, want 401", s.Code)
	}
}

// TestEventsEndOnRevokeAndSessionctl: the revoke of one session from
// another browser ends that session's stream only; `sessionctl revoke-all`,
// which reaches Redis without any instance, ends the rest of the user's.
func TestEventsEndOnRevokeAndSessionctl(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	laptop, phone, jack := newClient(t, "ivy's laptop"), newClient(t, "ivy's phone"), newClient(t, "jack's browser")
	laptop.login(t, c.URL, "ivy")
	phone.login(t, c.URL, "ivy")
	jack.login(t, c.URL, "jack")
	ls, ps, js := laptop.openEvents(t, c.URL), phone.openEvents(t, c.URL), jack.openEvents(t, c.URL)
	for _, s := range []*eventStream{ls, ps, js} {
		if ev, ok := s.next(t, "retry"); !ok || ev.Name != "tick" {
			t.Fatalf("first event %+v (open %v), want a tick", ev, ok)
		}
	}

	// The phone revokes the laptop's session, on an instance directly.
	var list struct {
		Sessions []struct {
			Handle  string `json:"handle"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	r := phone.mustGet(t, c.Instances[1].URL+"/api/sessions")
	if err := json.Unmarshal([]byte(r.Body), &list); err != nil || len(list.Sessions) != 2 {
		t.Fatalf("GET /api/sessions: %v %v", r, err)
	}
	for _, s := range list.Sessions {
		if !s.Current {
			if r := phone.mustPostJSON(t, c.Instances[1].URL+"/api/sessions/revoke", map[string]string{"handle": s.Handle}); r.Code != http.StatusOK {
				t.Fatalf("revoke: %v", r)
			}
		}
	}
	if ev, ok := ls.next(t, "tick", ":"); !ok || ev.Name != "end" {
		t.Fatalf("the laptop's stream after its revoke: %+v (open %v), want end", ev, ok)
	}
	if ev, ok := ps.next(t, ":"); !ok || ev.Name != "tick" {
		t.Fatalf("the phone's stream after the laptop's revoke: %+v (open %v), want ticks", ev, ok)
	}

	// The operator logs ivy out everywhere, from outside the instances.
	if out := c.sessionctl(t, "revoke-all", "ivy"); !strings.Contains(out, "revoked 1 session(s)") {
		t.Errorf("sessionctl revoke-all ivy: %q", out)
	}
	if ev, ok := ps.next(t, "tick", ":"); !ok || ev.Name != "end" {
		t.Fatalf("the phone's stream after sessionctl revoke-all: %+v (open %v), want end", ev, ok)
	}
	if ev, ok := js.next(t, ":"); !ok || ev.Name != "tick" {
		t.Fatalf("jack's stream after ivy's revoke-all: %+v (open %v), want ticks", ev, ok)
	}
}

// TestEventsEndAtIdleExpiry: a stream is not activity. A page left open
// with its stream and nothing else sees its session expire at the idle
// timeout, and the stream ends with `event: end`.
func TestEventsEndAtIdleExpiry(t *testing.T) {
	c := startCluster(t, clusterConfig{Flags: []string{"-idle-timeout", "3s"}})
	kim := newClient(t, "kim's browser")
	kim.login(t, c.URL, "kim")
	s := kim.openEvents(t, c.URL)
	start := time.Now()
	if ev, ok := s.next(t, "retry", "tick", ":"); !ok || ev.Name != "end" {
		t.Fatalf("%+v (open %v), want event: end at the idle timeout", ev, ok)
	}
	t.Logf("the stream ended %v after it opened (idle timeout 3 s)", timeSince(start))
	if w := kim.mustWhoami(t, c.URL); w.User != nil {
		t.Errorf("after the end, whoami says %q", *w.User)
	}
}

// TestStreamsCappedInNginx: nginx passes on at most its cap of event
// streams per worker (deploy/nginx.conf's stickless_streams, lowered here
// from 4,096 to 4), whoever opens them; past it, its own 429 with
// Retry-After, while pages are served; a stream that ends frees its place.
func TestStreamsCappedInNginx(t *testing.T) {
	dir := t.TempDir()
	entries, err := os.ReadDir(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f := e.Name()
		b, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if f == "nginx.conf" {
			const capLine = "limit_conn stickless_streams 4096;"
			if !strings.Contains(text, capLine) {
				t.Fatalf("deploy/nginx.conf has no %q", capLine)
			}
			text = strings.Replace(text, capLine, "limit_conn stickless_streams 4;", 1)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := startCluster(t, clusterConfig{DeployDir: dir})
	var held []*eventStream
	for i := range 4 {
		u := newClient(t, fmt.Sprintf("user %d", i))
		u.login(t, c.URL, fmt.Sprintf("u%d", i))
		s := u.openEvents(t, c.URL)
		if s.Code != http.StatusOK {
			t.Fatalf("stream %d: %d, want 200", i, s.Code)
		}
		held = append(held, s)
	}
	late := newClient(t, "late")
	late.login(t, c.URL, "late")
	s := late.openEvents(t, c.URL)
	if s.Code != http.StatusTooManyRequests || s.Header.Get("X-Instance") != "" || s.Header.Get("Retry-After") == "" {
		t.Fatalf("a fifth stream: %d %v, want nginx's own 429 with Retry-After", s.Code, s.Header)
	}
	if r := late.mustGet(t, c.URL+"/login"); r.Code != http.StatusOK {
		t.Fatalf("GET /login with the streams at their cap: %v", r)
	}
	held[0].Close()
	err = testenv.Eventually(eventWait, 50*time.Millisecond, func() error {
		s := late.openEvents(t, c.URL)
		if s.Code != http.StatusOK {
			s.Close()
			return fmt.Errorf("status %d", s.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after a stream ended: %v", err)
	}
}
