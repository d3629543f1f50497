package main

// GET /api/events: a server-sent event stream for a logged-in user. It
// sends `event: tick` every 5 s with {"instance", "time"}, a comment
// heartbeat every 15 s, and `event: end` when the session ends (logout,
// revoke, log out everywhere, expiry), wherever that happened; then it
// closes. The demo page shows the ticks as a live line and goes to the
// login page on `end` (static/app.js).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stickless/stickless/session"
)

// sessionWatch gives a stream a channel that is closed when its session
// ends for any reason, on any instance, and stop, which releases the watch
// (tests swap in their own).
type sessionWatch func(ctx context.Context, s *session.Session) (done <-chan struct{}, stop func(), err error)

// libraryWatch is the library's session-end watch, [session.Session.Done]:
// one batched liveness check per instance and second for all the sessions
// its streams wait on, and an immediate end for a logout or revocation made
// on this instance. The watch ends with the request, so stop has nothing to
// release.
func libraryWatch(_ context.Context, s *session.Session) (<-chan struct{}, func(), error) {
	return s.Done(), func() {}, nil
}

// eventsConfig are the intervals of the stream; tests shorten them.
type eventsConfig struct {
	// Tick is how often the stream sends `event: tick`. default: 5 s.
	Tick time.Duration
	// Heartbeat is how often it sends a comment line. Its job is to keep
	// every proxy on the way from cutting the stream as idle, whatever the
	// application has to say: nginx's read timeout on /api/events is 60 s
	// (deploy/nginx.conf), and idle timeouts of common load balancers start
	// at 30 to 60 s, so 15 s leaves at least one missed beat of margin
	// everywhere. Each beat is also a write, which finds a client that went
	// away and frees the stream. default: 15 s.
	Heartbeat time.Duration
	// WriteTimeout bounds each write of the stream: a client that does not
	// take an event within it (its TCP window stays full) is dropped. The
	// deadline is set before every write, so the server's own WriteTimeout,
	// if any, never cuts a healthy stream. default: 10 s.
	WriteTimeout time.Duration
	// Retry is the reconnection delay that EventSource is told to use when
	// the stream closes without `end` (an instance shutting down). default: 2 s.
	Retry time.Duration

	// The caps on the streams that one instance holds at once (see
	// streamCaps). A stream past the cap of its session or its user gets
	// 429; past the instance's, 503 with Retry-After.
	// default: 10 per session, 30 per user, 4,096 per instance.
	MaxPerSession, MaxPerUser, MaxPerInstance int
}

func (c eventsConfig) withDefaults() eventsConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Tick, 5*time.Second)
	def(&c.Heartbeat, 15*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.Retry, 2*time.Second)
	for _, n := range []struct {
		p   *int
		def int
	}{{&c.MaxPerSession, 10}, {&c.MaxPerUser, 30}, {&c.MaxPerInstance, defaultMaxStreams}} {
		if *n.p <= 0 {
			*n.p = n.def
		}
	}
	return c
}

// defaultMaxStreams is the cap of streams per instance (-max-streams).
const defaultMaxStreams = 4096

// streamCaps counts the streams an instance holds, by session, by user and
// in all, against the caps of eventsConfig. Each stream holds a connection
// (two in nginx), a goroutine and its buffers: about 47 KiB of the
// instance's memory (make c10k-streams), so 4,096 streams take some
// 190 MiB. A person holds one stream per open tab of the home page, and
// the tabs of a browser share one session: 10 per session and 30 per user
// (several devices) are never met by a person, and stop one login from
// taking the instance's memory. The counts are per instance: behind nginx a
// session may hold this many on each instance, and nginx caps the streams
// it passes on (deploy/nginx.conf).
type streamCaps struct {
	mu        sync.Mutex
	bySession map[string]int
	byUser    map[string]int
	total     int
}

