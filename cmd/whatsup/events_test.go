package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// streamWait bounds every wait for an event: the tests run fast intervals
// and never assert a duration.
const streamWait = 10 * time.Second

// sseEvent is one event of a stream; comment lines come as event ":".
type sseEvent struct {
	name, data string
}

// stream is an open GET /api/events.
type stream struct {
	resp   *http.Response
	events chan sseEvent // closed at the end of the body
	cancel context.CancelFunc
}

// openStream opens GET /api/events with the client's cookies.
func openStream(t *testing.T, base string, c *http.Client) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	// Streams never end by a client timeout: a copy of c without one.
	sc := *c
	sc.Timeout = 0
	resp, err := sc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, events: make(chan sseEvent, 100), cancel: cancel}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.name = ":"
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "retry: "):
				ev.name = "retry"
				ev.data = strings.TrimPrefix(line, "retry: ")
			}
		}
	}()
	return s
}

// next returns the next event other than those named in skip, or fails.
// ok is false when the stream closed.
func (s *stream) next(t *testing.T, skip ...string) (sseEvent, bool) {
	t.Helper()
	timer := time.NewTimer(streamWait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return ev, false
			}
			if !contains(skip, ev.name) {
				return ev, true
			}
		case <-timer.C:
			t.Fatalf("no event within %v", streamWait)
		}
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// eventsDemo is a demo with fast stream intervals.
func eventsDemo(t *testing.T, srvCfg func(*http.Server)) (*demo, *app) {
	return eventsDemoWith(t, eventsConfig{}, srvCfg)
}

// eventsDemoWith is eventsDemo with the caps of cfg.
func eventsDemoWith(t *testing.T, cfg eventsConfig, srvCfg func(*http.Server)) (*demo, *app) {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true, StoreTimeout: 500 * time.Millisecond})
	a := newApp(m, "test-1")
	cfg.Tick, cfg.Heartbeat, cfg.Retry = 50*time.Millisecond, 70*time.Millisecond, 1500*time.Millisecond
	a.streams = newStreams(cfg, libraryWatch)
	srv := httptest.NewUnstartedServer(a.handler())
	if srvCfg != nil {
		srvCfg(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(a.closeStreams) // before srv.Close, which waits for the streams
	return &demo{t: t, srv: srv, store: st}, a
}

func TestEventsNeedLogin(t *testing.T) {
	d, _ := eventsDemo(t, nil)
	r := d.do(d.client(), "GET", "/api/events", "", "")
	if r.code != 401 || r.hdr.Get("Content-Type") != "application/json" || !strings.Contains(r.body, "login required") {
		t.Fatalf("anonymous GET /api/events: %d %q %q, want 401 JSON", r.code, r.hdr.Get("Content-Type"), r.body)
	}
}

func TestEventsTicksAndHeartbeats(t *testing.T) {
	// The server's own timeouts are shorter than the stream: the stream's
	// per-write deadline and lifted read deadline keep it alive.
	d, _ := eventsDemo(t, func(s *http.Server) {
		s.WriteTimeout = 200 * time.Millisecond
		s.ReadTimeout = 200 * time.Millisecond
	})
	c := d.client()
	d.login(c, "alice")
	s := openStream(t, d.srv.URL, c)
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" || s.resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("GET /api/events: %d %v", s.resp.StatusCode, s.resp.Header)
	}
	if ev, _ := s.next(t); ev.name != "retry" || ev.data != "1500" {
		t.Errorf("first event %+v, want retry: 1500", ev)
	}
	deadline := time.Now().Add(time.Second) // 5 server write timeouts
	ticks, beats := 0, 0
	for time.Now().Before(deadline) || ticks < 2 || beats < 1 {
		ev, ok := s.next(t)
		if !ok {
			t.Fatalf("the stream closed after %d ticks and %d heartbeats", ticks, beats)
		}
		switch ev.name {
		case "tick":
			var td tickData
			if err := json.Unmarshal([]byte(ev.data), &td); err != nil || td.Instance != "test-1" {
				t.Fatalf("tick data %q: %v", ev.data, err)
			}
			if _, err := time.Parse(time.RFC3339, td.Time); err != nil {
				t.Fatalf("tick time %q: %v", td.Time, err)
			}
			ticks++
		case ":":
			beats++
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
}

func TestEventsEndWithTheSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(d *demo, same, other *http.Client)
	}{
		{"logout", func(d *demo, same, other *http.Client) {
			d.do(same, "POST", "/logout", "", "")
		}},
		{"log out everywhere from another browser", func(d *demo, same, other *http.Client) {
			d.do(other, "POST", "/logout-everywhere", "", "")
		}},
		{"revoke from another browser", func(d *demo, same, other *http.Client) {
			var list struct {
				Sessions []sessionJSON `json:"sessions"`
			}
			json.Unmarshal([]byte(d.do(other, "GET", "/api/sessions", "", "").body), &list)
			for _, s := range list.Sessions {
				if !s.Current {
					d.do(other, "POST", "/api/sessions/revoke", "application/json", `{"handle":"`+s.Handle+`"}`, "Accept", "application/json")
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := eventsDemo(t, nil)
			same, other, bystander := d.client(), d.client(), d.client()
			d.login(same, "alice")
			d.login(other, "alice")
			d.login(bystander, "bob")
			s := openStream(t, d.srv.URL, same)
			b := openStream(t, d.srv.URL, bystander)
			if ev, _ := s.next(t, "retry"); ev.name != "tick" {
				t.Fatalf("first event %+v, want a tick", ev)
			}
			tc.end(d, same, other)
			if ev, ok := s.next(t, "tick", ":"); !ok || ev.name != "end" {
				t.Fatalf("after the session ended: %+v (open %v), want event: end", ev, ok)
			}
			if ev, ok := s.next(t); ok {
				t.Fatalf("after end: %+v, want the stream closed", ev)
			}
			// bob's stream goes on.
			for range 3 {
				if ev, ok := b.next(t, "retry", ":"); !ok || ev.name != "tick" {
					t.Fatalf("bob's stream: %+v (open %v), want ticks", ev, ok)
				}
			}
		})
	}
}

func TestEventsEndAtIdleExpiry(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true, IdleTimeout: 300 * time.Millisecond})
	a := newApp(m, "test-1")
	a.streams = newStreams(eventsConfig{Tick: 20 * time.Millisecond}, libraryWatch)
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	t.Cleanup(a.closeStreams)
	d := &demo{t: t, srv: srv, store: st}
	c := d.client()
	d.login(c, "alice")
	s := openStream(t, srv.URL, c)
	// Ticks and the watch do not count as activity: the session dies idle.
	if ev, ok := s.next(t, "retry", "tick", ":"); !ok || ev.name != "end" {
		t.Fatalf("%+v (open %v), want event: end at the idle timeout", ev, ok)
	}
}

