package main

import (
	"context"
	"sync"
	"time"

	"github.com/stickless/stickless/session"
)

// pollInterval is how often the poller checks the watched sessions: a
// session that ends is noticed within this interval plus one round of
// checks, well inside the 3 s the page is given.
const pollInterval = time.Second

// pollWorkers bounds the store calls one round of checks runs at once.
const pollWorkers = 16

// poller is the demo's stand-in for the library's session-end watch
// (SEAM(issue 11) in events.go): it finds that a session ended by polling.
//
// How, and what it costs: one goroutine per instance, only while streams
// are open, checks every watched user once per pollInterval, however many
// streams that user has open here, with [session.Manager.Sessions]: the
// user's live sessions, read without sliding their idle deadline (so an
// open page does not keep an idle session alive), and a stream whose
// session is not among them ends. With redisstore that is one ZRANGE of
// the user's index plus one pipelined read-only script per session of the
// user: two round trips per watched user per second and per instance. That
// is linear in watched users, which is why the library's own watch is to
// replace it (batched or driven by the client-side cache's invalidations).
// When the store cannot answer, no stream is ended: a session is ended only
// when the store says so, and the next round asks again.
type poller struct {
	m        *session.Manager
	interval time.Duration

	mu      sync.Mutex
	users   map[string]map[*watched]struct{} // user -> open watches
	running bool                             // the loop goroutine runs
}

// watched is one open watch.
type watched struct {
	handle string
	done   chan struct{} // closed, under poller.mu, when the session ended
}

func newPoller(m *session.Manager, interval time.Duration) *poller {
	return &poller{m: m, interval: interval, users: map[string]map[*watched]struct{}{}}
}

// watch implements sessionWatch.
func (p *poller) watch(ctx context.Context, s *session.Session) (<-chan struct{}, func(), error) {
	user, handle := s.User(), s.Handle()
	if err := s.Err(); err != nil {
		return nil, nil, err
	}
	w := &watched{handle: handle, done: make(chan struct{})}
	if user == "" || handle == "" {
		close(w.done) // nothing to watch: ended already
		return w.done, func() {}, nil
	}
	p.mu.Lock()
	if p.users[user] == nil {
		p.users[user] = map[*watched]struct{}{}
	}
	p.users[user][w] = struct{}{}
	if !p.running {
		p.running = true
		go p.loop()
	}
	p.mu.Unlock()
	stop := func() {
		p.mu.Lock()
		p.removeLocked(user, w)
		p.mu.Unlock()
	}
	return w.done, stop, nil
}

func (p *poller) removeLocked(user string, w *watched) {
	ws := p.users[user]
	delete(ws, w)
	if len(ws) == 0 {
		delete(p.users, user)
	}
}

// loop runs one round of checks per interval until no watch is left.
func (p *poller) loop() {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		if len(p.users) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		users := make([]string, 0, len(p.users))
		for u := range p.users {
			users = append(users, u)
		}
		p.mu.Unlock()
		p.round(users)
	}
}

// round checks users with at most pollWorkers store calls at once.
func (p *poller) round(users []string) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(pollWorkers, len(users)) {
		wg.Go(func() {
			for u := range next {
				p.check(u)
			}
		})
	}
	for _, u := range users {
		next <- u
	}
	close(next)
	wg.Wait()
}

// check ends the watches of user whose session is no longer live.
func (p *poller) check(user string) {
	// The Manager bounds the call by its StoreTimeout too.
	ctx, cancel := context.WithTimeout(context.Background(), p.interval)
	defer cancel()
	list, err := p.m.Sessions(ctx, user)
	if err != nil {
		return // unknown is not ended: ask again next round
	}
	live := make(map[string]bool, len(list))
	for _, in := range list {
		live[in.Handle] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.users[user] {
		if !live[w.handle] {
			close(w.done)
			p.removeLocked(user, w)
		}
	}
}