// acquire counts one more stream of session handle h and user, or returns
// the status that refuses it: 429 (a cap of the session or the user) or
// 503 (the instance's).
func (c *streamCaps) acquire(cfg eventsConfig, h, user string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= cfg.MaxPerInstance:
		return http.StatusServiceUnavailable
	case c.bySession[h] >= cfg.MaxPerSession, c.byUser[user] >= cfg.MaxPerUser:
		return http.StatusTooManyRequests
	}
	if c.bySession == nil {
		c.bySession, c.byUser = map[string]int{}, map[string]int{}
	}
	c.bySession[h]++
	c.byUser[user]++
	c.total++
	return 0
}

// release ends the count of one stream that acquire let through.
func (c *streamCaps) release(h, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dec := func(m map[string]int, k string) {
		if m[k]--; m[k] <= 0 {
			delete(m, k)
		}
	}
	dec(c.bySession, h)
	dec(c.byUser, user)
	c.total--
}

// streams is the state of an instance's event streams.
type streams struct {
	cfg      eventsConfig
	watch    sessionWatch
	closing  chan struct{} // closed by closeStreams
	closeOne sync.Once
	caps     streamCaps
}

func newStreams(cfg eventsConfig, watch sessionWatch) *streams {
	return &streams{cfg: cfg.withDefaults(), watch: watch, closing: make(chan struct{})}
}

// closeStreams ends every stream of the instance without `event: end`, so
// that the browsers reconnect (to another instance, through nginx) after
// the retry delay. Run registers it with http.Server.RegisterOnShutdown:
// Shutdown waits for idle connections, and a stream never is one.
func (a *app) closeStreams() {
	a.streams.closeOne.Do(func() { close(a.streams.closing) })
}

// The stream's fixed lines.
var (
	eventEnd  = []byte("event: end\ndata: {\"reason\":\"session ended\"}\n\n")
	heartbeat = []byte(": heartbeat\n\n")
)

// tickData is the data of `event: tick`.
type tickData struct {
	Instance string `json:"instance"`
	Time     string `json:"time"`
}

// events serves GET /api/events.
func (a *app) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := session.FromContext(ctx)
	if err := s.Load(ctx); err != nil {
		session.Error(w, r, err)
		return
	}
	user, handle := s.User(), s.Handle()
	if user == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
		return
	}
	cfg := a.streams.cfg
	switch a.streams.caps.acquire(cfg, handle, user) {
	case http.StatusTooManyRequests:
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf(
			"too many event streams: at most %d per session and %d per user on this instance; close a tab", cfg.MaxPerSession, cfg.MaxPerUser)})
		return
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int((cfg.Retry+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "this instance holds all the event streams it can; retry shortly"})
		return
	}
	defer a.streams.caps.release(handle, user)
	done, stop, err := a.streams.watch(ctx, s)
	if err != nil {
		session.Error(w, r, err)
		return
	}
	defer stop()

	// Each write gets its own deadline (below), which replaces the one the
	// server's WriteTimeout set for the whole answer. The server's
	// ReadTimeout needs nothing: net/http lifts the read deadline once the
	// request (it has no body) is read.
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Tells nginx not to buffer this answer even in a location without
	// proxy_buffering off.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	tick := func() error {
		data, _ := json.Marshal(tickData{Instance: a.instance, Time: time.Now().UTC().Format(time.RFC3339)})
		return write(append(append([]byte("event: tick\ndata: "), data...), '\n', '\n'))
	}
	// The retry delay, and a first tick at once so that the page's live
	// line shows without waiting.
	if write([]byte("retry: "+strconv.FormatInt(cfg.Retry.Milliseconds(), 10)+"\n\n")) != nil || tick() != nil {
		return
	}
	ticks := time.NewTicker(cfg.Tick)
	defer ticks.Stop()
	beats := time.NewTicker(cfg.Heartbeat)
	defer beats.Stop()
	for {
		var err error
		select {
		case <-done:
			write(eventEnd)
			return
		case <-ctx.Done(): // the client went away
			return
		case <-a.streams.closing:
			return
		case <-ticks.C:
			err = tick()
		case <-beats.C:
			err = write(heartbeat)
		}
		if err != nil {
			return
		}
	}
}