func TestEventsCloseAtShutdown(t *testing.T) {
	d, a := eventsDemo(t, nil)
	c := d.client()
	d.login(c, "alice")
	s := openStream(t, d.srv.URL, c)
	s.next(t, "retry")
	a.closeStreams()
	// Closed without end: the browser reconnects elsewhere.
	if ev, ok := s.next(t, "tick", ":"); ok {
		t.Fatalf("after closeStreams: %+v, want the stream closed without end", ev)
	}
}

// TestEventsCaps: one session opening 100 streams to one instance gets 429
// past its cap, while another user's stream opens and ticks; a user's
// sessions together meet the user's cap; an instance at its cap answers
// 503 with Retry-After; a closed stream frees its place.
func TestEventsCaps(t *testing.T) {
	d, a := eventsDemoWith(t, eventsConfig{MaxPerInstance: 60}, nil)
	cfg := a.streams.cfg
	if cfg.MaxPerSession != 10 || cfg.MaxPerUser != 30 {
		t.Fatalf("default caps: %d per session, %d per user; want 10 and 30", cfg.MaxPerSession, cfg.MaxPerUser)
	}
	open := func(c *http.Client, n int) (ok []*stream, codes map[int]int) {
		codes = map[int]int{}
		for range n {
			s := openStream(t, d.srv.URL, c)
			codes[s.resp.StatusCode]++
			if s.resp.StatusCode == http.StatusOK {
				ok = append(ok, s)
			} else {
				s.cancel()
			}
		}
		return ok, codes
	}

	mallory := d.client()
	d.login(mallory, "mallory")
	held, codes := open(mallory, 100)
	if codes[200] != 10 || codes[429] != 90 {
		t.Fatalf("100 streams of one session: %v, want 10 × 200 and 90 × 429", codes)
	}
	alice := d.client()
	d.login(alice, "alice")
	s := openStream(t, d.srv.URL, alice)
	if s.resp.StatusCode != 200 {
		t.Fatalf("another user's stream: %d", s.resp.StatusCode)
	}
	if ev, _ := s.next(t, "retry", ":"); ev.name != "tick" {
		t.Fatalf("another user's stream: %+v, want a tick", ev)
	}
	if ev, ok := held[0].next(t, "retry", ":"); !ok || ev.name != "tick" {
		t.Fatalf("a stream within the cap: %+v, want a tick", ev)
	}

	// Other sessions of mallory: 30 streams in all, then 429, even for a
	// session that holds none.
	for i, tc := range []struct {
		n    int
		want map[int]int
	}{{10, map[int]int{200: 10}}, {10, map[int]int{200: 10}}, {1, map[int]int{429: 1}}} {
		c := d.client()
		d.login(c, "mallory")
		more, codes := open(c, tc.n)
		want := tc.want
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Fatalf("mallory's session %d: %v, want %v", i+2, codes, want)
		}
		held = append(held, more...)
	}

	// The instance's cap: 60 streams, 31 held now.
	var others []*stream
	for i := range 3 {
		c := d.client()
		d.login(c, fmt.Sprintf("user%d", i))
		more, _ := open(c, 10)
		others = append(others, more...)
	}
	if len(others) != 29 {
		t.Fatalf("%d streams of other users opened, want 29 (60 in all)", len(others))
	}
	last := d.client()
	d.login(last, "zed")
	full := openStream(t, d.srv.URL, last)
	if full.resp.StatusCode != http.StatusServiceUnavailable || full.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the instance's cap: %d Retry-After %q, want 503 with one", full.resp.StatusCode, full.resp.Header.Get("Retry-After"))
	}

	// Closing a stream frees its place, once the server has seen it go.
	held[0].cancel()
	err := testenv.Eventually(streamWait, 20*time.Millisecond, func() error {
		s := openStream(t, d.srv.URL, last)
		if s.resp.StatusCode != http.StatusOK {
			s.cancel()
			return fmt.Errorf("status %d", s.resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after a stream closed: %v", err)
	}
}
